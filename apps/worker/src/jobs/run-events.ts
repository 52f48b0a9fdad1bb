import { setTimeout as sleep } from 'node:timers/promises';
import type { ProgressUpdate } from '@herald/contract';
import type { PublishedEvent } from '@herald/shared';
import type { RunReport, Step } from './kind.ts';

/** Publishes one event of the job; null when the job has already ended (EventPublisher.publish). */
export type Publish = (update: ProgressUpdate) => Promise<PublishedEvent | null>;

/**
 * The events of one run: its steps, published at once, and the summary as it is written,
 * coalesced into at most one event per `flushMs` — a model writes tokens far faster than anyone
 * needs them, and each event costs every watcher a write. Each text event carries the new text
 * (`delta`) and where it goes (`offset`, the length of what watchers already have); the publish
 * script folds it into the snapshot's text so far. A restart (a retried call) sends the next text from offset
 * 0, which replaces what watchers had.
 */
export class RunEvents implements RunReport {
  readonly #publish: Publish;
  readonly #flushMs: number;
  readonly #onJobEnded: () => void;
  #text = '';
  /** How much of #text watchers have. */
  #sent = 0;
  /** The next text event starts at 0, whatever was sent before. */
  #restarted = false;
  #progress = 0;
  #wrote = false;
  #ended = false;
  #lastFlush = 0;
  #timer: NodeJS.Timeout | undefined;
  /** Flushes run one after another; a failed one fails the next step or flush. */
  #flushing: Promise<void> = Promise.resolve();
  #failure: unknown;

  /** `onJobEnded`: told once when a publish finds the job already ended (cancelled elsewhere). */
  constructor(publish: Publish, flushMs: number, onJobEnded: () => void) {
    this.#publish = publish;
    this.#flushMs = flushMs;
    this.#onJobEnded = onJobEnded;
  }

  /** The summary as written so far in this run. */
  get text(): string {
    return this.#text;
  }

  /** Whether this run wrote its summary as it went (then the result is `text`). */
  get wrote(): boolean {
    return this.#wrote;
  }

  /** Whether a publish found the job already ended: the run has nothing left to do. */
  get jobEnded(): boolean {
    return this.#ended;
  }

  // step, write and restart are bound (arrow functions): the runner hands them to the kind as they are.

  /** Publishes a step at once, after any text written before it. */
  readonly step = async (step: Step): Promise<void> => {
    await this.flush();
    await this.#send({ status: 'processing', stage: step.stage, message: step.message, progress: step.progress });
  };

  readonly write = (delta: string, progress: number): void => {
    this.#wrote = true;
    this.#text += delta;
    this.#progress = Math.max(this.#progress, progress);
    this.#schedule();
  };

  readonly restart = (): void => {
    this.#text = '';
    this.#sent = 0;
    this.#restarted = true;
    this.#schedule();
  };

  /** Publishes the text not yet sent, now; rejects if a flush failed. */
  async flush(): Promise<void> {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#flushing = this.#flushing.then(() => this.#flushText());
    await this.#flushing;
    if (this.#failure !== undefined) throw this.#failure;
  }

  /** Stops the pending flush, if any (the run is over). */
  close(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #schedule(): void {
    if (this.#timer !== undefined) return;
    const wait = Math.max(0, this.#lastFlush + this.#flushMs - Date.now());
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.flush().catch(() => {}); // kept in #failure for the next step or flush
    }, wait);
  }

  async #flushText(): Promise<void> {
    if (this.#failure !== undefined || this.#ended) return;
    if (!this.#restarted && this.#text.length === this.#sent) return;
    // The last text too keeps its distance from the one before (a flush asked for early, before
    // a step or the end, waits its turn).
    const early = this.#lastFlush + this.#flushMs - Date.now();
    if (early > 0) await sleep(early);
    const offset = this.#restarted ? 0 : this.#sent;
    const text = this.#text;
    this.#restarted = false;
    this.#sent = text.length;
    this.#lastFlush = Date.now();
    try {
      await this.#send({
        status: 'processing',
        stage: 'writing',
        message: `Writing the summary: ${text.length} characters so far`,
        progress: this.#progress,
        delta: text.slice(offset),
        offset,
      });
    } catch (error) {
      this.#failure = error;
    }
  }

  async #send(update: ProgressUpdate): Promise<void> {
    if (this.#ended) return;
    if ((await this.#publish(update)) === null) {
      this.#ended = true;
      this.#onJobEnded();
    }
  }
}
