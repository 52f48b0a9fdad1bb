import type { JobError, JobStatus } from './event.ts';
import type { JsonValue } from './json.ts';
import type { JobKind } from './submit.ts';

/** Where a job's completion webhook stands (docs/api.md, "Webhooks"). */
export interface WebhookState {
  /** `gone`: the receiver answered 410 Gone, and no more attempts are made. */
  state: 'pending' | 'delivered' | 'failed' | 'refused' | 'gone';
  attempts: number;
  /** The receiver's last HTTP status, if it answered from a globally routable address. */
  lastStatus?: number;
}

/** GET /v1/jobs/{id}: the job's latest event, without its `ts`, and when it began and last moved. */
export interface JobSnapshot {
  jobId: string;
  kind?: JobKind;
  /** An external job's, as submitted. */
  title?: string;
  /** The job's metadata: what it was given at creation, with every event's patch merged in (RFC 7396). */
  metadata?: Record<string, unknown>;
  /** As submitted (a batch's job: the batch's, then its item's). */
  tags?: string[];
  /** When the job was submitted with a callbackUrl. */
  webhook?: WebhookState;
  status: JobStatus;
  progress: number;
  message: string;
  stage?: string;
  /** Only once `done`: any JSON value (a string stays a string). */
  result?: JsonValue;
  error?: JobError;
  /** The result as written so far, while the job runs and writes it (the fold of its deltas). */
  partial?: string;
  /** The job's named streams, each the fold of its deltas; kept after the job ends. */
  streams?: Record<string, string>;
  createdAt: number;
  updatedAt: number;
  /** The id of the job's latest event: a cursor for its stream. */
  lastEventId: string;
}

/** An item of GET /v1/jobs: the job's snapshot without the text being written. */
export type JobListItem = Omit<JobSnapshot, 'partial'>;

/** GET /v1/jobs: a page of the caller's jobs, newest first, and where the next one starts (null: none). */
export interface JobList {
  jobs: JobListItem[];
  nextCursor: string | null;
}
