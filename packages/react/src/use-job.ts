import type { HeraldHookOptions, JobState, ParsedAsJson } from './types.ts';
import { applyJobEvent, initialJob, withConnection } from './job-state.ts';
import { useStream, type StreamKind } from './use-stream.ts';

const job: StreamKind<string, JobState<unknown>, unknown> = {
  initial: (_jobId, connection) => initialJob(connection),
  connect: withConnection,
  async watch(client, jobId, options, update, typed) {
    for await (const watched of client.watch(jobId, options)) {
      update((state) => applyJobEvent(state, watched, state.connection, typed()));
    }
  },
};

/**
 * Watches one job (GET /v1/jobs/{id}/events, through @herald/client's resuming watch) while the
 * component is mounted: its status, progress, stage, message, text so far and result, and where
 * its stream stands. `jobId` null opens nothing (`connection: 'idle'`); a new `jobId` closes the
 * stream and opens the new job's.
 */
export function useJob<Result = unknown>(jobId: string | null, options: ParsedAsJson<Result>): JobState<Result>;
export function useJob<Result = string>(jobId: string | null, options: HeraldHookOptions<Result>): JobState<Result>;
export function useJob<Result>(jobId: string | null, options: HeraldHookOptions<Result>): JobState<Result> {
  return useStream(jobId, jobId, options, job as StreamKind<string, JobState<Result>, Result>);
}
