import type { JobError, JobStatus } from './event.ts';

/** GET /v1/jobs/{id}: the job's latest event, without its `ts`, and when it began and last moved. */
export interface JobSnapshot {
  jobId: string;
  status: JobStatus;
  progress: number;
  message: string;
  stage?: string;
  result?: string;
  error?: JobError;
  /** The result as written so far, while the job runs and writes it (the fold of its deltas). */
  partial?: string;
  createdAt: number;
  updatedAt: number;
  /** The id of the job's latest event: a cursor for its stream. */
  lastEventId: string;
}
