/**
 * Redis did not answer: down, unreachable, too slow, or not serving yet. The API answers it with
 * `503 redis_unavailable` + Retry-After, whatever the command was.
 */
export class RedisUnavailableError extends Error {
  override readonly name: string = 'RedisUnavailableError';
  readonly code: string = 'ERR_HERALD_REDIS_UNAVAILABLE';
}

/**
 * Redis is at its `maxmemory` and refuses writes (policy `noeviction`: `OOM command not allowed
 * …`). Also "not now", until memory is freed (jobs expire, an operator raises the limit), so it
 * is a kind of unavailable; the API answers it with `503 redis_out_of_memory` + Retry-After.
 * Reads and DEL still work: what a failed submission wrote is removed (docs/api.md, "Redis").
 */
export class RedisOutOfMemoryError extends RedisUnavailableError {
  override readonly name: string = 'RedisOutOfMemoryError';
  override readonly code: string = 'ERR_HERALD_REDIS_OUT_OF_MEMORY';
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
  if (replied && isOutOfMemory(error)) return new RedisOutOfMemoryError('Redis is out of memory', { cause: error });
  if (replied && !NOT_NOW.has(replyCode(error))) return error;
  return new RedisUnavailableError('Redis did not answer', { cause: error });
}

const replyCode = (error: Error): string => error.message.split(' ', 1)[0]!;

/**
 * An OOM reply, to a command or to a script's first write; or a MULTI that Redis discarded
 * (EXECABORT) because a command was refused with OOM as it was queued — ioredis keeps those
 * refusals in `previousErrors` (BullMQ's addBulk is one MULTI).
 */
function isOutOfMemory(error: Error): boolean {
  const code = replyCode(error);
  if (code === 'OOM') return true;
  const { previousErrors } = error as { previousErrors?: unknown };
  return code === 'EXECABORT' && Array.isArray(previousErrors) && previousErrors.some((e) => e instanceof Error && replyCode(e) === 'OOM');
}
