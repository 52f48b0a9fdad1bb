import { useMemo } from 'react';
import { initialJob } from './job-state.ts';
import { applyToJobs, connectJobs } from './many-jobs.ts';
import type { HeraldHookOptions, JobState, JobsState, ParsedAsJson } from './types.ts';
import { useStream, type StreamKind } from './use-stream.ts';

const list: StreamKind<readonly string[], JobsState<unknown>, unknown> = {
  initial(jobIds, connection) {
    const jobs: Record<string, JobState<unknown>> = {};
    for (const jobId of jobIds ?? []) jobs[jobId] = initialJob(connection);
    return { jobs, error: null, connection, lastEventId: null };
  },
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
  async watch(client, jobIds, options, update, typed) {
    for await (const watched of client.watchJobs(jobIds, options)) {
      update((state, draft) => ({
        ...state,
        jobs: applyToJobs(state.jobs, watched, state.connection, typed(), draft),
        lastEventId: watched.id,
      }));
    }
  },
};

/**
 * Watches several jobs on one connection (GET /v1/events?jobs=…, at most the server's
 * MAX_JOBS_PER_STREAM) while the component is mounted: `jobs`, each job as `useJob` would show
 * it, by id, in the list's order (a repeated id once), every one there from the start. The list
 * is compared by value: the same ids in a new array keep the stream; another list reopens it.
 * `lastEventId` is the stream's composite cursor. An empty list (or null) opens nothing.
 */
export function useJobs<Result = unknown>(jobIds: readonly string[] | null, options: ParsedAsJson<Result>): JobsState<Result>;
export function useJobs<Result = string>(jobIds: readonly string[] | null, options: HeraldHookOptions<Result>): JobsState<Result>;
export function useJobs<Result>(jobIds: readonly string[] | null, options: HeraldHookOptions<Result>): JobsState<Result> {
  const keyId = jobIds === null || jobIds.length === 0 ? null : JSON.stringify([...new Set(jobIds)]);
  // One array per list of ids, kept while the ids are the same.
  const ids = useMemo(() => (keyId === null ? null : (JSON.parse(keyId) as string[])), [keyId]);
  return useStream(ids, keyId, options, list as StreamKind<readonly string[], JobsState<Result>, Result>);
}
