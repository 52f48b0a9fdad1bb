import { createServer, type IncomingMessage, type Server, type ServerOptions, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { once } from 'node:events';
import type { Logger } from '@herald/shared';
import { badRequest, clientErrorResponse, routeNotFound, writeError } from './http/errors.ts';
import { takeBareConnections } from './http/bare/bare-connections.ts';
import type { Middleware } from './http/edge-headers.ts';
import { REQUEST_ID_HEADER, beginRequest, requestLogger } from './http/request-context.ts';
import { currentResponse } from './http/bare/socket-response.ts';
import { ResponseConnection } from './stream/connection.ts';
import type { EventStream } from './stream/event-stream.ts';
import { matchEventsRoute } from './stream/events-route.ts';

/** A (req, res, done) handler: what an Express app also is, though its typings only show Express's types. */
export type RequestHandler = (req: IncomingMessage, res: ServerResponse, done: (error?: unknown) => void) => void;

export interface FrontDeps {
  /** Every route but the event stream (routes/app.ts). */
  readonly app: RequestHandler;
  readonly stream: EventStream;
  /** CORS for the stream (http/edge-headers.ts). */
  readonly streamEdge: Middleware;
  readonly logger: Logger;
  /**
   * STREAM_READER: `bare` reads a plain event-stream head without node:http's parser
   * (http/bare/), `node` leaves every request to node:http.
   */
  readonly reader: 'bare' | 'node';
}

export interface Front {
  readonly server: Server;
  readonly draining: boolean;
  /** Listens; resolves to the port. */
  listen(port: number, host: string): Promise<number>;
  /**
   * Drains: stops listening, lets `endStreams` tell the watchers to go, then closes every
   * connection as soon as the last in-flight request is answered, or after `graceMs`.
   */
  close(graceMs: number, endStreams: () => void): Promise<void>;
}

/**
 * How the front configures node:http's server (and so its parser); test/unit/simple-head.test.ts
 * reads heads with a server made the same way. Timeouts are checked every second, not Node's
 * default 30 s, so a slow-loris client is cut close to headersTimeout/requestTimeout rather than
 * half a minute later. HTTP/1.1 requires a Host header; Node's own check answers without a body,
 * ours (below) in JSON.
 */
export const NODE_HTTP_OPTIONS = { connectionsCheckingInterval: 1000, requireHostHeader: false } as const satisfies ServerOptions;

/**
 * Where every request enters: the raw node:http server. It gives each request its id, answers
 * what must not reach a route (no Host on HTTP/1.1, what Node's parser refuses), sends the event
 * stream to the stream route — beside Express rather than through it: a watcher holds its
 * request for minutes, and the router's per-request state would be held with it — and
 * everything else to Express. It also bounds how long a client may take to send its request,
 * and knows which requests are in flight, so a drain ends as soon as they are answered.
 */
export function createFront({ app, stream, streamEdge, logger, reader }: FrontDeps): Front {
  let draining = false;
  let inflight = 0;
  /** Connections node:http read a stream's request from (a bare one reads nothing after its head). */
  const streamSockets = new WeakSet<Socket>();

  const server = createServer(NODE_HTTP_OPTIONS, (req, res) => {
    // A request pipelined behind a response that closes the connection (a stream's, among
    // others) could never be answered: it does not run. node:http read it (bare-connections.ts
    // leaves heads it cannot read plainly to node:http) and would run it without an answer.
    // Nothing more is read from that connection (the stream's client is noticed gone when a
    // heartbeat fails instead).
    const current = currentResponse(req.socket);
    if (streamSockets.has(req.socket) || (current !== null && current !== res && !current.shouldKeepAlive)) {
      req.socket.pause();
      return;
    }
    trackInflight(res);
    const reqId = beginRequest(req, res, logger);
    const log = (): Logger => requestLogger(req, logger);
    const eventsRequest = matchEventsRoute(req);
    // The stream writes its id with its own headers (request-context.ts says why).
    if (!eventsRequest) res.setHeader(REQUEST_ID_HEADER, reqId);
    // A stream's connection serves it alone (docs/api.md), refused or not, however it was read;
    // what is pipelined behind it never runs, even while an earlier response still goes out.
    else {
      res.shouldKeepAlive = false;
      streamSockets.add(req.socket);
    }
    if (req.httpVersion === '1.1' && !req.headers.host) {
      res.setHeader(REQUEST_ID_HEADER, reqId);
      res.shouldKeepAlive = false;
      writeError(res, badRequest('The Host header is required'), () => {});
      return;
    }
    if (!eventsRequest) {
      // The final handler: a URL Express cannot route at all still gets the JSON 404.
      app(req, res, (error) => writeError(res, error ?? routeNotFound(), (err) => log().error({ err }, 'request failed')));
      return;
    }
    const failed = (error: unknown): void => {
      if (!res.headersSent) res.setHeader(REQUEST_ID_HEADER, reqId);
      writeError(res, error, (err) =>
        log().error({ err, [eventsRequest.kind === 'batch' ? 'batchId' : 'jobId']: eventsRequest.id.slice(0, 100) }, 'event stream failed'),
      );
    };
    streamEdge(req, res, (error) => {
      if (error !== undefined) failed(error);
      else stream.handle(req, new ResponseConnection(res), eventsRequest).catch(failed);
    });
  });
  // A bad request gets its error answer, unless a response is already going out on that
  // connection (an event stream's, say): an answer then would land inside its body, so the
  // connection is closed instead, as node:http's own default does.
  server.on('clientError', (error: NodeJS.ErrnoException, socket: Socket) => {
    if (socket.writable && !socket.writableEnded && !currentResponse(socket)?.headersSent) socket.end(clientErrorResponse(error.code));
    else socket.destroy();
  });
  // A plain event-stream request is served without node:http's parser, which would be held for
  // the stream's whole life: about half of what a watcher costs (docs/benchmarks.md). That
  // reader leans on node:http's internals; STREAM_READER=node turns it off.
  const bare = reader === 'bare' ? takeBareConnections(server, (head) => matchEventsRoute(head) !== null) : null;
  const closeAllConnections = (): void => {
    server.closeAllConnections();
    bare?.destroyAll();
  };
  // In-flight requests, so a drain can close every socket as soon as the last one is answered
  // (closeIdleConnections alone leaves sockets that never sent a request, e.g. pre-connects).
  function trackInflight(res: ServerResponse): void {
    inflight += 1;
    res.once('close', () => {
      inflight -= 1;
      if (draining && inflight === 0) closeAllConnections();
    });
  }

  // Both bound how long a client may take to *send* its request (slow-loris), not how long a
  // response may last: an SSE stream's request is complete before its first event.
  server.headersTimeout = 10_000;
  server.requestTimeout = 30_000;
  server.keepAliveTimeout = 5_000;

  return {
    server,
    get draining() {
      return draining;
    },
    async listen(port, host) {
      server.listen(port, host);
      await once(server, 'listening');
      return (server.address() as AddressInfo).port;
    },
    async close(graceMs, endStreams) {
      draining = true;
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      endStreams();
      const grace = setTimeout(closeAllConnections, graceMs);
      if (inflight === 0) closeAllConnections();
      await closed;
      clearTimeout(grace);
    },
  };
}
