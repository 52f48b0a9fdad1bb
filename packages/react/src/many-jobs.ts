import type { HeraldError } from '@herald/client';
import type { WatchedEvent } from '@herald/client';
import { applyJobEvent, initialJob, withConnection } from './job-state.ts';
import type { Connection, JobState, JobStates, Typed } from './types.ts';
import type { Draft } from './use-stream.ts';

// The jobs of a stream that carries several (a batch's, a list's): one record by id, changed in
// place until React has it (see Draft), so an event of one job of a thousand copies nothing per event.

type Jobs<Result> = Record<string, JobState<Result>>;

/** The record with one job's event applied; a job not seen yet is added at the end. */
export function applyToJobs<Result>(
  jobs: JobStates<Result>,
  update: WatchedEvent,
  connection: Connection,
  typed: Typed<Result> | undefined,
  draft: Draft,
): JobStates<Result> {
  const jobId = update.event.jobId;
  const mine = draft.owns(jobs) ? (jobs as Jobs<Result>) : draft.adopt({ ...jobs });
  mine[jobId] = applyJobEvent(mine[jobId] ?? initialJob(connection), update, connection, typed);
  return mine;
}

/** Every job with the stream's new connection state (an ended job stays `ended`). */
export function connectJobs<Result>(jobs: JobStates<Result>, connection: Connection, error?: HeraldError): JobStates<Result> {
  const connected: Jobs<Result> = {};
  for (const [jobId, job] of Object.entries(jobs)) connected[jobId] = withConnection(job, connection, error);
  return connected;
}
