import http, { type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SignJWT, exportJWK, generateKeyPair, type CryptoKey, type JWK, type JWTPayload } from 'jose';

// An adopter's side of watch JWTs, for tests: key pairs of each algorithm Herald takes, a JWKS
// served on 127.0.0.1 that counts its fetches and can be made to misbehave, and a minter.

export type Algorithm = 'ES256' | 'RS256' | 'EdDSA';

export interface SigningKey {
  readonly kid: string;
  readonly alg: Algorithm;
  readonly privateKey: CryptoKey;
  readonly jwk: JWK;
}

export async function signingKey(alg: Algorithm, kid: string): Promise<SigningKey> {
  const { publicKey, privateKey } = await generateKeyPair(alg, alg === 'EdDSA' ? { crv: 'Ed25519' } : {});
  return { kid, alg, privateKey, jwk: { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' } };
}

/** How the JWKS answers: its keys, or a failure of a kind Herald must survive. */
export type JwksBehaviour = 'keys' | 'error' | 'huge' | 'huge-unannounced' | 'slow' | 'not-jwks';

export interface JwksServer {
  readonly url: string;
  /** GETs of the key set so far. */
  readonly fetches: number;
  keys: SigningKey[];
  behaviour: JwksBehaviour;
  close(): Promise<void>;
}

export async function startJwksServer(keys: SigningKey[]): Promise<JwksServer> {
  const state = { fetches: 0, keys, behaviour: 'keys' as JwksBehaviour };
  const server: Server = http.createServer((_req, res) => {
    state.fetches += 1;
    const body = JSON.stringify({ keys: state.keys.map((key) => key.jwk) });
    switch (state.behaviour) {
      case 'error':
        res.writeHead(500).end('down');
        return;
      case 'not-jwks':
        res.writeHead(200, { 'content-type': 'application/json' }).end('{"keys": "none"}');
        return;
      case 'huge':
      case 'huge-unannounced': {
        // 8 MB of JSON: announced by Content-Length, or streamed chunked with none.
        const chunk = Buffer.alloc(64 * 1024, 0x20);
        const total = 128;
        res.writeHead(200, state.behaviour === 'huge' ? { 'content-length': String(total * chunk.length + body.length) } : {});
        let sent = 0;
        const pump = (): void => {
          while (sent < total) {
            sent += 1;
            if (!res.write(chunk)) return void res.once('drain', pump);
          }
          res.end(body);
        };
        res.on('error', () => {});
        pump();
        return;
      }
      case 'slow':
        // Headers at once, then nothing: only a bound on the whole fetch ends it.
        res.writeHead(200, { 'content-type': 'application/json' });
        res.write('{"keys": [');
        return;
      default:
        res.writeHead(200, { 'content-type': 'application/jwk-set+json' }).end(body);
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/.well-known/jwks.json`,
    get fetches() {
      return state.fetches;
    },
    get keys() {
      return state.keys;
    },
    set keys(value) {
      state.keys = value;
    },
    get behaviour() {
      return state.behaviour;
    },
    set behaviour(value) {
      state.behaviour = value;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export const ISSUER = 'https://adopter.example';
export const AUDIENCE = 'herald-test';

export interface MintOptions {
  readonly jobs?: readonly string[];
  readonly batches?: readonly string[];
  /** Seconds from now (negative: already past); null: no `exp` at all. */
  readonly expiresIn?: number | null;
  readonly issuer?: string;
  readonly audience?: string;
  /** The whole `herald` claim, replacing jobs/batches (undefined there: none). */
  readonly claim?: unknown;
  readonly kid?: string;
}

/** A watch JWT as an adopter's backend mints one (docs/security.md's example). */
export async function mintJwt(key: SigningKey, options: MintOptions = {}): Promise<string> {
  const claim = 'claim' in options ? options.claim : { jobs: options.jobs ?? [], batches: options.batches ?? [] };
  const jwt = new SignJWT(claim === undefined ? {} : ({ herald: claim } as JWTPayload))
    .setProtectedHeader({ alg: key.alg, kid: options.kid ?? key.kid })
    .setIssuer(options.issuer ?? ISSUER)
    .setAudience(options.audience ?? AUDIENCE)
    .setIssuedAt();
  const expiresIn = options.expiresIn === undefined ? 300 : options.expiresIn;
  if (expiresIn !== null) jwt.setExpirationTime(Math.floor(Date.now() / 1000) + expiresIn);
  return jwt.sign(key.privateKey);
}

const b64 = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url');

/** An unsigned token (`alg: none`), which no verifier may take. */
export function unsecuredJwt(kid: string, payload: Record<string, unknown>): string {
  return `${b64({ alg: 'none', kid })}.${b64(payload)}.`;
}

/** An HS256 token "signed" with a public key's text: the classic algorithm-confusion forgery. */
export async function hmacJwt(key: SigningKey, payload: Record<string, unknown>): Promise<string> {
  const secret = new TextEncoder().encode(JSON.stringify(key.jwk));
  return new SignJWT(payload).setProtectedHeader({ alg: 'HS256', kid: key.kid }).sign(secret);
}
