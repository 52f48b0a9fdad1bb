import type { IncomingMessage, ServerResponse } from 'node:http';
import { REQUEST_ID_HEADER } from '../http/request-context.ts';
import { Backlog } from './backlog.ts';
import { SSE_HEADERS } from './frames.ts';

/** The request a stream was asked with: what auth/ and http/ read the caller and its id from. */
export type StreamRequest = IncomingMessage;

/**
 * What a watcher writes its client's events to. The stream's one seam with node:http: nothing
 * else in stream/ touches the response (biome.jsonc enforces it), so the watcher can be served
 * by another transport, or tested on any writer with a backlog.
 */
export interface StreamConnection {
  /** Writes the chunk; false when the socket is full (the backlog's clock then runs until it drains). */
  write(chunk: Buffer | string): boolean;
  /** Writes the chunk and, when that filled the socket, resolves once it drains (or closes): how catch-up is paced. */
  writePaced(chunk: Buffer | string): Promise<void>;
  /** Holds writes back until uncork, so several events in one tick leave in one syscall. */
  cork(): void;
  uncork(): void;
  /** Unsent bytes. */
  readonly backlogBytes: number;
  /** Since when the backlog has waited to drain (ms since the epoch; 0: it has not). */
  readonly backlogSince: number;
  /** Ends the stream once what is written has left. */
  end(): void;
  /** Drops the connection and whatever is still queued on it. */
  destroy(): void;
  /** `listener` runs once, when the connection closes, whoever closed it. */
  onClose(listener: () => void): void;
}

/** A connection before its stream opens: the stream route's answers other than the stream itself. */
export interface OpeningConnection extends StreamConnection {
  /** The client went away (nothing would tell it now: its 'close' has passed). */
  readonly closed: boolean;
  /** Sends the stream's head and its first frame. */
  open(requestId: string, first: string): void;
  /** 204: nothing more will ever come, which tells an EventSource not to reconnect. */
  noContent(requestId: string): void;
}

/**
 * A stream's connection over node:http's response. It is its own backlog (one object per
 * watcher, not two).
 */
export class ResponseConnection extends Backlog implements OpeningConnection {
  readonly #res: ServerResponse;

  constructor(res: ServerResponse) {
    super(res);
    this.#res = res;
  }

  get backlogBytes(): number {
    return this.bytes;
  }

  get backlogSince(): number {
    return this.since;
  }

  get closed(): boolean {
    return this.#res.destroyed;
  }

  cork(): void {
    this.#res.socket?.cork();
  }

  uncork(): void {
    this.#res.socket?.uncork();
  }

  end(): void {
    this.#res.end();
  }

  destroy(): void {
    this.#res.destroy();
  }

  onClose(listener: () => void): void {
    this.#res.once('close', listener);
  }

  open(requestId: string, first: string): void {
    const res = this.#res;
    res.socket?.setNoDelay(true);
    // Close-delimited rather than chunked: each event is one plain write of the shared buffer,
    // and the socket is freed as soon as the stream ends.
    res.useChunkedEncodingByDefault = false;
    res.shouldKeepAlive = false;
    res.writeHead(200, { ...SSE_HEADERS, [REQUEST_ID_HEADER]: requestId });
    res.write(first);
  }

  noContent(requestId: string): void {
    this.#res.writeHead(204, { [REQUEST_ID_HEADER]: requestId }).end();
  }
}
