import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';

export interface CertFiles {
  readonly cert: string;
  readonly key: string;
}

/**
 * A self-signed certificate for localhost and 127.0.0.1, for the edge's HTTP/2 over TLS on a
 * developer's machine (docs/deploy: mount a real one in production). Made once per directory
 * with the openssl command (on every Debian and macOS); kept if it is already there, so a real
 * certificate put in its place is never overwritten.
 */
export function ensureLocalCert(dir: string): CertFiles {
  const files = { cert: join(dir, 'cert.pem'), key: join(dir, 'key.pem') };
  if (existsSync(files.cert) && existsSync(files.key)) return files;
  mkdirSync(dir, { recursive: true });
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-days',
      '825',
      '-subj',
      '/CN=localhost',
      '-addext',
      'subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1',
      '-keyout',
      files.key,
      '-out',
      files.cert,
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  // Readable by nginx's unprivileged user in the compose container (uid 65534). A throwaway
  // key for localhost only; a real one is mounted with the permissions its owner chooses.
  chmodSync(files.key, 0o644);
  return files;
}

// `npm run cert`: the certificate docker-compose's nginx mounts (deploy/nginx/tls/).
if (import.meta.url === `file://${process.argv[1]}`) {
  const dir = new URL('../../deploy/nginx/tls/', import.meta.url).pathname;
  const made = ensureLocalCert(dir);
  console.log(`certificate for localhost: ${made.cert} (key: ${made.key}); put a real one there to use it instead`);
}
