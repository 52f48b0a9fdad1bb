import type { JobError, JobStatus } from './event.ts';
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
  /** When the job was submitted with a callbackUrl. */
  webhook?: WebhookState;
  status: JobStatus;
  progress: number;
  message: string;
  stage?: string;
  result?: string;
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
