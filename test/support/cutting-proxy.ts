import { createServer, request as httpRequest, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * Where a cut falls in the frame after the last whole one: `data` halfway through its `data:`
 * line (inside the JSON); `utf8` right after the first byte of its first multibyte UTF-8
 * character (a frame without one is forwarded whole and the next one is tried).
 */
export type MidFrame = 'data' | 'utf8';

/** One cut in the middle of a frame: which events request, how, and the bytes of that frame that went out. */
export interface MidFrameCut {
  readonly request: number;
  readonly mode: MidFrame;
  readonly sent: Buffer;
}

const BLANK_LINE = Buffer.from('\n\n');
const DATA = Buffer.from('\ndata: ');

/**
 * A proxy in front of the API that can cut an SSE response after forwarding some events:
 * `cutAfter(n)` says how many events the n-th events request (0-based) gets before its socket
 * is destroyed (Infinity: never). By default it cuts between frames, so "2 events" is exact;
 * `midFrame(n)` makes it send part of the next frame first, as a connection that dies while a
 * frame is on the wire does. Frames are found in the bytes, so a multibyte character split
 * across the upstream's chunks is forwarded as it came.
 */
export class CuttingProxy {
  readonly eventRequests: IncomingHttpHeaders[] = [];
  /** Ids forwarded whole on each events request. */
  readonly forwardedIds: string[][] = [];
  readonly midFrameCuts: MidFrameCut[] = [];
  readonly server: Server;

  constructor(
    target: string,
    cutAfter: (request: number) => number,
    midFrame: (request: number) => MidFrame | undefined = () => undefined,
  ) {
    const upstream = new URL(target);
    this.server = createServer((req, res) => {
      const isEvents = /\/events(\?|$)/.test(req.url ?? '');
      const index = this.eventRequests.length;
      if (isEvents) {
        this.eventRequests.push(req.headers);
        this.forwardedIds.push([]);
      }
      const limit = isEvents ? cutAfter(index) : Infinity;
      const mode = isEvents ? midFrame(index) : undefined;
      const proxied = httpRequest(
        { host: upstream.hostname, port: upstream.port, path: req.url, method: req.method, headers: req.headers },
        (answer) => {
          res.writeHead(answer.statusCode ?? 502, answer.headers);
          let buffered = Buffer.alloc(0);
          let events = 0;
          let flushed = Promise.resolve();
          const cut = (partial: Buffer | null): void => {
            proxied.destroy();
            answer.removeAllListeners('data');
            if (partial) {
              this.midFrameCuts.push({ request: index, mode: mode!, sent: partial });
              flushed = new Promise((resolve) => res.write(partial, () => resolve()));
            }
            // What was forwarded reaches the client first; then the connection dies mid-response.
            const socket = res.socket;
            void flushed.then(() => socket?.destroy());
          };
          answer.on('data', (chunk: Buffer) => {
            buffered = Buffer.concat([buffered, chunk]);
            for (let end = buffered.indexOf(BLANK_LINE); end !== -1; end = buffered.indexOf(BLANK_LINE)) {
              const block = buffered.subarray(0, end + 2);
              buffered = buffered.subarray(end + 2);
              const id = /^id: (.+)$/m.exec(block.toString('utf8'));
              if (id && events >= limit) {
                const partial = mode === undefined ? null : partOf(block, mode);
                if (mode === undefined || partial) {
                  cut(partial);
                  return;
                }
              }
              flushed = new Promise((resolve) => res.write(block, () => resolve()));
              if (id && isEvents) {
                this.forwardedIds[index]!.push(id[1]!);
                events += 1;
              }
            }
          });
          answer.on('end', () => res.end(buffered));
        },
      );
      proxied.on('error', () => res.socket?.destroy());
      req.pipe(proxied);
    });
  }

  async listen(): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

/** The first bytes of `block` up to where `mode` cuts it; null when it has nowhere to cut. */
function partOf(block: Buffer, mode: MidFrame): Buffer | null {
  const data = block.indexOf(DATA);
  if (data === -1) return null;
  const start = data + DATA.length;
  const lineEnd = block.indexOf(0x0a, start);
  if (mode === 'data') return block.subarray(0, start + Math.floor((lineEnd - start) / 2));
  for (let i = start; i < lineEnd; i += 1) {
    // A lead byte of a multibyte character (0b11xxxxxx): send it without the rest.
    if (block[i]! >= 0xc0) return block.subarray(0, i + 1);
  }
  return null;
}
