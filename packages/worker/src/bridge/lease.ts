import { randomBytes } from 'node:crypto';
import { keys, type RedisClient } from '@herald/shared';

// One bridge at a time per queue: a lease in Herald's Redis (keys.bridgeLease), taken with
// SET NX PX and renewed every third of its time; a second bridge waits and takes over once the
// lease lapses (a bridge SIGKILLed is replaced within LEASE_MS). The cursor is written only by
// the lease's holder, in the same script that checks it, so a bridge that lost its lease (paused
// past it) cannot move the cursor back. Were two bridges ever to publish at once, nothing would
// double either: each Herald event is published with an idempotency key, its BullMQ event's id.

/** How long a bridge's lease lasts without renewal: how long a dead bridge's queue goes unbridged. */
export const LEASE_MS = 10_000;

/** Renews when the token still holds the lease: 1, else 0. */
const RENEW = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end return 0`;
/** Stores the cursor when the token still holds the lease: 1, else 0. */
const STORE = `if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('SET', KEYS[2], ARGV[2]) return 1 end return 0`;
/** Gives the lease up when the token holds it. */
const RELEASE = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`;

export class BridgeLease {
  readonly #redis: RedisClient;
  readonly #leaseKey: string;
  readonly #cursorKey: string;
  readonly #leaseMs: number;
  readonly #token = randomBytes(12).toString('hex');

  constructor(redis: RedisClient, prefix: string, queue: string, leaseMs: number = LEASE_MS) {
    this.#redis = redis;
    this.#leaseKey = keys.bridgeLease(prefix, queue);
    this.#cursorKey = keys.bridgeCursor(prefix, queue);
    this.#leaseMs = leaseMs;
  }

  get leaseMs(): number {
    return this.#leaseMs;
  }

  /** Takes the lease when nobody holds it. */
  async acquire(): Promise<boolean> {
    return (await this.#redis.set(this.#leaseKey, this.#token, 'PX', this.#leaseMs, 'NX')) === 'OK';
  }

  /** Whether this bridge still held the lease (then it is renewed). */
  async renew(): Promise<boolean> {
    return Number(await this.#redis.eval(RENEW, 1, this.#leaseKey, this.#token, this.#leaseMs)) === 1;
  }

  /** The id of the last BullMQ event bridged, or null when none ever was. */
  async cursor(): Promise<string | null> {
    return this.#redis.get(this.#cursorKey);
  }

  /** Stores the cursor; false when the lease was lost (the cursor is then not touched). */
  async store(eventId: string): Promise<boolean> {
    return Number(await this.#redis.eval(STORE, 2, this.#leaseKey, this.#cursorKey, this.#token, eventId)) === 1;
  }

  async release(): Promise<void> {
    await this.#redis.eval(RELEASE, 1, this.#leaseKey, this.#token);
  }
}
