import type { RedisClient } from '../connection.ts';
import { keys, type RateAction } from '../keys.ts';
import { luaScript, replyTuple } from './load.ts';

const script = luaScript('submit-rate-2.lua');

/** The two budgets a submission spends: its API key's and its client IP's. */
export type RateSubject = 'key' | 'ip';

export interface SubmitRateInput {
  /** What is counted (its own counters): submissions by default, or snapshot reads. */
  readonly action?: RateAction;
  /** The API key's digest; any placeholder when `perKey` is 0 (its counter is then not read). */
  readonly keyId: string;
  readonly ip: string;
  readonly windowMs: number;
  /** 0: that limit is not checked. */
  readonly perKey: number;
  readonly perIp: number;
  /** Units this call charges when allowed (a job 1; a batch's items after the first, n − 1). Default 1. */
  readonly cost?: number;
  /**
   * The whole request's units (a batch: n), which a retry charges again: the wait is for it to
   * fit. At least `cost`, at most each checked limit (a larger one can never fit). Default: `cost`.
   */
  readonly size?: number;
}

export type SubmitRateReply =
  | { readonly allowed: true }
  | { readonly allowed: false; readonly retryAfterMs: number; readonly refusedBy: readonly RateSubject[] };

const ALLOWED: SubmitRateReply = { allowed: true };

/**
 * submit-rate-2.lua: checks both limits over the sliding window and, when neither is reached,
 * counts the request's cost (a submission, a batch's items, or a snapshot read) against both; a
 * refused one counts against neither.
 */
export async function submitRateScript(redis: RedisClient, input: SubmitRateInput): Promise<SubmitRateReply> {
  const reply = await script.run(
    redis,
    [keys.submitRate('key', input.keyId, input.action), keys.submitRate('ip', input.ip, input.action)],
    [input.windowMs, input.perKey, input.perIp, input.cost ?? 1, input.size ?? input.cost ?? 1],
  );
  const [allowed, waitMs, refused] = replyTuple(script, reply, 3);
  if (Number(allowed) === 1) return ALLOWED;
  return {
    allowed: false,
    retryAfterMs: Number(waitMs),
    refusedBy: String(refused)
      .split(',')
      .filter((subject): subject is RateSubject => subject === 'key' || subject === 'ip'),
  };
}
