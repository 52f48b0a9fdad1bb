/**
 * Redis did not answer: down, unreachable, too slow, or not serving yet. The API answers it with
 * `503 redis_unavailable` + Retry-After, whatever the command was.
 */
export class RedisUnavailableError extends Error {
  override readonly name = 'RedisUnavailableError';
  readonly code = 'ERR_HERALD_REDIS_UNAVAILABLE';
}

/**
 * Error replies by which Redis says "not now" rather than "wrong": loading its data, a replica
 * that cannot take writes, a master or cluster that is down, a slot in migration, a busy script.
 * An error reply's first word is its code (RESP).
 */
const NOT_NOW = new Set(['LOADING', 'READONLY', 'MASTERDOWN', 'CLUSTERDOWN', 'TRYAGAIN', 'BUSY']);

/** JavaScript's own errors: a bug in the code around the call, never Redis's state. */
const isBug = (error: Error): boolean =>
  error instanceof TypeError || error instanceof RangeError || error instanceof SyntaxError || error instanceof ReferenceError;

/**
 * What a failed Redis round trip means, as a type. ioredis rejects a command for which no reply
 * came (offline, connection closed, retries spent, command timed out) with plain errors that
 * only differ by message, so the distinction is made by what did answer: an error reply from
 * Redis (a ReplyError, known by name: BullMQ may load its own copy of ioredis) is a real error
 * unless its code says "not now"; a failure before any reply is Redis being unavailable. Only for promises of Redis commands (or of
 * BullMQ's, which are Redis commands): anything else would be mislabelled.
 */
export function asRedisFailure(error: unknown): unknown {
  if (!(error instanceof Error) || error instanceof RedisUnavailableError || isBug(error)) return error;
  const replied = error.name === 'ReplyError';
  if (replied && !NOT_NOW.has(error.message.split(' ', 1)[0]!)) return error;
  return new RedisUnavailableError('Redis did not answer', { cause: error });
}
