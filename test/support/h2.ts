import { connect } from 'node:http2';
import { readFileSync } from 'node:fs';

export interface H2Response {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: string;
  /** What TLS negotiated (ALPN): `h2` when the edge speaks HTTP/2. */
  readonly protocol: string | false;
}

/**
 * One GET over HTTP/2 and TLS, read to its end (an event stream: until the server ends it), as
 * a browser's would be, trusting only the certificate at `caFile` (the edge's self-signed one).
 */
export async function h2Get(
  origin: string,
  path: string,
  caFile: string,
  headers: Record<string, string> = {},
  timeoutMs = 30_000,
): Promise<H2Response> {
  const session = connect(origin, { ca: readFileSync(caFile) });
  try {
    return await new Promise<H2Response>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`h2 GET ${path}: no end after ${timeoutMs} ms`)), timeoutMs);
      session.once('error', reject);
      const stream = session.request({ ':method': 'GET', ':path': path, ...headers });
      let status = 0;
      let received: Record<string, string | string[] | undefined> = {};
      let body = '';
      stream.setEncoding('utf8');
      stream.on('response', (response) => {
        status = Number(response[':status']);
        received = response;
      });
      stream.on('data', (chunk: string) => {
        body += chunk;
      });
      stream.once('error', reject);
      stream.once('end', () => {
        clearTimeout(timer);
        resolve({ status, headers: received, body, protocol: session.alpnProtocol ?? false });
      });
    });
  } finally {
    session.close();
  }
}
