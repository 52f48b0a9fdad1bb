import { connect, type Socket } from 'node:net';

/**
 * A stream client on a raw socket that sends its request, takes the first bytes of the answer
 * and then stops reading (a stalled or hostile reader), until `resume`. Its head goes in two
 * writes, so node:http's parser serves it (the one-write "bare" path is another test's).
 */
export interface StalledReader {
  readonly socket: Socket;
  /** The client's port: the server's socket for it has this remotePort. */
  readonly port: number;
  /** Everything read so far. */
  received(): Buffer;
  /** Reads again, to the end; resolves with everything read once the server closes. */
  resume(): Promise<Buffer>;
  readonly closed: Promise<void>;
}

export async function stalledReader(baseUrl: string, path: string, headers: Record<string, string> = {}): Promise<StalledReader> {
  const { port } = new URL(baseUrl);
  const socket = connect(Number(port), '127.0.0.1');
  socket.on('error', () => {});
  const chunks: Buffer[] = [];
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  await new Promise((resolve) => socket.once('connect', resolve));
  const extra = Object.entries(headers)
    .map(([name, value]) => `${name}: ${value}\r\n`)
    .join('');
  // Without Nagle, and far enough apart that the replica reads the first part alone.
  socket.setNoDelay(true);
  socket.write(`GET ${path} HTTP/1.1\r\n`);
  await new Promise((resolve) => setTimeout(resolve, 50));
  socket.write(`Host: test\r\nAccept: text/event-stream\r\n${extra}\r\n`);
  await new Promise<void>((resolve) =>
    socket.once('data', (chunk: Buffer) => {
      chunks.push(chunk);
      socket.pause();
      resolve();
    }),
  );
  return {
    socket,
    port: socket.localPort!,
    received: () => Buffer.concat(chunks),
    async resume() {
      socket.on('data', (chunk: Buffer) => chunks.push(chunk));
      socket.resume();
      await closed;
      return Buffer.concat(chunks);
    },
    closed,
  };
}
