import { setTimeout as sleep } from 'node:timers/promises';
import type { ProgressUpdate } from '@herald/contract';
import type { EventPublisher, SummarizeJobData } from '@herald/shared';
import type { Summarizer } from '../summarizer/index.ts';
import type { CancellationWatcher } from './cancellation.ts';

export interface SummarizeJobDeps {
  readonly publisher: EventPublisher;
  readonly summarizer: Summarizer;
  readonly cancellation: CancellationWatcher;
  readonly stageDelayMs: number;
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
 * One run of a summarize job: its stages (docs/api.md), each published as an event, paced by
 * STAGE_DELAY_MS so a person can watch. Cancellation is checked between stages and aborts
 * the pause at once. Failures propagate so BullMQ retries; the caller reports the last one.
 * Resolves to the terminal status this run wrote, or null when the job had already ended.
 */
export async function runSummarizeJob(run: SummarizeJobRun, deps: SummarizeJobDeps): Promise<'done' | 'cancelled' | null> {
  const { jobId, data } = run;
  const { publisher, cancellation } = deps;
  const tracked = cancellation.track(jobId);
  const retryNote = run.attempt > 1 ? ` (attempt ${run.attempt} of ${run.attempts})` : '';

  const checkpoint = async (): Promise<void> => {
    if (tracked.signal.aborted || (await cancellation.requested(jobId))) throw new RunStopped();
  };
  const stage = async (update: ProgressUpdate): Promise<void> => {
    await checkpoint();
    if ((await publisher.publish(jobId, update)) === null) throw new RunStopped();
    if (deps.stageDelayMs > 0) {
      await sleep(deps.stageDelayMs, undefined, { signal: tracked.signal }).catch(() => {
        throw new RunStopped();
      });
    }
  };

  try {
    await stage({
      status: 'processing',
      stage: 'received',
      progress: 10,
      message: `Received ${data.text.length} characters${retryNote}`,
    });
    const summary = await deps.summarizer.summarize(data.text, { maxSentences: data.maxSentences });
    await stage({
      status: 'processing',
      stage: 'analyzing',
      progress: 30,
      message: `Analyzing ${summary.sentenceCount} sentence${summary.sentenceCount === 1 ? '' : 's'}`,
    });
    await stage({
      status: 'processing',
      stage: 'summarizing',
      progress: 70,
      message: `Picking the ${summary.selected} most important sentence${summary.selected === 1 ? '' : 's'}`,
    });
    await stage({ status: 'processing', stage: 'polishing', progress: 95, message: 'Polishing the summary' });
    await checkpoint();
    const done = await publisher.publish(jobId, {
      status: 'done',
      stage: 'done',
      progress: 100,
      message: 'Summary ready',
      result: summary.text,
    });
    return done ? 'done' : null;
  } catch (error) {
    if (!(error instanceof RunStopped)) throw error;
    // Cancelled, or the job already ended (e.g. cancelled while queued): the guard in the
    // publish script makes this a no-op in the second case.
    const cancelled = await publisher.publish(jobId, { status: 'cancelled', progress: 0, message: 'Cancelled' });
    return cancelled ? 'cancelled' : null;
  } finally {
    tracked.release();
  }
}
