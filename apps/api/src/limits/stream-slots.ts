import { randomBytes } from 'node:crypto';
import { streamSlotsScript, type Config, type Logger, type StreamSlotsOp, type StreamSlotsReply, type RedisClient } from '@herald/shared';
import { redisCall } from '../http/deadline.ts';
import { rateLimited } from '../http/errors.ts';

export interface StreamSlotsOptions {
  /** Open streams per client IP, all replicas together; 0: no limit (and no Redis traffic). */
  readonly perIp: number;
  /** How long a replica's counts outlive its last renewal (a crashed replica's, at most). */
  readonly leaseMs?: number;
  /** Retry-After of the 429. */
  readonly retryAfterSeconds?: number;
  /** How long an acquire waits for Redis before letting the stream through. */
  readonly deadlineMs?: number;
  /** Random per process start unless given. */
  readonly replicaId?: string;
  readonly onRefused?: () => void;
}

export interface StreamSlot {
  /** Gives the slot back; later calls do nothing. */
  release(): void;
}

/** What this replica holds for one IP. */
interface Held {
  /** Streams open (or being set up) here. */
  count: number;
  /** Acquires waiting for Redis: the IP's renewal waits for them rather than racing them. */
  pending: number;
}

export const DEFAULT_LEASE_MS = 30_000;
const WARN_EVERY_MS = 10_000;
const NO_SLOT: StreamSlot = { release() {} };

/**
 * Concurrent SSE streams per client IP across replicas (stream-slots-2.lua): per IP, each
 * replica's count of streams under a lease. The replica renews its leases every lease/3 — one
 * script per distinct IP it streams for, however many streams — and re-asserts its true counts
 * as it does, which mends any release lost to a Redis blip. A replica that dies stops renewing:
 * its streams stop counting when the lease runs out (30 s by default).
 *
 * Fails open: when Redis does not answer an acquire, the stream is let through and counted here
 * only (the next renewal writes it to Redis), with a warning at most every 10 s. A stream cannot
 * be served without Redis anyway, and a blip must not turn into a storm of 429s — reconnecting
 * clients would only make it worse.
 */
export class StreamSlots {
  readonly replicaId: string;
  readonly #redis: RedisClient;
  readonly #logger: Logger;
  readonly #perIp: number;
  readonly #leaseMs: number;
  readonly #retryAfterSeconds: number;
  readonly #deadlineMs: number;
  readonly #onRefused: () => void;
  readonly #held = new Map<string, Held>();
  #timer: NodeJS.Timeout | undefined;
  #renewing = false;
  #stopped = false;
  #lastWarning = 0;
  #unwarned = 0;

  constructor(redis: RedisClient, logger: Logger, options: StreamSlotsOptions) {
    this.#redis = redis;
    this.#logger = logger;
    this.#perIp = options.perIp;
    this.#leaseMs = options.leaseMs ?? DEFAULT_LEASE_MS;
    this.#retryAfterSeconds = options.retryAfterSeconds ?? 5;
    this.#deadlineMs = options.deadlineMs ?? 1000;
    this.#onRefused = options.onRefused ?? (() => {});
    this.replicaId = options.replicaId ?? randomBytes(9).toString('base64url');
    if (this.enabled) {
      this.#timer = setInterval(() => void this.renew(), Math.max(1, Math.floor(this.#leaseMs / 3)));
      this.#timer.unref();
    }
  }

  static fromConfig(redis: RedisClient, logger: Logger, config: Config, onRefused?: () => void): StreamSlots {
    return new StreamSlots(redis, logger, { perIp: config.MAX_SSE_CLIENTS_PER_IP, ...(onRefused ? { onRefused } : {}) });
  }

  get enabled(): boolean {
    return this.#perIp > 0;
  }

  /** Distinct IPs this replica holds streams for (what a renewal costs, in scripts). */
  get ips(): number {
    return this.#held.size;
  }

  /** A slot for one more stream from `ip`; throws a 429 when the IP has all it may hold. */
  async acquire(ip: string): Promise<StreamSlot> {
    if (!this.enabled || this.#stopped) return NO_SLOT;
    const held = this.#entry(ip);
    held.pending += 1;
    let allowed = true;
    try {
      allowed = (await redisCall(this.#run(ip, { op: 'acquire', limit: this.#perIp }), this.#deadlineMs)).allowed;
    } catch (error) {
      this.#warn(error, 'stream limit: RedisClient did not answer; letting the stream through, counted on this replica only');
    } finally {
      held.pending -= 1;
    }
    if (!allowed) {
      this.#forgetIfIdle(ip, held);
      this.#onRefused();
      throw rateLimited('Too many open streams from your address; close one or try again later', this.#retryAfterSeconds);
    }
    held.count += 1;
    let released = false;
    return {
      release: () => {
        if (released) return;
        released = true;
        held.count -= 1;
        if (this.#stopped) return;
        this.#run(ip, { op: 'release' }).then(
          () => this.#forgetIfIdle(ip, held),
          // The count stays in Redis until this IP's next renewal writes the true one.
          (error: unknown) => this.#warn(error, 'stream limit: could not release a slot; the next renewal corrects it'),
        );
      },
    };
  }

  /**
   * Renews this replica's lease on every IP it streams for, writing its true count for each
   * (the timer calls it every lease/3). Resolves when done; failures are logged, not thrown.
   */
  async renew(): Promise<void> {
    if (this.#renewing || this.#stopped) return;
    this.#renewing = true;
    try {
      await Promise.all(
        [...this.#held].map(async ([ip, held]) => {
          // An acquire under way renews the lease itself; asserting now could race it.
          if (held.pending > 0) return;
          try {
            await redisCall(this.#run(ip, { op: 'assert', count: held.count }), this.#leaseMs / 3);
            this.#forgetIfIdle(ip, held);
          } catch (error) {
            this.#warn(error, 'stream limit: could not renew a lease; retrying at the next renewal');
          }
        }),
      );
    } finally {
      this.#renewing = false;
    }
  }

  /** Stops renewing and gives back every slot this replica holds (best effort): on shutdown. */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    clearInterval(this.#timer);
    this.#timer = undefined;
    const ips = [...this.#held.keys()];
    this.#held.clear();
    await Promise.allSettled(ips.map((ip) => redisCall(this.#run(ip, { op: 'assert', count: 0 }), this.#deadlineMs)));
  }

  #run(ip: string, op: StreamSlotsOp): Promise<StreamSlotsReply> {
    return streamSlotsScript(this.#redis, { ip, replicaId: this.replicaId, leaseMs: this.#leaseMs }, op);
  }

  #entry(ip: string): Held {
    let held = this.#held.get(ip);
    if (!held) {
      held = { count: 0, pending: 0 };
      this.#held.set(ip, held);
    }
    return held;
  }

  /** Drops an IP with nothing open and nothing under way here, once Redis agrees it holds none. */
  #forgetIfIdle(ip: string, held: Held): void {
    if (held.count === 0 && held.pending === 0 && this.#held.get(ip) === held) this.#held.delete(ip);
  }

  #warn(error: unknown, message: string): void {
    const now = Date.now();
    if (now - this.#lastWarning < WARN_EVERY_MS) {
      this.#unwarned += 1;
      return;
    }
    this.#logger.warn({ err: error, suppressed: this.#unwarned }, message);
    this.#lastWarning = now;
    this.#unwarned = 0;
  }
}
