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
 * What node:http does for the sockets it reads (_http_server.js, socketOnDrain): a response whose
 * write returned false is told when its socket has drained. Without it a stream's history stalls
 * at the first full socket buffer, its sender waiting for a 'drain' that never comes. The
 * response's `_flush` is node's own way to clear its pending drain and emit 'drain' (there is no
 * public one).
 */
function tellResponseDrained(this: Socket): void {
  const res = currentResponse(this) as (ServerResponse & { _flush(): void }) | null;
  if (res?.writableNeedDrain) res._flush();
}

/** A reset client: 'close' follows, and the response's 'close' does the rest. */
function closesAnyway(): void {}
