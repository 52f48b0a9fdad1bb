/** How often the pacer hands out a new budget of ends. */
const TICK_MS = 5;

/**
 * Ends the streams of finished jobs at a bounded pace (STREAM_END_RATE per second), once their
 * terminal event is sent. Ending a stream costs the replica about twice what sending it an
 * event does (the response's end, the socket's shutdown and close, the bookkeeping), and jobs
 * that finish together end their streams together: 5,000 ends within half a second took the CPU
 * that other jobs' live events needed (the `wide` bench's p99: 37.8 ms with the ends at once,
 * 16.5 ms paced; docs/benchmarks.md). Under the budget a stream ends at once; past it, in the
 * order they came, a tick's budget at a time. The event itself never waits: only the
 * connection's end does.
 */
export class EndPacer {
  readonly #perTick: number;
  readonly #queue: (() => void)[] = [];
  #budget: number;
  #timer: NodeJS.Timeout | undefined;

  /** `perSecond`: 0 ends everything at once. */
  constructor(perSecond: number) {
    this.#perTick = perSecond === 0 ? Number.POSITIVE_INFINITY : Math.max(1, Math.round((perSecond * TICK_MS) / 1000));
    this.#budget = this.#perTick;
  }

  /** Ends waiting for the budget. */
  get waiting(): number {
    return this.#queue.length;
  }

  end(end: () => void): void {
    if (this.#budget > 0 && this.#queue.length === 0) {
      this.#budget -= 1;
      end();
    } else {
      this.#queue.push(end);
    }
    if (this.#perTick !== Number.POSITIVE_INFINITY) this.#arm();
  }

  /** Ends everything still waiting (a draining replica) and stops the timer. */
  flush(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
    for (const end of this.#queue.splice(0)) end();
  }

  #arm(): void {
    if (this.#timer) return;
    this.#timer = setInterval(() => this.#tick(), TICK_MS);
    this.#timer.unref();
  }

  #tick(): void {
    const due = this.#queue.splice(0, this.#perTick);
    this.#budget = this.#perTick - due.length;
    for (const end of due) end();
    // A tick without anything to end stops the timer; the budget stays full until the next end.
    if (this.#queue.length === 0 && this.#budget === this.#perTick) {
      clearInterval(this.#timer);
      this.#timer = undefined;
    }
  }
}
