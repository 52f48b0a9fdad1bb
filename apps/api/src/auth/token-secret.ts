import { randomBytes } from 'node:crypto';
import { TOKEN_SECRET_KEY, type RedisClient } from '@herald/shared';
import { redisCall } from '../http/deadline.ts';

/**
 * The secret publish tokens are signed with: WATCH_TOKEN_SECRET when it is set (auth on), else
 * one made by the first replica to need it and kept in Redis, so every replica signs alike
 * without any setting (publish tokens exist with auth off too). Whoever reads Redis could forge
 * tokens with it — as they could write any event anyway (docs/security.md). Read once, then kept.
 */
export function tokenSecret(configured: string | undefined, redis: RedisClient): () => Promise<string> {
  if (configured !== undefined) return async () => configured;
  let secret: Promise<string> | undefined;
  return () => {
    secret ??= (async () => {
      await redisCall(redis.set(TOKEN_SECRET_KEY, randomBytes(32).toString('base64url'), 'NX'));
      const stored = await redisCall(redis.get(TOKEN_SECRET_KEY));
      if (stored === null) throw new Error('the token secret vanished from Redis');
      return stored;
    })().catch((error: unknown) => {
      secret = undefined; // Redis was away (503): try again next time
      throw error;
    });
    return secret;
  };
}
