import { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { MAX_SIMPLE_HEAD_BYTES, type SimpleHead } from './simple-head.ts';
import { currentResponse } from './socket-response.ts';

/**
 * The request and response node:http would make for `head`, on a socket whose bytes node:http
 * never read (front.ts): the same objects the stream route takes, without the parser node:http
 * keeps for each connection. The response is the connection's only one: it goes out with
 * `Connection: close`, and the socket ends when it is finished.
 */
export function bareExchange(socket: Socket, head: SimpleHead): { req: IncomingMessage; res: ServerResponse } {
  const req = new IncomingMessage(socket);
  req.method = head.method;
  req.url = head.url;
  req.httpVersionMajor = 1;
  req.httpVersionMinor = head.httpVersionMinor;
  req.httpVersion = `1.${head.httpVersionMinor}`;
  req.rawHeaders = head.rawHeaders;
  req.headers = head.headers;
  req.complete = true;
  req.push(null); // a GET without a body
  const res = new ServerResponse(req);
  res.shouldKeepAlive = false;
  // Emits the response's 'close' when the socket closes, as for any response.
  res.assignSocket(socket);
  res.once('finish', endSocket);
  // Keeps reading, so a client that goes away is noticed at once; what it sends is dropped.
  socket.on('data', dropAfterHead);
  socket.on('error', closesAnyway);
  socket.on('drain', tellResponseDrained);
  return { req, res };
}

// Shared by every bare connection (`this` is the response or the socket): nothing per watcher.

function endSocket(this: ServerResponse): void {
  this.socket?.destroySoon();
}

/** A client has nothing more to send on a stream; one that keeps sending is cut off. */
function dropAfterHead(this: Socket): void {
  if (this.bytesRead > 2 * MAX_SIMPLE_HEAD_BYTES) this.destroy();
}

/**
 * What node:http does for the sockets it reads (_http_server.js, socketOnDrain, alike in Node 22
 * to 26): a response whose write returned false is told when its socket has drained, its
 * need-drain flag cleared and 'drain' emitted. Without it a stream's history stalls at the first
 * full socket buffer, its sender waiting for a 'drain' that never comes. The flag is node's
 * `kNeedDrain` symbol, with no public setter. (The response's `_flush()` does this too on Node 24
 * and later, but on Node 22 only when the response itself holds queued output, which one with
 * its socket assigned never does: scripts/ci/node-matrix.sh found that.)
 */
function tellResponseDrained(this: Socket): void {
  const res = currentResponse(this);
  if (!res?.writableNeedDrain || res.writableLength !== 0) return;
  const flag = needDrainFlag(res);
  if (flag === null) {
    // A Node whose flag has another name: its own way to clear it (see above).
    (res as ServerResponse & { _flush(): void })._flush();
    return;
  }
  (res as unknown as Record<symbol, boolean>)[flag] = false;
  res.emit('drain');
}

/** node:http's `kNeedDrain`, found once on the first response that needs it (null: not there). */
let kNeedDrain: symbol | null | undefined;
function needDrainFlag(res: ServerResponse): symbol | null {
  if (kNeedDrain === undefined) kNeedDrain = Object.getOwnPropertySymbols(res).find((key) => key.description === 'kNeedDrain') ?? null;
  return kNeedDrain;
}

/** A reset client: 'close' follows, and the response's 'close' does the rest. */
function closesAnyway(): void {}
