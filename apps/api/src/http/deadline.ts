import { RedisUnavailableError, asRedisFailure } from '@herald/shared';

/** How long a request waits for any one Redis round trip before it is answered 503. */
export const REDIS_DEADLINE_MS = 2000;
/** /readyz answers sooner: a probe must not queue up behind a slow Redis. */
export const PROBE_DEADLINE_MS = 1000;

/**
 * A Redis (or BullMQ) round trip made for an HTTP request: the one place requests get their
 * deadline and the one place a failure becomes "Redis is unavailable". It settles within `ms`;
 * a failure that means Redis did not answer (offline, connection closed, no reply in time,
 * LOADING…) becomes a RedisUnavailableError, which every route answers with 503 (errors.ts).
 * Pass Redis work only: other failures would be mislabelled.
 */
export async function redisCall<T>(work: Promise<T>, ms = REDIS_DEADLINE_MS): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new RedisUnavailableError(`Redis did not answer within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([work, deadline]);
  } catch (error) {
    throw asRedisFailure(error);
  } finally {
    clearTimeout(timer);
  }
}
