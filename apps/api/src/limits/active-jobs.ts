import { isTerminal } from '@herald/contract';
import { activeJobsScript, keys, type Config, type RedisClient } from '@herald/shared';
import { redisCall } from '../http/deadline.ts';
import { payloadTooLarge, rateLimited } from '../http/errors.ts';

/** Gives back what an admission took (a submission whose creation failed). */
export type ReleaseJobs = () => Promise<void>;

const NOTHING: ReleaseJobs = async () => {};
/** A key at its limit is pruned at most this often. */
const PRUNE_EVERY_SECONDS = 60;
/** Jobs admitted less than this long ago are never pruned: their first event may not be written yet. */
const PRUNE_GRACE_MS = 60_000;
/** Snapshots read at once while pruning. */
const PRUNE_BATCH = 500;

/**
 * MAX_ACTIVE_JOBS_PER_KEY: the jobs one API key may have that have not ended, all replicas
 * together (active-jobs-1.lua in @herald/shared; a job leaves the set when it ends, through
 * every process's EventPublisher). Auth on only: with auth off there is no key to count by.
 *
 * The release at a job's end is a command of its own, apart from the end (another Cluster slot),
 * so a process that dies in between leaks a place. Leaks are mended here: a key found at its
 * limit has its set pruned of jobs that have ended or expired (at most once a minute per key),
 * then is asked again.
 */
export class ActiveJobs {
  readonly #redis: RedisClient;
  readonly #limit: number;
  readonly #onRefused: () => void;

  constructor(redis: RedisClient, limit: number, onRefused: () => void = () => {}) {
    this.#redis = redis;
    this.#limit = limit;
    this.#onRefused = onRefused;
  }

  static fromConfig(redis: RedisClient, config: Config, onRefused?: () => void): ActiveJobs {
    return new ActiveJobs(redis, config.MAX_ACTIVE_JOBS_PER_KEY, onRefused);
  }

  /**
   * Admits a submission's jobs for `keyId` (null: auth off, not counted), all or none, resolving
   * to their release should the creation fail. More jobs than the limit can never fit (413);
   * past the limit, a 429 without Retry-After: when jobs end is not Herald's to know.
   */
  async admit(keyId: string | null, jobIds: readonly string[]): Promise<ReleaseJobs> {
    if (keyId === null || this.#limit === 0) return NOTHING;
    if (jobIds.length > this.#limit) {
      this.#onRefused();
      const message = `A batch of ${jobIds.length} items can never be accepted: it is larger than MAX_ACTIVE_JOBS_PER_KEY (${this.#limit})`;
      throw payloadTooLarge(message, [{ path: 'items', message }]);
    }
    let reply = await redisCall(activeJobsScript(this.#redis, keyId, this.#limit, jobIds));
    if (!reply.admitted && (await this.#prune(keyId)) > 0) {
      reply = await redisCall(activeJobsScript(this.#redis, keyId, this.#limit, jobIds));
    }
    if (!reply.admitted) {
      this.#onRefused();
      throw rateLimited(
        `This API key has ${reply.held} jobs that have not ended (MAX_ACTIVE_JOBS_PER_KEY: ${this.#limit}); submit more once some have ended`,
        null,
      );
    }
    return () => this.#release(keyId, jobIds);
  }

  async #release(keyId: string, jobIds: readonly string[]): Promise<void> {
    await redisCall(this.#redis.zrem(keys.activeJobs(keyId), ...jobIds));
  }

  /** Removes the key's jobs that have ended or expired (not those just admitted); how many. */
  async #prune(keyId: string): Promise<number> {
    const redis = this.#redis;
    const first = await redisCall(redis.set(keys.activeJobsPruned(keyId), '1', 'EX', PRUNE_EVERY_SECONDS, 'NX'));
    if (first !== 'OK') return 0;
    const [seconds, micros] = await redisCall(redis.time());
    const before = Number(seconds) * 1000 + Math.floor(Number(micros) / 1000) - PRUNE_GRACE_MS;
    const jobIds = await redisCall(redis.zrangebyscore(keys.activeJobs(keyId), '-inf', before));
    let pruned = 0;
    for (let at = 0; at < jobIds.length; at += PRUNE_BATCH) {
      const slice = jobIds.slice(at, at + PRUNE_BATCH);
      // One command per job: on a Cluster their snapshots are in as many slots.
      const statuses = await redisCall(Promise.all(slice.map((jobId) => redis.hget(keys.snapshot(jobId), 'status'))));
      const ended = slice.filter((_, i) => statuses[i] === null || isTerminal(statuses[i]!));
      if (ended.length > 0) pruned += await redisCall(redis.zrem(keys.activeJobs(keyId), ...ended));
    }
    return pruned;
  }
}
