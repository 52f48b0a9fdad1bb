import { createParser } from 'eventsource-parser';
import { HeraldError, errorOf, networkReason } from './errors.ts';

/** One frame as the stream sent it: its id (the cursor after it), its name (`?typed=1`) and its JSON. */
export interface Frame {
  readonly id: string;
  readonly name: string | undefined;
  readonly data: unknown;
}

export interface ResumeOptions {
  /** Where the stream starts: an event id (a composite one for several jobs), or the beginning. */
  readonly lastEventId?: string | undefined;
  /** Aborting ends the iteration, throwing the signal's reason. */
  readonly signal?: AbortSignal | undefined;
  /** Failed attempts in a row (no event received) before giving up with a HeraldError (status 0). */
  readonly maxRetries?: number | undefined;
  /** The delay before reconnecting until the server's `retry:` line says otherwise (ms). */
  readonly initialRetryMs?: number | undefined;
  /** The ceiling of the doubling backoff, unless the server's `retry:` asks for longer (ms). */
  readonly maxBackoffMs?: number | undefined;
  /** No byte at all for this long (the server sends a heartbeat every 15 s) means a dead connection (ms). */
  readonly idleTimeoutMs?: number | undefined;
  /** Told each time a connection is answered with the stream (a page's "live"); not for a load balancer's stand-in. */
  readonly onOpen?: (() => void) | undefined;
  /** Told before each reconnection: why, how long it waits, and which attempt of how many it is. */
  readonly onReconnect?: ((reconnect: Reconnect) => void) | undefined;
}

export interface Reconnect {
  /** 1 for the first failure in a row, up to `maxRetries`. */
  readonly attempt: number;
  readonly maxRetries: number;
  readonly delayMs: number;
  /** For people: `connection lost: ECONNRESET`, `Draining [HTTP 503]`, `cannot reach https://…: ENOTFOUND`. */
  readonly reason: string;
}

export interface StreamRequest {
  readonly url: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly fetch: typeof fetch;
  /** Whether this frame ends the stream (its topic's terminal event). */
  readonly isLast: (frame: Frame) => boolean;
  /**
   * Where the bearer comes from when it can be renewed (it replaces `headers`' Authorization):
   * asked before the first connection and again after each `401 token_expired`.
   */
  readonly getToken?: (() => Promise<string>) | undefined;
}

/** Statuses worth another try: draining or full (503), rate limits, a proxy's 502/504. */
const RETRYABLE = new Set([429, 500, 502, 503, 504]);
/** Marks the bundled nginx's empty stream with a retry hint, sent when no replica could take one. */
const UNAVAILABLE_HEADER = 'herald-unavailable';
const MAX_EVENT_CHARS = 8 * 1024 * 1024;

const sleep = (ms: number, signal: AbortSignal | undefined): Promise<void> =>
  new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const timer = setTimeout(done, ms);
    function done(): void {
      signal?.removeEventListener('abort', abort);
      resolve();
    }
    function abort(): void {
      clearTimeout(timer);
      reject(signal?.reason);
    }
    signal?.addEventListener('abort', abort, { once: true });
  });

/** `promise`, or the abort's reason as soon as `signal` aborts (what `promise` settles to later is dropped). */
const untilAborted = <T>(promise: () => Promise<T>, signal: AbortSignal | undefined): Promise<T> =>
  new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const abort = (): void => reject(signal?.reason);
    signal?.addEventListener('abort', abort, { once: true });
    promise().then(
      (value) => {
        signal?.removeEventListener('abort', abort);
        resolve(value);
      },
      (error: unknown) => {
        signal?.removeEventListener('abort', abort);
        reject(error);
      },
    );
  });

/**
 * A Server-Sent Events stream that resumes by itself: every reconnection sends `Last-Event-ID`
 * = the last id it yielded, so any replica sends exactly what came after. It waits the server's
 * `retry:` (doubling while attempts keep failing, and honouring `Retry-After`), ends after the
 * last frame (`isLast`) or on `204` (the cursor is at the end already), and gives up after
 * `maxRetries` failed attempts in a row, or at once on an answer no retry can change (400, 401,
 * 403, 404): both as a HeraldError.
 *
 * With `getToken`, a `401 token_expired` is one a retry can change: the stream asks for a fresh
 * token and resumes from the same cursor. When the refused token had opened a stream (it
 * expired while in use) that happens at once and costs no attempt; a token refused before it
 * ever opened one (getToken handed out an expired token) counts as a failed attempt, with the
 * usual wait, so a getToken that keeps handing out expired tokens ends the watch after
 * `maxRetries` with that `token_expired` error. So does, at once, a getToken that hands back
 * the very token just refused: nothing would change.
 */
export async function* resumingStream(request: StreamRequest, options: ResumeOptions = {}): AsyncGenerator<Frame, void, undefined> {
  const maxRetries = options.maxRetries ?? 8;
  const maxBackoffMs = options.maxBackoffMs ?? 15_000;
  let retryMs = options.initialRetryMs ?? 1000;
  let cursor = options.lastEventId;
  let failures = 0;
  const token = new RenewableToken(request.getToken);
  for (;;) {
    await token.ready(options.signal);
    const attempt = new Attempt(options.idleTimeoutMs ?? 45_000, options.signal);
    let reason: string;
    let retryAfterMs = 0;
    let answered = false;
    let expired: HeraldError | null = null;
    try {
      const headers: Record<string, string> = { Accept: 'text/event-stream', ...request.headers, ...token.header() };
      if (cursor !== undefined) headers['Last-Event-ID'] = cursor;
      const response = await request.fetch(request.url, { headers, signal: attempt.signal });
      answered = true;
      if (response.status === 204) return;
      if (response.ok && response.body && response.headers.get('content-type')?.startsWith('text/event-stream')) {
        // A load balancer's stand-in for a stream no replica could take is no open stream: only
        // its retry: is read (docs/api.md, "Through a load balancer").
        const standIn = response.headers.has(UNAVAILABLE_HEADER);
        if (!standIn) {
          token.opened();
          options.onOpen?.();
        }
        for await (const frame of frames(response.body, attempt, (ms) => {
          retryMs = ms;
        })) {
          failures = 0;
          cursor = frame.id;
          yield frame;
          if (request.isLast(frame)) return;
        }
        reason = standIn ? 'no replica could take the stream' : 'the server closed the stream before its end';
      } else if (response.ok) {
        throw new HeraldError(response.status, 'not_a_stream', `${request.url} did not answer with an event stream`);
      } else if (RETRYABLE.has(response.status)) {
        const refused = await errorOf(response);
        reason = `${refused.message} [HTTP ${response.status}]`;
        retryAfterMs = (refused.retryAfterSeconds ?? 0) * 1000;
      } else if (response.status === 401 && token.renewable) {
        const refused = await errorOf(response);
        if (refused.code !== 'token_expired') throw refused;
        // A token that had opened a stream expired while in use: a fresh one, at once.
        if (token.expired(refused)) continue;
        expired = refused;
        reason = `${refused.message} [HTTP 401]`;
      } else {
        throw await errorOf(response); // the same request would be refused again
      }
    } catch (error) {
      if (error instanceof HeraldError) throw error;
      if (options.signal?.aborted) throw options.signal.reason;
      if (attempt.idle) reason = `no data for ${attempt.idleTimeoutMs} ms`;
      else if (answered) reason = `connection lost: ${networkReason(error)}`;
      else reason = `cannot reach ${new URL(request.url).origin}: ${networkReason(error)}`;
    } finally {
      attempt.close(); // also when the caller stops early: frees the connection at once
    }
    failures += 1;
    if (failures > maxRetries) {
      if (expired) throw expired; // getToken keeps handing out expired tokens
      throw new HeraldError(0, 'gave_up', `gave up after ${failures} failed attempt${failures === 1 ? '' : 's'} in a row: ${reason}`);
    }
    // The server's retry: first (as EventSource does), doubling while failures go on; a
    // Retry-After asks for at least its own wait.
    const delayMs = Math.max(Math.min(retryMs * 2 ** (failures - 1), Math.max(maxBackoffMs, retryMs)), retryAfterMs);
    options.onReconnect?.({ attempt: failures, maxRetries, delayMs, reason });
    await sleep(delayMs, options.signal);
  }
}

/**
 * The stream's bearer when the caller gave `getToken`: fetched before the first connection and
 * after each `token_expired`; remembers whether it has opened a stream, which decides whether
 * its expiry costs an attempt.
 */
class RenewableToken {
  readonly #getToken: (() => Promise<string>) | undefined;
  #token: string | undefined;
  #hasOpened = false;
  /** The token just refused as expired, and that refusal: a getToken that hands it back ends the watch. */
  #spent: { token: string; refusal: HeraldError } | undefined;

  constructor(getToken: (() => Promise<string>) | undefined) {
    this.#getToken = getToken;
  }

  get renewable(): boolean {
    return this.#getToken !== undefined;
  }

  /**
   * Fetches a token when one is needed; getToken's own error ends the watch as it is, and so does
   * an abort while it has not answered (a hung backend must not hold the watch open).
   */
  async ready(signal: AbortSignal | undefined): Promise<void> {
    if (!this.#getToken || this.#token !== undefined) return;
    const token = await untilAborted(this.#getToken, signal);
    if (this.#spent && token === this.#spent.token) throw this.#spent.refusal;
    this.#token = token;
    this.#hasOpened = false;
  }

  header(): Record<string, string> {
    return this.#token === undefined ? {} : { Authorization: `Bearer ${this.#token}` };
  }

  opened(): void {
    this.#hasOpened = true;
  }

  /** The current token was refused as expired: whether it had opened a stream (then renewing costs no attempt). */
  expired(refusal: HeraldError): boolean {
    const hadOpened = this.#hasOpened;
    this.#spent = { token: this.#token!, refusal };
    this.#token = undefined;
    return hadOpened;
  }
}

/** One attempt's abort signal: the caller's, plus an idle watchdog re-armed by every chunk. */
class Attempt {
  readonly idleTimeoutMs: number;
  readonly signal: AbortSignal;
  idle = false;
  readonly #controller = new AbortController();
  #timer: ReturnType<typeof setTimeout> | undefined;

  constructor(idleTimeoutMs: number, outer: AbortSignal | undefined) {
    this.idleTimeoutMs = idleTimeoutMs;
    this.signal = outer ? AbortSignal.any([outer, this.#controller.signal]) : this.#controller.signal;
    this.touch();
  }

  touch(): void {
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      this.idle = true;
      this.#controller.abort(new Error('idle'));
    }, this.idleTimeoutMs);
  }

  close(): void {
    clearTimeout(this.#timer);
    this.#controller.abort(new Error('attempt over'));
  }
}

/** The body's frames, through eventsource-parser; a frame without an id or with bad JSON is Herald's bug, not a blip. */
async function* frames(body: ReadableStream<Uint8Array>, attempt: Attempt, onRetry: (ms: number) => void): AsyncGenerator<Frame> {
  const parsed: Frame[] = [];
  let invalid: string | undefined;
  const parser = createParser({
    maxBufferSize: MAX_EVENT_CHARS,
    onRetry,
    onEvent(message) {
      if (invalid !== undefined) return;
      if (!message.id) {
        invalid = 'it has no id, so it could not be resumed after';
        return;
      }
      try {
        parsed.push({ id: message.id, name: message.event, data: JSON.parse(message.data) });
      } catch {
        invalid = `its data is not JSON: ${message.data.slice(0, 200)}`;
      }
    },
    onError(error) {
      if (error.type === 'max-buffer-size-exceeded') invalid ??= `it is over ${MAX_EVENT_CHARS} characters`;
    },
  });
  const decoder = new TextDecoder();
  const reader = body.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      attempt.touch();
      parser.feed(decoder.decode(value, { stream: true }));
      if (invalid !== undefined) throw new HeraldError(0, 'invalid_event', `the server sent an invalid event: ${invalid}`);
      yield* parsed.splice(0);
    }
  } finally {
    await reader.cancel().catch(() => {}); // the caller stopped, or the attempt is over
  }
}
