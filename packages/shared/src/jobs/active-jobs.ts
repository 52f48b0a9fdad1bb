import type { RedisClient } from '../redis/connection.ts';
import { JOB_FIELDS } from '../events/reader.ts';
import { keys } from '../redis/keys.ts';

/**
 * Gives an ended job's place back in its owner's jobs not ended (MAX_ACTIVE_JOBS_PER_KEY; the
 * set scripts/active-jobs-1.lua admits into): EventPublisher's `onJobEnded`, in every process
 * that publishes, so the place is freed whoever ended the job. Two commands in two Cluster slots
 * (the owner is in the job's snapshot): a crash between the end and here leaks the place, which
 * the API's pruning mends (apps/api limits/active-jobs.ts). A job without an owner (auth off)
 * holds none.
 */
export async function releaseActiveJob(redis: RedisClient, jobId: string): Promise<void> {
  const owner = await redis.hget(keys.snapshot(jobId), JOB_FIELDS.owner);
  if (owner !== null) await redis.zrem(keys.activeJobs(owner), jobId);
}
