import { isTerminal, type BatchSnapshot, type WatchedBatchEvent } from '@herald/client';
import { initialJob } from './job-state.ts';
import { applyToJobs, connectJobs } from './many-jobs.ts';
import type { BatchState, Connection, HeraldHookOptions, JobState, ParsedAsJson } from './types.ts';
import { useStream, type StreamKind } from './use-stream.ts';

const NO_COUNTS: BatchState['counts'] = { queued: 0, processing: 0, done: 0, error: 0, cancelled: 0 };

const batch: StreamKind<string, BatchState<unknown>, unknown> = {
  initial: (_batchId, connection) => ({
    status: null,
    progress: 0,
    counts: NO_COUNTS,
    jobs: {},
    error: null,
    connection,
    lastEventId: null,
  }),
  connect(state, connection, error) {
    if (state.connection === connection && error === undefined) return state;
    // The watch's own error holds while it is failed; a reopened stream (a new token) clears it.
    return {
      ...state,
      connection,
      error: connection === 'failed' ? (error ?? state.error) : null,
      jobs: connectJobs(state.jobs, connection, error),
    };
  },
  async watch(client, batchId, options, update, typed) {
    for await (const item of client.watchBatch(batchId, options)) {
      if (item.kind === 'job') {
        update((state, draft) => ({
          ...state,
          jobs: applyToJobs(state.jobs, item, state.connection, typed(), draft),
          lastEventId: item.id,
        }));
      } else {
        update((state) => applyBatchEvent(state, item));
      }
    }
  },
};

/**
 * The batch's own event: its status, progress and counts. A resync (a cursor the history no
 * longer serves) carries the batch's snapshot, each job's status and progress: the jobs are
 * then the snapshot's, in its order, each keeping the text it had.
 */
function applyBatchEvent<Result>(state: BatchState<Result>, item: Extract<WatchedBatchEvent, { kind: 'batch' }>): BatchState<Result> {
  const { event } = item;
  const next = { ...state, status: event.status, progress: event.progress, counts: event.counts, lastEventId: item.id };
  if (!item.resync) return next;
  const jobs: Record<string, JobState<Result>> = {};
  for (const { jobId, status, progress } of (event as BatchSnapshot).jobs) {
    const had = state.jobs[jobId] ?? initialJob<Result>(state.connection);
    const connection: Connection = isTerminal(status) ? 'ended' : state.connection;
    jobs[jobId] = { ...had, status, progress, connection, lastEventId: item.id };
  }
  return { ...next, jobs };
}

/**
 * Watches a batch (GET /v1/batches/{id}/events: one stream for the batch and all its jobs)
 * while the component is mounted: the batch's status, progress and counts, and `jobs`, each job
 * as `useJob` would show it, by job id, in the order their first events came. `connection` is
 * `ended` after the batch's own end. `batchId` null opens nothing.
 */
export function useBatch<Result = unknown>(batchId: string | null, options: ParsedAsJson<Result>): BatchState<Result>;
export function useBatch<Result = string>(batchId: string | null, options: HeraldHookOptions<Result>): BatchState<Result>;
export function useBatch<Result>(batchId: string | null, options: HeraldHookOptions<Result>): BatchState<Result> {
  return useStream(batchId, batchId, options, batch as StreamKind<string, BatchState<Result>, Result>);
}
