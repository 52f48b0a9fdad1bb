import { submitRateScript, type Config, type RateAction, type RedisClient } from '@herald/shared';
import { redisCall } from '../http/deadline.ts';
import { payloadTooLarge, rateLimited } from '../http/errors.ts';

/** Which limit refused a request (herald_limits_refused_total's `limit` label). */
export type SubmitLimit = 'submit_key' | 'submit_ip' | 'read_ip';

/** What a limiter counts: its counters in Redis, its limits' labels, and what a refusal calls it. */
interface Counted {
  readonly action: RateAction;
  readonly key: SubmitLimit;
  readonly ip: SubmitLimit;
  readonly what: string;
}

const SUBMISSIONS: Counted = { action: 'submit', key: 'submit_key', ip: 'submit_ip', what: 'submissions' };
/** Snapshot reads (GET /v1/jobs/{id}, GET /v1/batches/{id}): per client IP only. */
const READS: Counted = { action: 'read', key: 'read_ip', ip: 'read_ip', what: 'snapshot reads' };

export interface SubmissionLimits {
  /** Submissions per API key per window, all replicas together; 0: no limit. */
  readonly perKey: number;
  /** Submissions per client IP per window, all replicas together; 0: no limit. */
  readonly perIp: number;
  readonly windowSeconds: number;
}

/** Who submits: `keyId` is the API key's digest (never the key), null when auth is off. */
export interface Submitter {
  readonly keyId: string | null;
  readonly ip: string;
}

export type SubmissionDecision =
  | { readonly allowed: true }
  | { readonly allowed: false; readonly retryAfterSeconds: number; readonly refusedBy: readonly SubmitLimit[] };

/** What a call charges: `cost` units now, for a request of `size` units in all (submit-rate-2.lua). */
interface Units {
  readonly cost: number;
  readonly size: number;
}

const ALLOWED: SubmissionDecision = { allowed: true };
const ONE: Units = { cost: 1, size: 1 };
/** Stands in for the key's counter when there is no key; its limit is 0, so it is never read. */
const NO_KEY = '-';

/**
 * POST /v1/jobs and /v1/batches per API key and per client IP, in one Redis round trip shared by every replica
 * (submit-rate-2.lua in @herald/shared: a sliding window approximated from two fixed windows). A request over
 * either limit is refused and counts against neither. A job counts 1, a batch its items: 1 before
 * its body is read (`enforce`), the others once it is parsed (`enforceItems`). The same
 * machinery, on counters of its own, limits snapshot reads per client IP (`forReads`,
 * READ_RATE_PER_IP).
 *
 * Redis errors are not swallowed: a submission cannot be made without Redis anyway, so the
 * error (or the deadline) propagates and becomes the usual 503 (http/errors.ts).
 */
export class SubmissionLimiter {
  readonly #redis: RedisClient;
  readonly #limits: SubmissionLimits;
  readonly #onRefused: (limit: SubmitLimit) => void;
  readonly #counted: Counted;

  constructor(
    redis: RedisClient,
    limits: SubmissionLimits,
    onRefused: (limit: SubmitLimit) => void = () => {},
    counted: Counted = SUBMISSIONS,
  ) {
    this.#redis = redis;
    this.#limits = limits;
    this.#onRefused = onRefused;
    this.#counted = counted;
  }

  /** Snapshot reads per client IP (READ_RATE_PER_IP over RATE_WINDOW_SECONDS; 0: none), shared by every replica. */
  static forReads(redis: RedisClient, config: Config, onRefused?: (limit: SubmitLimit) => void): SubmissionLimiter {
    return new SubmissionLimiter(
      redis,
      { perKey: 0, perIp: config.READ_RATE_PER_IP, windowSeconds: config.RATE_WINDOW_SECONDS },
      onRefused,
      READS,
    );
  }

  static fromConfig(redis: RedisClient, config: Config, onRefused?: (limit: SubmitLimit) => void): SubmissionLimiter {
    return new SubmissionLimiter(
      redis,
      { perKey: config.SUBMIT_RATE_PER_KEY, perIp: config.SUBMIT_RATE_PER_IP, windowSeconds: config.RATE_WINDOW_SECONDS },
      onRefused,
    );
  }

  /**
   * Checks both limits and, when neither is reached, counts the submission against both (`units`:
   * one submission, or part of a batch's items; the wait when refused is for all of them).
   */
  async check({ keyId, ip }: Submitter, { cost, size }: Units = ONE): Promise<SubmissionDecision> {
    const perKey = keyId === null ? 0 : this.#limits.perKey;
    const perIp = this.#limits.perIp;
    if (perKey === 0 && perIp === 0) return ALLOWED;
    const reply = await redisCall(
      submitRateScript(this.#redis, {
        action: this.#counted.action,
        keyId: keyId ?? NO_KEY,
        ip,
        windowMs: this.#limits.windowSeconds * 1000,
        perKey,
        perIp,
        cost,
        size,
      }),
    );
    if (reply.allowed) return ALLOWED;
    return {
      allowed: false,
      retryAfterSeconds: Math.max(1, Math.ceil(reply.retryAfterMs / 1000)),
      refusedBy: reply.refusedBy.map((subject) => (subject === 'key' ? this.#counted.key : this.#counted.ip)),
    };
  }

  /** As `check`, throwing the 429 (with Retry-After) when refused. */
  async enforce(submitter: Submitter, units: Units = ONE): Promise<void> {
    const decision = await this.check(submitter, units);
    if (decision.allowed) return;
    for (const limit of decision.refusedBy) this.#onRefused(limit);
    const from = decision.refusedBy.includes('submit_key') ? 'for this API key' : 'from your address';
    const items = units.size > 1 ? ` (this batch counts ${units.size})` : '';
    throw rateLimited(
      `Too many ${this.#counted.what} ${from}${items}; try again in ${decision.retryAfterSeconds} s`,
      decision.retryAfterSeconds,
    );
  }

  /**
   * A request that weighs `weight` units, after `enforce` counted its first: the rest are
   * counted too, at most the limit's own size less one (a snapshot read of a batch of n jobs,
   * which reads every one of them, weighs n / 100).
   */
  async enforceWeight(submitter: Submitter, weight: number): Promise<void> {
    const perKey = submitter.keyId === null ? 0 : this.#limits.perKey;
    const limits = [perKey, this.#limits.perIp].filter((limit) => limit > 0);
    if (limits.length === 0) return;
    const rest = Math.min(Math.ceil(weight) - 1, Math.min(...limits) - 1);
    if (rest > 0) await this.enforce(submitter, { cost: rest, size: rest });
  }

  /**
   * A parsed submission of `items` jobs, after `enforce` counted its first: a batch larger than a
   * limit can never fit in its window (413 naming it: a 429's Retry-After would be false);
   * otherwise its other items are counted, against both limits or neither (429, Retry-After: when
   * all `items` would fit, as a retry counts them all again).
   */
  async enforceItems(submitter: Submitter, items: number): Promise<void> {
    this.refuseNeverFitting(submitter, items);
    if (items > 1) await this.enforce(submitter, { cost: items - 1, size: items });
  }

  /** The 413 of `enforceItems` alone, without a round trip: to refuse before anything else is taken. */
  refuseNeverFitting({ keyId }: Submitter, items: number): void {
    const perKey = keyId === null ? 0 : this.#limits.perKey;
    const { perIp } = this.#limits;
    const over = [
      ...(perKey > 0 && items > perKey ? [{ limit: 'submit_key' as const, setting: 'SUBMIT_RATE_PER_KEY', value: perKey }] : []),
      ...(perIp > 0 && items > perIp ? [{ limit: 'submit_ip' as const, setting: 'SUBMIT_RATE_PER_IP', value: perIp }] : []),
    ];
    if (over.length === 0) return;
    for (const { limit } of over) this.#onRefused(limit);
    const names = over.map(({ setting, value }) => `${setting} (${value} per ${this.#limits.windowSeconds} s)`).join(' and ');
    const message = `A batch of ${items} items can never be accepted: it is larger than ${names}`;
    throw payloadTooLarge(message, [{ path: 'items', message }]);
  }
}
