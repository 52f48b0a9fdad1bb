import { createHash } from 'node:crypto';
import { keys, type RedisClient } from '@herald/shared';

export type IdempotencyClaim =
  | { readonly kind: 'new' }
  | { readonly kind: 'replay'; readonly jobId: string }
  | { readonly kind: 'conflict' };

const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex');

/**
 * Idempotency-Key: the first request with a key claims it for its job (SET NX, kept as long as
 * the job); a repeat with the same body gets that job back, with another body a conflict.
 */
export class IdempotencyStore {
  readonly #redis: RedisClient;
  readonly #ttlSeconds: number;

  constructor(redis: RedisClient, ttlSeconds: number) {
    this.#redis = redis;
    this.#ttlSeconds = ttlSeconds;
  }

  /** `owner`: the submitting key's id (null with auth off); each owner has its own Idempotency-Keys. */
  async claim(owner: string | null, key: string, body: unknown, jobId: string): Promise<IdempotencyClaim> {
    const redisKey = keys.idempotency(owner, sha256(key));
    const bodyHash = sha256(JSON.stringify(body));
    const set = await this.#redis.set(redisKey, `${jobId} ${bodyHash}`, 'EX', this.#ttlSeconds, 'NX');
    if (set === 'OK') return { kind: 'new' };
    const existing = await this.#redis.get(redisKey);
    if (existing === null) return this.claim(owner, key, body, jobId); // expired in between
    const [claimedJob = '', claimedHash] = existing.split(' ');
    return claimedHash === bodyHash ? { kind: 'replay', jobId: claimedJob } : { kind: 'conflict' };
  }

  async release(owner: string | null, key: string): Promise<void> {
    await this.#redis.del(keys.idempotency(owner, sha256(key)));
  }
}
