import type { Server } from 'node:http';
import type { Socket } from 'node:net';
import { bareExchange } from './bare-exchange.ts';
import { clientErrorResponse } from './errors.ts';
import { parseSimpleHead, type SimpleHead } from './simple-head.ts';

export interface BareConnections {
  /** Destroys the sockets node:http does not know (its own: `server.closeAllConnections()`). */
  destroyAll(): void;
}

/**
 * Makes every connection `server` accepts wait for its first bytes. When they are one plain
 * request head (http/simple-head.ts) that `wanted` takes, the request and its response are made
 * without node:http's parser (http/bare-exchange.ts) and go to the server's 'request' listeners
 * like any other; the connection closes after that response. Anything else goes to node:http's own
 * 'connection' listener with those bytes, as though just read, so everything node:http does
 * for a request — its limits, timeouts, errors, keep-alive — still happens there.
 */
export function takeBareConnections(server: Server, wanted: (head: SimpleHead) => boolean): BareConnections {
  const nodeListeners = server.listeners('connection');
  if (nodeListeners.length !== 1) throw new Error(`expected node:http's one 'connection' listener, found ${nodeListeners.length}`);
  const handToNode = nodeListeners[0] as (socket: Socket) => void;
  server.removeListener('connection', handToNode);

  /** Waiting for their first bytes, or serving their one response bare. */
  const bare = new Set<Socket>();
  // The listeners below are shared by every socket (`this`): nothing made per connection.
  function forget(this: Socket): void {
    bare.delete(this);
  }
  // Until its first bytes a socket is bounded by headersTimeout, as node:http bounds it, and
  // answered the same way.
  function silentTooLong(this: Socket): void {
    this.end(clientErrorResponse('ERR_HTTP_REQUEST_TIMEOUT'));
  }
  // The server is half-open (node:http's own choice, so it can finish an answer to a client that
  // has sent all it will): when the client ends its side, this ends ours, as node:http does.
  function clientEnded(this: Socket): void {
    this.end();
  }
  function firstBytes(this: Socket, chunk: Buffer): void {
    this.setTimeout(0);
    this.removeListener('timeout', silentTooLong);
    const head = parseSimpleHead(chunk);
    if (head && wanted(head)) {
      const { req, res } = bareExchange(this, head);
      server.emit('request', req, res);
      return;
    }
    bare.delete(this);
    this.removeListener('close', forget);
    this.removeListener('end', clientEnded);
    handToNode.call(server, this);
    // node:http reads what follows from the socket itself; these bytes it is given.
    this.emit('data', chunk);
  }
  server.on('connection', (socket: Socket) => {
    bare.add(socket);
    socket.once('close', forget);
    socket.once('end', clientEnded);
    socket.setTimeout(server.headersTimeout, silentTooLong);
    socket.once('data', firstBytes);
  });

  return {
    destroyAll() {
      for (const socket of bare) socket.destroy();
    },
  };
}
