import type { JobEvent } from '@herald/contract';
import { createParser } from 'eventsource-parser';

export interface ReceivedEvent {
  readonly id: string | undefined;
  readonly data: string;
  /** The `event:` line's name, on a typed stream (`?typed=1`). */
  readonly name?: string | undefined;
  /** When it was read (Date.now()), where the client recorded it. */
  readonly receivedAt?: number;
  /** The event as the contract types it (not validated here: tests assert what they expect). */
  readonly json: JobEvent;
}

/**
 * A test's view of one SSE response: the status, headers, every event, comment and retry
 * line, and whether the server ended the stream. Parsing is eventsource-parser's, as a real
 * client's would be.
 */
export class SseClient {
  status = 0;
  headers = new Headers();
  readonly events: ReceivedEvent[] = [];
  readonly comments: string[] = [];
  /** When each comment was read (Date.now()). */
  readonly commentTimes: number[] = [];
  retry: number | undefined;
  /** Every retry line, with how many events had arrived before it. */
  readonly retries: { readonly ms: number; readonly afterEvents: number }[] = [];
  endedByServer = false;
  readonly #abort = new AbortController();
  readonly #waiters = new Set<() => void>();
  readonly done: Promise<void>;

  private constructor(response: Promise<Response>) {
    this.done = this.#consume(response);
  }

  static open(url: string, headers: Record<string, string> = {}): SseClient {
    const abort = new AbortController();
    const client = new SseClient(fetch(url, { headers: { Accept: 'text/event-stream', ...headers }, signal: abort.signal }));
    client.#abort.signal.addEventListener('abort', () => abort.abort());
    return client;
  }

  /** Resolves when `predicate` holds, or rejects after `timeoutMs`. */
  async waitFor(predicate: (client: SseClient) => boolean, timeoutMs = 10_000): Promise<void> {
    if (predicate(this)) return;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiters.delete(check);
        reject(
          new Error(
            `timed out (status ${this.status}); got ${this.events.length} events: ${this.events.map((e) => e.json.status).join(',')}`,
          ),
        );
      }, timeoutMs);
      const check = (): void => {
        if (!predicate(this)) return;
        clearTimeout(timer);
        this.#waiters.delete(check);
        resolve();
      };
      this.#waiters.add(check);
    });
  }

  /** Waits for the server to end the stream. */
  async finished(timeoutMs = 10_000): Promise<this> {
    await this.waitFor((client) => client.endedByServer, timeoutMs);
    return this;
  }

  close(): void {
    this.#abort.abort();
  }

  get lastEventId(): string | undefined {
    return this.events.at(-1)?.id;
  }

  #notify(): void {
    for (const waiter of [...this.#waiters]) waiter();
  }

  async #consume(responsePromise: Promise<Response>): Promise<void> {
    try {
      const response = await responsePromise;
      this.status = response.status;
      this.headers = response.headers;
      const parser = createParser({
        onEvent: (event) => {
          this.events.push({ id: event.id, data: event.data, name: event.event, json: JSON.parse(event.data), receivedAt: Date.now() });
          this.#notify();
        },
        onRetry: (ms) => {
          this.retry = ms;
          this.retries.push({ ms, afterEvents: this.events.length });
        },
        onComment: (comment) => {
          this.comments.push(comment);
          this.commentTimes.push(Date.now());
          this.#notify();
        },
      });
      const decoder = new TextDecoder();
      if (response.body) {
        for await (const chunk of response.body) parser.feed(decoder.decode(chunk, { stream: true }));
      }
      this.endedByServer = true;
    } catch (error) {
      if (!this.#abort.signal.aborted) throw error;
    } finally {
      this.#notify();
    }
  }
}
