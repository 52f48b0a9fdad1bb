import { setTimeout as sleep } from 'node:timers/promises';
import { createParser } from 'eventsource-parser';
import { isTerminal, jobEventSchema, type JobEvent } from '@herald/contract';
import { CliError, EXIT } from '../exit-codes.ts';
import { apiUrl, authorization, describeHttpError, describeNetworkError, jobPath, withHint } from '../http.ts';

export interface StreamedEvent {
  /** The event's SSE id (its Stream entry id): the cursor to resume after it. */
  readonly id: string;
  readonly event: JobEvent;
}

export interface Reconnect {
  /** 1 for the first failure in a row, up to `maxRetries`. */
  readonly attempt: number;
  readonly maxRetries: number;
  readonly delayMs: number;
  readonly reason: string;
}

export interface StreamOptions {
  readonly baseUrl: string;
  readonly jobId: string;
  /** A watch token or an API key, sent as `Authorization: Bearer` on every (re)connection. */
  readonly credential?: string;
  /** Added to the server's message for a 401 (how to pass a credential, when none was given). */
  readonly unauthorizedHint?: string;
  /** Failed attempts in a row (no event received) tolerated before giving up. */
  readonly maxRetries?: number;
  /** Reconnect delay until the server's `retry:` line says otherwise. */
  readonly initialRetryMs?: number;
  /** Ceiling for the doubling backoff, unless the server's `retry:` asks for longer. */
  readonly maxBackoffMs?: number;
  /**
   * No byte at all (the server sends a `:` heartbeat every HEARTBEAT_MS, 15 s by default) for
   * this long means a dead connection that TCP has not noticed: drop it and resume.
   */
  readonly idleTimeoutMs?: number;
  /** Aborting ends the generator with the signal's reason (Ctrl-C). */
  readonly signal?: AbortSignal;
  readonly onReconnect?: (reconnect: Reconnect) => void;
}

/** Statuses worth retrying: the replica is draining or full (503), rate limits, a proxy's 502/504. */
const RETRYABLE = new Set([429, 500, 502, 503, 504]);

/**
 * The job's events, in order, each once, across dropped connections. Every (re)connection sends
 * `Last-Event-ID` = the last id yielded, so the server (any replica) sends exactly the events
 * after it. Ends after the terminal event, or quietly on `204` (the cursor already is the
 * terminal event: nothing more will come). Throws CliError(4) for an HTTP error that retrying
 * cannot fix (404 unknown job, 400, 401/403 a refused credential) and when `maxRetries` attempts
 * in a row fail.
 */
export async function* streamEvents(options: StreamOptions): AsyncGenerator<StreamedEvent, void, undefined> {
  const url = apiUrl(options.baseUrl, `${jobPath(options.jobId)}/events`);
  const maxRetries = options.maxRetries ?? 5;
  const maxBackoffMs = options.maxBackoffMs ?? 10_000;
  let retryMs = options.initialRetryMs ?? 1000;
  let cursor: string | undefined;
  let failures = 0;

  for (;;) {
    let reason: string;
    let retryAfterMs = 0;
    let answered = false;
    const attempt = new AttemptGuard(options.idleTimeoutMs ?? 45_000, options.signal);
    try {
      const headers: Record<string, string> = { Accept: 'text/event-stream', ...authorization(options.credential) };
      if (cursor !== undefined) headers['Last-Event-ID'] = cursor;
      const response = await fetch(url, { headers, signal: attempt.signal });
      answered = true;
      if (response.status === 204) return;
      if (response.ok && !response.headers.get('content-type')?.startsWith('text/event-stream')) {
        // Something else answers at this URL (a web page, another API): retrying will not help.
        throw new CliError(`${url} did not answer with an event stream; is --url right?`, EXIT.server);
      }
      if (response.ok && response.body) {
        const events = parseEvents(response.body, options.jobId, attempt, (ms) => {
          retryMs = ms;
        });
        for await (const item of events) {
          failures = 0;
          cursor = item.id;
          yield item;
          if (isTerminal(item.event.status)) return;
        }
        reason = 'the server closed the stream before the job ended';
      } else if (RETRYABLE.has(response.status)) {
        reason = await describeHttpError(response);
        retryAfterMs = Number(response.headers.get('retry-after')) * 1000 || 0;
      } else {
        // 401/403 among them: the same credential would be refused again, so no retry.
        throw new CliError(withHint(await describeHttpError(response), response.status, options.unauthorizedHint), EXIT.server);
      }
    } catch (error) {
      if (error instanceof CliError) throw error;
      if (options.signal?.aborted) throw options.signal.reason;
      if (attempt.idle) reason = `no data for ${attempt.idleTimeoutMs} ms`;
      else if (answered) reason = `connection lost: ${describeNetworkError(error)}`;
      else reason = `cannot reach ${new URL(url).origin}: ${describeNetworkError(error)}`;
    } finally {
      attempt.close(); // also when the consumer stops early: frees the socket at once
    }

    failures += 1;
    if (failures > maxRetries) {
      throw new CliError(`gave up after ${failures} failed attempt${failures === 1 ? '' : 's'} in a row: ${reason}`, EXIT.server);
    }
    // The server's retry: hint first (as EventSource does), then doubling while failures go on.
    const backoff = Math.min(retryMs * 2 ** (failures - 1), Math.max(maxBackoffMs, retryMs));
    const delayMs = Math.max(backoff, retryAfterMs);
    options.onReconnect?.({ attempt: failures, maxRetries, delayMs, reason });
    await sleep(delayMs, undefined, options.signal ? { signal: options.signal } : {});
  }
}

/**
 * One attempt's abort signal: the caller's, plus an idle watchdog re-armed by every chunk
 * (and covering the wait for headers), so a silently dead connection cannot hang the watch.
 */
class AttemptGuard {
  readonly idleTimeoutMs: number;
  readonly signal: AbortSignal;
  idle = false;
  readonly #controller = new AbortController();
  #timer: NodeJS.Timeout | undefined;

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

const MAX_EVENT_CHARS = 8 * 1024 * 1024;

/** The SSE body through eventsource-parser, each event's data checked against the shared schema. */
async function* parseEvents(
  body: ReadableStream<Uint8Array>,
  jobId: string,
  attempt: AttemptGuard,
  onRetry: (ms: number) => void,
): AsyncGenerator<StreamedEvent> {
  const parsed: StreamedEvent[] = [];
  let invalid: string | undefined;
  const parser = createParser({
    // A done event carries the summary (at most MAX_TEXT_CHARS); far more than that is no event.
    maxBufferSize: MAX_EVENT_CHARS,
    onRetry,
    onEvent(message) {
      invalid ??= validate(message.id, message.data, jobId, parsed);
    },
    onError(error) {
      if (error.type === 'max-buffer-size-exceeded') invalid ??= `it is over ${MAX_EVENT_CHARS} characters`;
    },
  });
  for await (const chunk of body.pipeThrough(new TextDecoderStream())) {
    attempt.touch();
    parser.feed(chunk);
    // A malformed event is a server bug, not a network blip: retrying would get it again.
    if (invalid !== undefined) throw new CliError(`the server sent an invalid event: ${invalid}`, EXIT.server);
    yield* parsed.splice(0);
  }
}

function validate(id: string | undefined, data: string, jobId: string, into: StreamedEvent[]): string | undefined {
  if (!id) return 'it has no id, so it could not be resumed after';
  let json: unknown;
  try {
    json = JSON.parse(data);
  } catch {
    return `its data is not JSON: ${data.slice(0, 200)}`;
  }
  const result = jobEventSchema.safeParse(json);
  if (!result.success) return result.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`).join('; ');
  if (result.data.jobId !== jobId) return `it belongs to job ${result.data.jobId}`;
  into.push({ id, event: result.data });
  return undefined;
}
