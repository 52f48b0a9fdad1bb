import type { JsonValue } from '@herald/contract';
import type { EventPublisher, Logger } from '@herald/shared';
import type { CancellationWatcher } from './cancellation.ts';
import { failureCodes } from './failure.ts';
import { JobError } from './job-error.ts';
import type { JobKind, Step } from './kind.ts';
import { RunEvents } from './run-events.ts';

export interface RunJobDeps {
  readonly publisher: EventPublisher;
  readonly cancellation: CancellationWatcher;
  /** STREAM_FLUSH_MS: the result being written goes out at most this often. */
  readonly flushMs: number;
}

export interface JobRun<Input> {
  readonly jobId: string;
  readonly kind: JobKind<Input>;
  readonly input: Input;
  /** 1 for the first run; retries (after a failure or a stalled worker) count up. */
  readonly attempt: number;
  readonly attempts: number;
  /** The job's logger (its id and attempt), handed to the kind. */
  readonly logger: Logger;
}

/** Thrown to stop a run whose job someone cancelled, or that ended elsewhere. */
class RunStopped extends Error {}

/**
 * One run of a job of any kind: the kind's steps and text (each an event), then `done` with the
 * result — exactly the text written, when it was written as it went. A cancel (or the job ending
 * elsewhere) aborts the run's signal at once, which stops the kind mid-step or mid-answer; it is
 * also checked between steps. Failures propagate so BullMQ retries; the caller reports the last
 * one. Resolves to the terminal status this run wrote, or null when the job had already ended.
 */
export async function runJob<Input>(run: JobRun<Input>, deps: RunJobDeps): Promise<'done' | 'cancelled' | null> {
  const { jobId } = run;
  const { publisher, cancellation } = deps;
  const tracked = cancellation.track(jobId);
  const stop = new AbortController();
  const onCancel = (): void => stop.abort(new RunStopped());
  tracked.signal.addEventListener('abort', onCancel, { once: true });
  const events = new RunEvents(
    (update) => publisher.publish(jobId, update),
    deps.flushMs,
    () => stop.abort(new RunStopped()),
    run.kind.writingMessage,
  );

  const checkpoint = async (): Promise<void> => {
    if (stop.signal.aborted || events.jobEnded || (await cancellation.requested(jobId))) throw new RunStopped();
  };
  const step = async (next: Step): Promise<void> => {
    await checkpoint();
    await events.step(next);
    if (events.jobEnded) throw new RunStopped();
  };

  try {
    await checkpoint();
    const returned = await run.kind.run(run.input, {
      jobId,
      attempt: run.attempt,
      attempts: run.attempts,
      signal: stop.signal,
      logger: run.logger,
      step,
      write: events.write,
      restart: events.restart,
      metadata: events.metadata,
      stream: events.stream,
    });
    await events.flush();
    await checkpoint();
    // A text result is what watchers folded: the written text, when there is one. Any other
    // JSON value is the result itself (the text written stays the answer watchers read).
    const result = typeof returned === 'string' && events.wrote ? events.text : (returned as JsonValue | undefined);
    if (result === undefined || (typeof result === 'string' && result.trim() === '')) {
      throw new JobError(failureCodes(run.kind).empty, 'The job produced an empty result', true);
    }
    const done = await publisher.publish(jobId, {
      status: 'done',
      stage: 'done',
      progress: 100,
      message: run.kind.doneMessage ?? 'Done',
      result,
    });
    return done ? 'done' : null;
  } catch (error) {
    // Whatever the kind threw on its way out of an aborted run (an AbortError, the model client's
    // abort error) means the same: the run was stopped.
    if (!(error instanceof RunStopped) && !stop.signal.aborted) throw error;
    // Cancelled, or the job already ended (e.g. cancelled while queued): the guard in the
    // publish script makes this a no-op in the second case.
    const cancelled = await publisher.publish(jobId, { status: 'cancelled', progress: 0, message: 'Cancelled' });
    return cancelled ? 'cancelled' : null;
  } finally {
    events.close();
    tracked.signal.removeEventListener('abort', onCancel);
    tracked.release();
  }
}
