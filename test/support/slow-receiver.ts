import { createServer, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';

/**
 * How a slow webhook receiver answers, written byte by byte on a raw socket (node:http would not
 * let a test trickle a status line):
 * - `trickle-body`: `200 OK` and its headers at once, then a body byte every `everyMs`, never ending;
 * - `trickle-head`: the status line and headers a byte every `everyMs`, never finishing them;
 * - `late`: nothing for `delayMs`, then `200 OK` and the connection closed.
 */
export type SlowAnswer =
  | { readonly kind: 'trickle-body'; readonly everyMs: number }
  | { readonly kind: 'trickle-head'; readonly everyMs: number }
  | { readonly kind: 'late'; readonly delayMs: number };

/** One connection the receiver had: when it opened, and when it closed (null: still open). */
export interface SlowConnection {
  readonly openedAt: number;
  closedAt: number | null;
}

/**
 * A webhook receiver that answers slowly, on a loopback address of the test's choice
 * (127.0.0.x: each its own "host" for WEBHOOK_CONCURRENCY_PER_HOST), listed by the test in
 * WEBHOOK_ALLOWED_HOSTS. It only ever listens on 127.0.0.0/8.
 */
export class SlowReceiver {
  readonly connections: SlowConnection[] = [];
  /** The most connections it had open at once. */
  maxOpen = 0;
  readonly #server: Server;
  readonly #sockets = new Set<Socket>();
  readonly host: string;

  private constructor(server: Server, host: string) {
    this.#server = server;
    this.host = host;
  }

  static async start(host: string, answer: SlowAnswer): Promise<SlowReceiver> {
    if (!host.startsWith('127.')) throw new Error('a test receiver listens on loopback only');
    const server = createServer();
    const receiver = new SlowReceiver(server, host);
    server.on('connection', (socket) => {
      const connection: SlowConnection = { openedAt: Date.now(), closedAt: null };
      receiver.connections.push(connection);
      receiver.#sockets.add(socket);
      receiver.maxOpen = Math.max(receiver.maxOpen, receiver.#sockets.size);
      const timers: NodeJS.Timeout[] = [];
      socket.on('error', () => {});
      socket.on('close', () => {
        connection.closedAt = Date.now();
        receiver.#sockets.delete(socket);
        for (const timer of timers) clearInterval(timer);
      });
      let head = '';
      let answered = false;
      socket.on('data', (chunk: Buffer) => {
        head += chunk.toString('latin1');
        if (answered || !head.includes('\r\n\r\n')) return; // answers once the request's head is in
        answered = true;
        receiver.#answer(socket, answer, timers);
      });
    });
    await new Promise<void>((resolve) => server.listen(0, host, resolve));
    return receiver;
  }

  #answer(socket: Socket, answer: SlowAnswer, timers: NodeJS.Timeout[]): void {
    if (answer.kind === 'late') {
      timers.push(setTimeout(() => socket.end('HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n'), answer.delayMs));
      return;
    }
    let bytes: string;
    if (answer.kind === 'trickle-body') {
      socket.write('HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\n');
      bytes = '.'.repeat(1_000_000);
    } else {
      bytes = `HTTP/1.1 200 OK\r\n${'X-Slow: .\r\n'.repeat(10_000)}`;
    }
    let i = 0;
    timers.push(
      setInterval(() => {
        if (!socket.destroyed) socket.write(bytes[i++ % bytes.length]!);
      }, answer.everyMs),
    );
  }

  get port(): number {
    return (this.#server.address() as AddressInfo).port;
  }

  url(path = '/hook'): string {
    return `http://${this.host}:${this.port}${path}`;
  }

  /** Connections open now. */
  get open(): number {
    return this.#sockets.size;
  }

  async close(): Promise<void> {
    for (const socket of this.#sockets) socket.destroy();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}
