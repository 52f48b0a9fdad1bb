import { setTimeout as sleep } from 'node:timers/promises';
import { STREAM_NAME, type ProgressUpdate } from '@herald/contract';
import type { PublishedEvent } from '@herald/shared';
import type { RunReport, Step, StreamWriter } from './kind.ts';

/** Publishes one event of the job; null when the job has already ended (EventPublisher.publish). */
export type Publish = (update: ProgressUpdate) => Promise<PublishedEvent | null>;

/** A named stream's text in this run (RunReport.stream), sent as the summary's is. */
interface NamedText {
  text: string;
  /** How much of `text` watchers have. */
  sent: number;
  /** The next event starts at 0, whatever was sent before. */
  restarted: boolean;
}

/**
 * The events of one run: its steps, published at once, and the summary as it is written,
 * coalesced into at most one event per `flushMs` — a model writes tokens far faster than anyone
 * needs them, and each event costs every watcher a write. Each text event carries the new text
 * (`delta`) and where it goes (`offset`, the length of what watchers already have); the publish
 * script folds it into the snapshot's text so far. A restart (a retried call) sends the next text from offset
 * 0, which replaces what watchers had. Named streams are written the same way, each in events of
 * its own (`stream`: its name) at the same pace; a metadata patch goes at once, as a step does.
 */
export class RunEvents implements RunReport {
  readonly #publish: Publish;
  readonly #flushMs: number;
  readonly #onJobEnded: () => void;
  readonly #writingMessage: (characters: number) => string;
  #text = '';
  /** How much of #text watchers have. */
  #sent = 0;
  /** The next text event starts at 0, whatever was sent before. */
  #restarted = false;
  #progress = 0;
  /** The last step's stage and message, which a named stream's events and a metadata patch's carry (the script raises their progress to the job's). */
  #stage: string | undefined;
  #message = '';
  readonly #streams = new Map<string, NamedText>();
  #wrote = false;
  #ended = false;
  #lastFlush = 0;
  #timer: NodeJS.Timeout | undefined;
  /** Flushes run one after another; a failed one fails the next step or flush. */
  #flushing: Promise<void> = Promise.resolve();
  #failure: unknown;

  /**
   * `onJobEnded`: told once when a publish finds the job already ended (cancelled elsewhere).
   * `writingMessage`: the message of a text event, given the text's length so far (the kind's).
   */
  constructor(
    publish: Publish,
    flushMs: number,
    onJobEnded: () => void,
    writingMessage: (characters: number) => string = (characters) => `Writing: ${characters} characters so far`,
  ) {
    this.#publish = publish;
    this.#flushMs = flushMs;
    this.#onJobEnded = onJobEnded;
    this.#writingMessage = writingMessage;
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
    this.#stage = step.stage;
    this.#message = step.message;
    await this.#send({ status: 'processing', stage: step.stage, message: step.message, progress: step.progress });
  };

  readonly metadata = async (patch: Readonly<Record<string, unknown>>): Promise<void> => {
    await this.flush();
    await this.#send({ ...this.#stepSaid(), metadata: { ...patch } });
  };

  readonly stream = (name: string): StreamWriter => {
    if (!STREAM_NAME.test(name)) throw new TypeError(`a stream's name is 1 to 32 of a-z, 0-9, _ and - (not ${JSON.stringify(name)})`);
    return {
      write: (delta) => {
        const named = this.#named(name);
        named.text += delta;
        this.#schedule();
      },
      restart: () => {
        Object.assign(this.#named(name), { text: '', sent: 0, restarted: true });
        this.#schedule();
      },
    };
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

  #named(name: string): NamedText {
    let named = this.#streams.get(name);
    if (named === undefined) {
      named = { text: '', sent: 0, restarted: false };
      this.#streams.set(name, named);
    }
    return named;
  }

  /** A processing event that says what the last step said, at the progress reached. */
  #stepSaid(): ProgressUpdate {
    return {
      status: 'processing',
      ...(this.#stage === undefined ? {} : { stage: this.#stage }),
      message: this.#message,
      progress: this.#progress,
    };
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
    const answer = this.#restarted || this.#text.length !== this.#sent;
    const named = [...this.#streams].filter(([, text]) => text.restarted || text.text.length !== text.sent);
    if (!answer && named.length === 0) return;
    // The last text too keeps its distance from the one before (a flush asked for early, before
    // a step or the end, waits its turn).
    const early = this.#lastFlush + this.#flushMs - Date.now();
    if (early > 0) await sleep(early);
    this.#lastFlush = Date.now();
    try {
      if (answer) {
        const offset = this.#restarted ? 0 : this.#sent;
        const text = this.#text;
        this.#restarted = false;
        this.#sent = text.length;
        await this.#send({
          status: 'processing',
          stage: 'writing',
          message: this.#writingMessage(text.length),
          progress: this.#progress,
          delta: text.slice(offset),
          offset,
        });
      }
      for (const [stream, pending] of named) {
        const offset = pending.restarted ? 0 : pending.sent;
        const text = pending.text;
        pending.restarted = false;
        pending.sent = text.length;
        await this.#send({ ...this.#stepSaid(), stream, delta: text.slice(offset), offset });
      }
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
