import type { ConnectionOptions } from 'bullmq';
import { Cluster } from 'ioredis';
import type { Config } from '../config.ts';
import { clusterOptions, redisTarget, singleOptions, type ConnectionRole, type RedisSettings } from '../redis/connection.ts';
import { QUEUE_NAME, QUEUE_PREFIX } from '../redis/keys.ts';

export { QUEUE_NAME };

/** What a queued BullMQ job carries; the job's id is the Herald job id. */
export interface SummarizeJobData {
  readonly text: string;
  readonly maxSentences: number;
}

/**
 * BullMQ's connection for a queue or a worker. On one Redis or behind Sentinel: options, so
 * BullMQ owns (and closes) its connections — a process would otherwise hang after close(). On a
 * Cluster BullMQ needs a Cluster instance; whoever made it closes it with releaseBullConnection
 * once the queue or worker is closed. (The `{herald}` prefix keeps a queue's keys in one slot.)
 */
export function bullConnection(settings: RedisSettings, role: ConnectionRole): ConnectionOptions {
  const target = redisTarget(settings);
  const options = { ...role, whileDown: 'wait' as const };
  if (target.mode === 'cluster')
    return new Cluster(
      target.nodes.map((node) => ({ ...node })),
      clusterOptions(settings, options),
    );
  const { retryStrategy, ...rest } = singleOptions(settings, options);
  return { ...rest, retryStrategy: (attempt: number) => retryStrategy?.(attempt) ?? null };
}

/** Closes a connection bullConnection made as an instance (a Cluster's); options need nothing. */
export function releaseBullConnection(connection: ConnectionOptions): void {
  if ((connection as unknown) instanceof Cluster) (connection as unknown as Cluster).disconnect();
}

export const queuePrefix = QUEUE_PREFIX;

/**
 * The BullMQ queue a kind's jobs wait on: the kind's own name (summarize's is QUEUE_NAME), so a
 * worker that runs some kinds takes only their jobs, and no table maps kinds to queues. Each
 * queue's keys are under QUEUE_PREFIX's hash tag, in one Cluster slot with the others.
 */
export const kindQueueName = (kind: string): string => kind;

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
