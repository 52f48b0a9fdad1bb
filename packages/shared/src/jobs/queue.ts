import type { Config } from '../config.ts';
import { redisOptions, type ConnectionRole } from '../redis/connection.ts';
import { QUEUE_NAME, QUEUE_PREFIX } from '../redis/keys.ts';

export { QUEUE_NAME };

/** What a queued BullMQ job carries; the job's id is the Herald job id. */
export interface SummarizeJobData {
  readonly text: string;
  readonly maxSentences: number;
}

/**
 * BullMQ connection settings. BullMQ gets options, not our ioredis instances, so it owns (and
 * closes) its connections; a process would otherwise hang after close().
 */
export function bullConnection(config: Config, role: ConnectionRole) {
  const { retryStrategy, ...rest } = redisOptions(role);
  return { url: config.REDIS_URL, ...rest, retryStrategy: (attempt: number) => retryStrategy?.(attempt) ?? null };
}

export const queuePrefix = QUEUE_PREFIX;

/** Options every summarize job is added with: retries, backoff, and retention of the entry. */
export function summarizeJobOptions(config: Config, jobId: string) {
  return {
    jobId,
    attempts: config.JOB_ATTEMPTS,
    backoff: { type: 'exponential' as const, delay: config.JOB_BACKOFF_MS },
    removeOnComplete: { age: config.JOB_TTL_SECONDS },
    removeOnFail: { age: config.JOB_TTL_SECONDS },
  };
}
