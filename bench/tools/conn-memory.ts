import { fork } from 'node:child_process';
import { once } from 'node:events';
import { createServer as createHttpServer } from 'node:http';
import { connect, createServer as createNetServer, type Server, type Socket } from 'node:net';
import { parseArgs } from 'node:util';
import { takeBareConnections } from '../../apps/api/src/http/bare/bare-connections.ts';
import { rssKB } from '../lib/proc.ts';

// What one idle SSE connection costs a Node process, piece by piece (issue 18): the same N
// connections held by servers that keep more and more of what Herald keeps. Each server runs in
// its own process (`--server <kind>`); this process connects with raw sockets (a GET and nothing
// else) and reads the server's RSS, after a GC, before and after. Loopback only; bounded.
//
//   node bench/tools/conn-memory.ts [--connections 10000]

const KINDS = {
  /** A raw socket that got the SSE head: what the kernel and libuv hold, and a JS Socket. */
  net: 'raw node:net, the head written',
  /** node:http with the response open: IncomingMessage, ServerResponse, the parser, the timers. */
  http: 'node:http, the response open',
  /** As `http`, with the server's per-socket timeouts off (headersTimeout, requestTimeout, keep-alive). */
  'http-no-timeouts': 'node:http, its timeouts off',
  /** As `http`, with what a Herald stream adds around it: close listeners, a watcher object, a WeakMap entry. */
  'http-watcher': 'node:http, with a watcher and its listeners',
  /** As `http-watcher`, the request read without node:http's parser (Herald's front: http/bare/bare-connections.ts). */
  'bare-watcher': 'the same, the request read without node:http’s parser',
} as const;
type Kind = keyof typeof KINDS;

const { values: args } = parseArgs({
  options: { connections: { type: 'string', default: '10000' }, server: { type: 'string' } },
});

const HEAD = 'HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n\r\nretry: 3000\n\n';

function serve(kind: Kind): void {
  const held: unknown[] = [];
  const contexts = new WeakMap<object, object>();
  let server: Server;
  if (kind === 'net') {
    server = createNetServer((socket: Socket) => {
      socket.once('data', () => socket.write(HEAD));
      held.push(socket);
    });
  } else {
    const http = createHttpServer((req, res) => {
      res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache' });
      res.write('retry: 3000\n\n');
      if (kind === 'http-watcher' || kind === 'bare-watcher') {
        const watcher = { res, position: { ms: 0, seq: 0 }, held: null, ended: false };
        contexts.set(req, { reqId: 'x'.repeat(36), started: performance.now() });
        res.once('close', () => {
          watcher.ended = true;
        });
        res.once('close', () => contexts.delete(req));
        held.push(watcher);
      } else {
        held.push(res);
      }
    });
    if (kind === 'bare-watcher') takeBareConnections(http, () => true);
    if (kind !== 'http') {
      http.headersTimeout = 0;
      http.requestTimeout = 0;
      http.keepAliveTimeout = 0;
    }
    server = http;
  }
  server.listen(0, '127.0.0.1', () => {
    const { port } = server.address() as { port: number };
    process.send?.({ port });
  });
  process.on('message', () => {
    globalThis.gc?.();
    setTimeout(() => {
      globalThis.gc?.();
      process.send?.({ held: held.length });
    }, 200);
  });
}

async function measure(kind: Kind, count: number): Promise<number> {
  const child = fork(new URL(import.meta.url), ['--server', kind], {
    execArgv: ['--expose-gc', '--disable-warning=ExperimentalWarning', '--max-semi-space-size=8'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const [{ port }] = (await once(child, 'message')) as [{ port: number }];
  const settle = async (): Promise<number> => {
    child.send('gc');
    await once(child, 'message');
    return rssKB(child.pid!);
  };
  const before = await settle();
  const sockets: Socket[] = [];
  for (let i = 0; i < count; i += 1) {
    const socket = connect(port, '127.0.0.1');
    socket.write(`GET /v1/jobs/j/events HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n`);
    socket.on('data', () => {});
    sockets.push(socket);
    if (i % 500 === 499) await new Promise((resolve) => setTimeout(resolve, 20));
  }
  await new Promise((resolve) => setTimeout(resolve, 1500));
  const after = await settle();
  for (const socket of sockets) socket.destroy();
  child.kill();
  return (after - before) / count;
}

if (args.server) {
  serve(args.server as Kind);
} else {
  const count = Number(args.connections);
  console.log(`| server (${count.toLocaleString()} idle SSE connections) | RSS per connection |\n|---|---|`);
  for (const kind of Object.keys(KINDS) as Kind[]) {
    console.log(`| ${KINDS[kind]} | ${(await measure(kind, count)).toFixed(2)} KB |`);
  }
  process.exit(0);
}
