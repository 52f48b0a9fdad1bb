// The only module that knows Redis key names. Every key of one job shares the `{jobId}` hash tag
// so the publish script (which touches several of them) runs on one Redis Cluster slot, and the
// BullMQ prefix is hash-tagged so the queue's keys live together too.

export const QUEUE_NAME = 'summarize';
export const QUEUE_PREFIX = '{herald}';

const jobKey = (jobId: string, part: string): string => `herald:{${jobId}}:${part}`;

export const keys = {
  /** Stream: the job's durable, ordered event log. Entry ids are the SSE event ids. */
  events: (jobId: string): string => jobKey(jobId, 'events'),
  /** Hash: the job's latest state, for GET /v1/jobs/{id} and the publish script's guards. */
  snapshot: (jobId: string): string => jobKey(jobId, 'snapshot'),
  /** String: set when someone asked to cancel the job; workers check it between stages. */
  cancel: (jobId: string): string => jobKey(jobId, 'cancel'),
  /** String: Idempotency-Key → "jobId bodyHash". */
  idempotency: (keyHash: string): string => `herald:idem:${keyHash}`,
} as const;

export const channels = {
  /** Pub/sub wake-up for one job's watchers; messages are encoded by events/wire.ts. */
  events: (jobId: string): string => jobKey(jobId, 'live'),
  /** Pub/sub notice to every worker that a job should stop; the message is the job id. */
  cancel: 'herald:cancel',
} as const;
