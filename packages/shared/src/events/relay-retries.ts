/** How long a failed tag relay waits before each retry: short, so a feed is whole again within about a second. */
export const RELAY_RETRY_DELAYS_MS: readonly number[] = [200, 1_000];
/** Retries waiting at most, all relays of this process together: past it, a failed relay is dropped (told at once). */
export const MAX_PENDING_RELAY_RETRIES = 1_000;

/** How a relay that failed ended: its retries failed too, or there was no room to wait for one. */
export type RelayGiveUp = 'retries-failed' | 'too-many-pending';

/**
 * Retries of tag relays that failed (events/publisher.ts), in the background: a publish never
 * waits for them. The event is the job's already; a relay that never comes leaves it out of the
 * tag's feed until the job's next publish mends the chain (tag-relay-n.lua), or for good after
 * the job's last one, which is why a failure is retried and not only told. Bounded: at most
 * MAX_PENDING_RELAY_RETRIES wait at once, each holding its one attempt's closure.
 */
export class RelayRetries {
  readonly #onGiveUp: (error: unknown, jobId: string, why: RelayGiveUp) => void;
  readonly #delays: readonly number[];
  readonly #maxPending: number;
  #pending = 0;

  constructor(
    onGiveUp: (error: unknown, jobId: string, why: RelayGiveUp) => void,
    delays: readonly number[] = RELAY_RETRY_DELAYS_MS,
    maxPending = MAX_PENDING_RELAY_RETRIES,
  ) {
    this.#onGiveUp = onGiveUp;
    this.#delays = delays;
    this.#maxPending = maxPending;
  }

  /** Retries waiting now. */
  get pending(): number {
    return this.#pending;
  }

  /** Runs `attempt` (a relay of `jobId`'s events; several jobs' for a batch, named by one); a failure is retried in the background. */
  async run(jobId: string, attempt: () => Promise<void>): Promise<void> {
    try {
      await attempt();
    } catch (error) {
      this.#retry(jobId, attempt, 0, error);
    }
  }

  #retry(jobId: string, attempt: () => Promise<void>, round: number, error: unknown): void {
    const delay = this.#delays[round];
    if (delay === undefined || this.#pending >= this.#maxPending) {
      this.#onGiveUp(error, jobId, delay === undefined ? 'retries-failed' : 'too-many-pending');
      return;
    }
    this.#pending += 1;
    const timer = setTimeout(() => {
      attempt().then(
        () => {
          this.#pending -= 1;
        },
        (next: unknown) => {
          this.#pending -= 1;
          this.#retry(jobId, attempt, round + 1, next);
        },
      );
    }, delay);
    // A retry waiting does not keep a process that is otherwise done alive.
    timer.unref();
  }
}
