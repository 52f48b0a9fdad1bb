import type { EventPublisher, SummarizeJobData } from '@herald/shared';
import { SummarizerError } from '../summarizer/errors.ts';
import type { Step, Summarizer } from '../summarizer/index.ts';
import type { CancellationWatcher } from './cancellation.ts';
import { RunEvents } from './run-events.ts';

export interface SummarizeJobDeps {
  readonly publisher: EventPublisher;
  readonly summarizer: Summarizer;
  readonly cancellation: CancellationWatcher;
  /** STREAM_FLUSH_MS: the summary being written goes out at most this often. */
  readonly flushMs: number;
}

export interface SummarizeJobRun {
  readonly jobId: string;
  readonly data: SummarizeJobData;
  /** 1 for the first run; retries (after a failure or a stalled worker) count up. */
  readonly attempt: number;
  readonly attempts: number;
}

/** Thrown to stop a run whose job someone cancelled, or that ended elsewhere. */
class RunStopped extends Error {}

/**
 * One run of a summarize job: `received`, then the summarizer's own steps and text (each an
 * event), then `done` with the summary — exactly the text written, when it was written as it
 * went. A cancel (or the job ending elsewhere) aborts the run's signal at once, which stops the
 * summarizer mid-step or mid-answer; it is also checked between steps. Failures propagate so
 * BullMQ retries; the caller reports the last one. Resolves to the terminal status this run
 * wrote, or null when the job had already ended.
 */
export async function runSummarizeJob(run: SummarizeJobRun, deps: SummarizeJobDeps): Promise<'done' | 'cancelled' | null> {
  const { jobId, data } = run;
  const { publisher, cancellation } = deps;
  const tracked = cancellation.track(jobId);
  const stop = new AbortController();
  const onCancel = (): void => stop.abort(new RunStopped());
  tracked.signal.addEventListener('abort', onCancel, { once: true });
  const events = new RunEvents(
    (update, partial) => publisher.publish(jobId, update, partial),
    deps.flushMs,
    () => stop.abort(new RunStopped()),
  );
  const retryNote = run.attempt > 1 ? ` (attempt ${run.attempt} of ${run.attempts})` : '';

  const checkpoint = async (): Promise<void> => {
    if (stop.signal.aborted || events.jobEnded || (await cancellation.requested(jobId))) throw new RunStopped();
  };
  const step = async (next: Step): Promise<void> => {
    await checkpoint();
    await events.step(next);
    if (events.jobEnded) throw new RunStopped();
  };

  try {
    await step({ stage: 'received', progress: 10, message: `Received ${data.text.length} characters${retryNote}` });
    const returned = await deps.summarizer.summarize({
      text: data.text,
      maxSentences: data.maxSentences,
      signal: stop.signal,
      step,
      write: (delta, progress) => events.write(delta, progress),
      restart: () => events.restart(),
    });
    await events.flush();
    await checkpoint();
    // What watchers folded is the result: the written text, when there is one.
    const summary = events.wrote ? events.text : returned;
    if (summary.trim() === '') throw new SummarizerError('empty_summary', 'The summarizer produced an empty summary', true);
    const done = await publisher.publish(jobId, {
      status: 'done',
      stage: 'done',
      progress: 100,
      message: 'Summary ready',
      result: summary,
    });
    return done ? 'done' : null;
  } catch (error) {
    // Whatever the summarizer threw on its way out of an aborted run (an AbortError, the model
    // client's abort error) means the same: the run was stopped.
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
