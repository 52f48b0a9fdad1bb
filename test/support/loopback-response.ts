import { createServer, type Server, type ServerResponse } from 'node:http';
import { connect, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';

/**
 * A real ServerResponse on loopback, with the raw client socket on the other end under the
 * test's control: it can stop reading (a slow client), go away, or read what was written. For
 * unit tests of what writes to a response, with Node's own backpressure and close events.
 */
export interface LoopbackResponse {
  readonly res: ServerResponse;
  readonly client: Socket;
  /** Everything the client has read so far, headers included. */
  received(): string;
  /** The body: what came after the response's head. */
  body(): string;
  /** Resolves once the server side has ended or destroyed the connection. */
  readonly closedByServer: Promise<void>;
}

export interface LoopbackServer {
  open(): Promise<LoopbackResponse>;
  close(): Promise<void>;
}

export async function loopbackServer(): Promise<LoopbackServer> {
  const waiting: ((res: ServerResponse) => void)[] = [];
  const server: Server = createServer((_req, res) => waiting.shift()?.(res));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const clients = new Set<Socket>();
  return {
    async open() {
      const gotResponse = new Promise<ServerResponse>((resolve) => waiting.push(resolve));
      const client = connect(port, '127.0.0.1');
      clients.add(client);
      let text = '';
      client.setEncoding('utf8').on('data', (chunk: string) => {
        text += chunk;
      });
      const closedByServer = new Promise<void>((resolve) => {
        client.once('end', resolve);
        client.once('close', resolve);
      });
      client.on('error', () => {});
      client.write('GET /stream HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
      const res = await gotResponse;
      return {
        res,
        client,
        received: () => text,
        body: () => {
          const head = text.indexOf('\r\n\r\n');
          return head < 0 ? '' : text.slice(head + 4);
        },
        closedByServer,
      };
    },
    async close() {
      for (const client of clients) client.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

/** Waits until `predicate` holds, checking every few ms; fails after `timeoutMs`. */
export async function until(predicate: () => boolean, timeoutMs = 5000, what = 'a condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}
