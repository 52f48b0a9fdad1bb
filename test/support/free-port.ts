import { createServer } from 'node:net';

/** Ports this process has handed out: the kernel may offer a just-closed one again at once. */
const given = new Set<number>();

/**
 * A TCP port that was free on 127.0.0.1 a moment ago, and not one this process handed out
 * before (two calls in a row must not give two processes the same port).
 */
export async function freePort(): Promise<number> {
  for (;;) {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = server.address();
    await new Promise((resolve) => server.close(resolve));
    if (!address || typeof address === 'string') throw new Error('no port');
    if (given.has(address.port)) continue;
    given.add(address.port);
    return address.port;
  }
}
