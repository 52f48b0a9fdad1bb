import type { Server } from 'node:http';
import type { Socket } from 'node:net';
import { bareExchange } from './bare-exchange.ts';
import { clientErrorResponse } from '../errors.ts';
import { MAX_SIMPLE_HEAD_BYTES, parseSimpleHead, type SimpleHead } from './simple-head.ts';

export interface BareConnections {
  /** Destroys the sockets node:http does not know (its own: `server.closeAllConnections()`). */
  destroyAll(): void;
}

/** A head that did not come in one chunk: its bytes so far. Made only for such heads. */
interface PartHead {
  readonly chunks: Buffer[];
  length: number;
  /** How many bytes of the head's end (CR LF CR LF) the bytes so far end with: the scan goes on from there. */
  matched: number;
}

const GET = Buffer.from('GET ', 'latin1');
/** The most reads a head may come in before it is left to node:http (see headBytes). */
const MAX_HEAD_PIECES = 32;
const HEAD_END = Buffer.from('\r\n\r\n', 'latin1');

/**
 * Makes every connection `server` accepts wait for its first request head (up to
 * MAX_SIMPLE_HEAD_BYTES, however many chunks it takes, within headersTimeout). When it is a
 * plain head (http/bare/simple-head.ts) that `wanted` takes, the request and its response are made
 * without node:http's parser (http/bare/bare-exchange.ts) and go to the server's 'request' listeners
 * like any other; the connection serves that one request, and whatever the client sends after
 * the head is read and dropped. Anything else goes to node:http's own 'connection' listener
 * with the bytes read so far, as though just read, so everything node:http does for a request —
 * its limits, timeouts, errors, keep-alive — still happens there. A connection whose first bytes
 * cannot begin a `GET ` goes to node:http at once.
 */
export function takeBareConnections(server: Server, wanted: (head: SimpleHead) => boolean): BareConnections {
  const nodeListeners = server.listeners('connection');
  if (nodeListeners.length !== 1) throw new Error(`expected node:http's one 'connection' listener, found ${nodeListeners.length}`);
  const handToNode = nodeListeners[0] as (socket: Socket) => void;
  server.removeListener('connection', handToNode);

  /** Waiting for their head, by when they connected (ms). */
  const waiting = new Map<Socket, number>();
  /** Those of them whose head has come in part. */
  const parts = new Map<Socket, PartHead>();
  /** Serving their one response bare. */
  const serving = new Set<Socket>();

  // The listeners below are shared by every socket (`this`): nothing made per connection.
  function forget(this: Socket): void {
    waiting.delete(this);
    parts.delete(this);
    serving.delete(this);
  }
  // Until its head is in, a socket is bounded by headersTimeout from its connection, as
  // node:http bounds it, and answered the same way.
  function tooSlow(this: Socket): void {
    stopWaiting(this);
    this.end(clientErrorResponse('ERR_HTTP_REQUEST_TIMEOUT'));
  }
  // The server is half-open (node:http's own choice, so it can finish an answer to a client that
  // has sent all it will): when the client ends its side, this ends ours, as node:http does.
  function clientEnded(this: Socket): void {
    this.end();
  }
  // node:http's own 'error' listener is added only when it takes the socket (toNode); until then
  // a reset (ECONNRESET) with no listener would throw and take the process down. 'close' follows
  // an error, and does the rest.
  function closesAnyway(): void {}
  function stopWaiting(socket: Socket): void {
    socket.setTimeout(0);
    socket.removeListener('timeout', tooSlow);
    socket.removeListener('data', headBytes);
    waiting.delete(socket);
    parts.delete(socket);
  }
  function toNode(socket: Socket, bytes: readonly Buffer[]): void {
    stopWaiting(socket);
    socket.removeListener('close', forget);
    socket.removeListener('end', clientEnded);
    handToNode.call(server, socket);
    socket.removeListener('error', closesAnyway); // node:http's own listens now
    // node:http reads what follows from the socket itself; these bytes it is given.
    for (const chunk of bytes) socket.emit('data', chunk);
  }
  function headBytes(this: Socket, chunk: Buffer): void {
    const part = parts.get(this);
    const before = part?.length ?? 0;
    if (!couldStartGet(chunk, before)) {
      toNode(this, part ? [...part.chunks, chunk] : [chunk]);
      return;
    }
    const matched = part?.matched ?? 0;
    const end = headEnd(chunk, matched);
    if (end < 0) {
      // Not the whole head yet: one too long for the plain reader is node:http's (431 or other).
      if (before + chunk.length >= MAX_SIMPLE_HEAD_BYTES) {
        toNode(this, part ? [...part.chunks, chunk] : [chunk]);
        return;
      }
      const left = (waiting.get(this) ?? 0) + server.headersTimeout - Date.now();
      if (left <= 0) {
        tooSlow.call(this);
        return;
      }
      // The socket's timeout is one of inactivity: set it to what is left of the head's time.
      this.setTimeout(left);
      const next = part ?? { chunks: [], length: 0, matched: 0 };
      // A head trickled in many tiny reads would cost far more than its bytes (a Buffer each):
      // past a few dozen pieces it is node:http's, whose parser keeps no chunks.
      if (next.chunks.length >= MAX_HEAD_PIECES) {
        toNode(this, [...next.chunks, chunk]);
        return;
      }
      next.chunks.push(chunk);
      next.length += chunk.length;
      next.matched = endMatched(chunk, matched);
      parts.set(this, next);
      return;
    }
    const bytes = part ? Buffer.concat([...part.chunks, chunk]) : chunk;
    const head = parseSimpleHead(bytes.subarray(0, before + end));
    if (!head || !wanted(head)) {
      toNode(this, [bytes]);
      return;
    }
    stopWaiting(this);
    serving.add(this);
    // The connection serves this one request: bytes after the head (a pipelined request) are
    // dropped, as all that follows is (bare-exchange.ts).
    const { req, res } = bareExchange(this, head);
    server.emit('request', req, res);
  }
  server.on('connection', (socket: Socket) => {
    waiting.set(socket, Date.now());
    socket.once('close', forget);
    socket.once('end', clientEnded);
    socket.setTimeout(server.headersTimeout, tooSlow);
    socket.on('error', closesAnyway);
    socket.on('data', headBytes);
  });

  return {
    destroyAll() {
      for (const socket of waiting.keys()) socket.destroy();
      for (const socket of serving) socket.destroy();
    },
  };
}

/** Whether `chunk`, coming `offset` bytes into the connection, agrees with a request starting `GET `. */
function couldStartGet(chunk: Buffer, offset: number): boolean {
  for (let i = 0; offset + i < GET.length && i < chunk.length; i += 1) {
    if (chunk[i] !== GET[offset + i]) return false;
  }
  return true;
}

/**
 * Where the head ends in `chunk` (just after its CR LF CR LF), the bytes before it having ended
 * with `matched` bytes of that; -1 when it does not end in `chunk`. One pass over the bytes.
 */
function headEnd(chunk: Buffer, matched: number): number {
  let state = matched;
  for (let i = 0; i < chunk.length; i += 1) {
    state = nextMatched(state, chunk[i]!);
    if (state === HEAD_END.length) return i + 1;
  }
  return -1;
}

/** How many bytes of CR LF CR LF the bytes end with after `chunk` (in which the head does not end). */
function endMatched(chunk: Buffer, matched: number): number {
  let state = matched;
  for (let i = 0; i < chunk.length; i += 1) state = nextMatched(state, chunk[i]!);
  return state;
}

/** CR LF CR LF matched so far, after one more byte: a CR that breaks a match starts a new one. */
const nextMatched = (state: number, byte: number): number => (byte === HEAD_END[state] ? state + 1 : byte === 13 ? 1 : 0);
