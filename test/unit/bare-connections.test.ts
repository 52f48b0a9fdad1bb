import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { takeBareConnections } from '../../apps/api/src/http/bare/bare-connections.ts';

// The front's connection split (http/bare/bare-connections.ts) on a plain node:http server: requests
// to /bare/… are read without node:http's parser, everything else by node:http.

let server: Server;
let port: number;
/** Each request the server's handler saw, and whether node:http's parser read it. */
let seen: { url: string; headers: IncomingMessage['headers']; parsed: boolean; res: ServerResponse }[];

beforeEach(async () => {
  seen = [];
  server = createServer((req, res) => {
    seen.push({ url: req.url!, headers: req.headers, parsed: Boolean((req.socket as Socket & { parser?: unknown }).parser), res });
    if (req.url === '/bare/big') {
      // Writes until the socket is full, then once more after its 'drain'. Close-delimited, as
      // a stream is (chunked writes go through node's cork/uncork, which emits 'drain' itself).
      res.useChunkedEncodingByDefault = false;
      res.writeHead(200);
      const chunk = Buffer.alloc(64 * 1024, 'x');
      while (res.write(chunk));
      res.once('drain', () => res.end(`drained, still needs drain: ${res.writableNeedDrain}`));
      return;
    }
    if (req.url === '/bare/open') {
      res.writeHead(200, { 'Content-Type': 'text/event-stream' });
      res.write('retry: 1000\n\n');
      return;
    }
    let body = '';
    req.on('data', (chunk: Buffer) => {
      body += chunk.toString();
    });
    req.on('end', () => res.end(`${req.method} ${req.url} ${body}`));
  });
  takeBareConnections(server, (head) => head.url.startsWith('/bare/'));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  port = (server.address() as AddressInfo).port;
});
afterEach(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

/** A raw client: writes `parts` 30 ms apart, collects what it reads, notes when it closes. */
async function client(parts: string[]): Promise<{ socket: Socket; text: () => string; closed: Promise<void> }> {
  const socket = connect(port, '127.0.0.1');
  let text = '';
  socket.setEncoding('latin1').on('data', (chunk: string) => {
    text += chunk;
  });
  const closed = once(socket, 'close').then(() => undefined);
  for (const part of parts) {
    socket.write(part);
    await new Promise((resolve) => setTimeout(resolve, 30));
  }
  return { socket, text: () => text, closed };
}

const until = async (check: () => boolean): Promise<void> => {
  for (let waited = 0; !check(); waited += 10) {
    if (waited > 2000) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
};

describe('takeBareConnections', () => {
  it('serves a wanted request without node:http’s parser, with Connection: close, and closes after the answer', async () => {
    const c = await client(['GET /bare/done HTTP/1.1\r\nHost: x\r\nX-Thing:  a b \r\n\r\n']);
    await c.closed;
    expect(seen).toMatchObject([{ url: '/bare/done', headers: { host: 'x', 'x-thing': 'a b' }, parsed: false }]);
    expect(c.text()).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    expect(c.text()).toContain('\r\nConnection: close\r\n');
    expect(c.text().endsWith('\r\n\r\nGET /bare/done ')).toBe(true);
  });

  it('hands anything else to node:http with its first bytes: keep-alive, bodies and split heads work as before', async () => {
    const c = await client([
      'POST /other HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhel',
      'lo',
      'GET /bare/split HTTP/1.1\r\nHo',
      'st: x\r\n\r\n',
    ]);
    await until(() => seen.length === 2 && c.text().includes('GET /bare/split'));
    expect(seen.map(({ url, parsed }) => [url, parsed])).toEqual([
      ['/other', true],
      ['/bare/split', true],
    ]);
    expect(c.text()).toContain('POST /other hello');
    c.socket.destroy();
  });

  it('a stream read bare ends when its client ends its side, and its response says close', async () => {
    const c = await client(['GET /bare/open HTTP/1.1\r\nHost: x\r\n\r\n']);
    await until(() => c.text().includes('retry: 1000'));
    const closed = once(seen[0]!.res, 'close');
    c.socket.end();
    await closed;
    await c.closed;
    expect(seen[0]!.res.destroyed).toBe(true);
  });

  it('tells a bare response when its socket has drained, as node:http does', async () => {
    const c = await client(['GET /bare/big HTTP/1.1\r\nHost: x\r\n\r\n']);
    await c.closed;
    expect(seen.map(({ url, parsed }) => [url, parsed])).toEqual([['/bare/big', false]]);
    expect(c.text()).toContain('drained, still needs drain: false');
  });

  it('reads a head that comes in parts without node:http’s parser too', async () => {
    const c = await client(['GE', 'T /bare/done HTTP/1.1\r', '\nHost: x\r\n\r', '\n']);
    await c.closed;
    expect(seen.map(({ url, parsed }) => [url, parsed])).toEqual([['/bare/done', false]]);
    expect(c.text().endsWith('\r\n\r\nGET /bare/done ')).toBe(true);
  });

  it('serves a stream’s connection that one request: what is pipelined behind its head never runs', async () => {
    const pipelined = 'DELETE /other HTTP/1.1\r\nHost: x\r\n\r\n';
    // In the head's chunk, and in a later one.
    const sameChunk = await client([`GET /bare/open HTTP/1.1\r\nHost: x\r\n\r\n${pipelined}`]);
    const laterChunk = await client(['GET /bare/open HTTP/1.1\r\nHost: x\r\n\r\n', pipelined]);
    await until(() => sameChunk.text().includes('retry: 1000') && laterChunk.text().includes('retry: 1000'));
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(seen.map(({ url, parsed }) => [url, parsed])).toEqual([
      ['/bare/open', false],
      ['/bare/open', false],
    ]);
    for (const c of [sameChunk, laterChunk]) {
      expect(c.text().match(/HTTP\/1\.1 /g)).toHaveLength(1);
      c.socket.destroy();
    }
  });

  it('hands a connection whose first bytes cannot begin a GET to node:http at once', async () => {
    const c = await client(['POST /bare/x HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n', 'hi']);
    await until(() => c.text().includes('POST /bare/x hi'));
    expect(seen.map(({ url, parsed }) => [url, parsed])).toEqual([['/bare/x', true]]);
    c.socket.destroy();
  });

  it('answers a head still incomplete after headersTimeout with node:http’s 408, however steadily it trickles in', async () => {
    server.headersTimeout = 300;
    const started = performance.now();
    const c = await client(['GET /bare/done HTTP/1.1\r\n', ...Array.from({ length: 20 }, () => 'X: y\r\n')]);
    await until(() => c.text() !== '');
    expect(c.text()).toMatch(/^HTTP\/1\.1 408 Request Timeout\r\n/);
    // Each part came 30 ms after the last: an idle timeout alone would never have fired.
    expect(performance.now() - started).toBeGreaterThanOrEqual(300);
    expect(seen).toEqual([]);
    c.socket.destroy();
  });

  it('survives clients that reset their connection before their head or in the middle of it', async () => {
    // Until node:http takes a socket nothing of its own listens for the socket's errors: a reset
    // with no listener would throw and end the process (the review's one-packet crash).
    for (const parts of [[], ['GET /bare/open HTTP/1.1\r\n'], ['POST /x HTTP/1.1\r\nHo']]) {
      const c = await client(parts);
      c.socket.resetAndDestroy();
      await c.closed;
    }
    await new Promise((resolve) => setTimeout(resolve, 50)); // the server reads the resets
    const after = await client(['GET /node HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n']);
    await after.closed;
    expect(after.text()).toMatch(/^HTTP\/1\.1 200 OK\r\n[\s\S]*GET \/node $/);
  });

  it('leaves a head that trickles in more than 32 reads to node:http, whose parser keeps no pieces', async () => {
    const c = await client(['GET /bare/done HTTP/1.1\r\n', ...Array.from({ length: 40 }, (_, i) => `X-${i}: y\r\n`), 'Host: x\r\n\r\n']);
    await until(() => seen.length === 1);
    expect(seen[0]).toMatchObject({ url: '/bare/done', parsed: true });
    c.socket.destroy();
  });

  it('answers a socket that sends nothing within headersTimeout with node:http’s 408', async () => {
    server.headersTimeout = 200;
    const c = await client([]);
    await until(() => c.text() !== '');
    expect(c.text()).toMatch(/^HTTP\/1\.1 408 Request Timeout\r\n/);
    c.socket.destroy();
  });
});
