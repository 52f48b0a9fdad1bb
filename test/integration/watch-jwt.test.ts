import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_CREDENTIAL_CHARS } from '@herald/contract';
import { createLogger } from '@herald/shared';
import { startApi, type RunningApi } from '@herald/api';
import { expectError, expectExactHistory } from '../support/assertions.ts';
import { request, submit } from '../support/http.ts';
import {
  AUDIENCE,
  ISSUER,
  hmacJwt,
  mintJwt,
  signingKey,
  startJwksServer,
  unsecuredJwt,
  type JwksServer,
  type MintOptions,
  type SigningKey,
} from '../support/jwks-server.ts';
import { SseClient } from '../support/sse-client.ts';
import { startSystem, type TestSystem } from '../support/system.ts';
import { BEES } from '../support/texts.ts';

// Watch JWTs minted by the adopter's backend (docs/api.md, "Watch JWTs"), end to end: two API
// replicas on one Redis, a JWKS served on 127.0.0.1, tokens signed as an adopter would sign them.
// The key set's own behaviour (cache, rotation, cooldown, bad answers) is test/unit/watch-jwts.test.ts.

const KEY = 'key-alpha-0123456789';
const SECRET = 'a-watch-token-secret-of-forty-characters!';
const bearer = (credential: string) => ({ Authorization: `Bearer ${credential}` });
const STREAM = { Accept: 'text/event-stream' };

let es256: SigningKey;
let rs256: SigningKey;
let eddsa: SigningKey;
let jwks: JwksServer;
let system: TestSystem;
let a: string;
let b: string;

beforeAll(async () => {
  [es256, rs256, eddsa] = await Promise.all([signingKey('ES256', 'es-1'), signingKey('RS256', 'rs-1'), signingKey('EdDSA', 'ed-1')]);
  jwks = await startJwksServer([es256, rs256, eddsa]);
  system = await startSystem({
    env: {
      API_KEYS: KEY,
      WATCH_TOKEN_SECRET: SECRET,
      WATCH_JWKS_URL: jwks.url,
      WATCH_JWT_ISSUER: ISSUER,
      WATCH_JWT_AUDIENCE: AUDIENCE,
    },
  });
  [a, b] = system.apis.map((api) => api.url) as [string, string];
});
afterAll(async () => {
  await system.close();
  await jwks.close();
});

const job = async (): Promise<{ jobId: string; watchToken: string }> => (await submit(a, BEES, undefined, bearer(KEY))).body;
const jwtFor = (jobs: string[], options: MintOptions = {}, key = es256) => mintJwt(key, { jobs, ...options });

describe('a watch JWT', () => {
  it('watches a job made on one replica to its end on the other, as ?token= and as a bearer', async () => {
    const { jobId } = await job();
    const jwt = await jwtFor([jobId]);
    for (const [url, headers] of [
      [`${b}/v1/jobs/${jobId}/events?token=${jwt}`, {}],
      [`${b}/v1/jobs/${jobId}/events`, bearer(jwt)],
    ] as const) {
      const client = await SseClient.open(url, headers).finished(20_000);
      expect(client.status).toBe(200);
      await expectExactHistory(system.redis, jobId, client.events);
    }
  });

  it('signed with ES256, RS256 or EdDSA reads the snapshot, as ?token= and as a bearer, with no fresh watch token in it', async () => {
    const { jobId } = await job();
    for (const key of [es256, rs256, eddsa]) {
      const jwt = await jwtFor([jobId], {}, key);
      const byQuery = await request(`${a}/v1/jobs/${jobId}?token=${jwt}`);
      expect({ alg: key.alg, status: byQuery.status }).toEqual({ alg: key.alg, status: 200 });
      expect(byQuery.body.jobId).toBe(jobId);
      expect(byQuery.body.watchToken).toBeUndefined(); // only a key holder is handed one
      expect((await request(`${b}/v1/jobs/${jobId}`, { headers: bearer(jwt) })).status).toBe(200);
    }
  });

  it('is refused on the stream and the snapshot: expired 401 token_expired; forged, wrong iss, aud or alg, no exp 401 invalid_token; another job’s 403', async () => {
    const { jobId } = await job();
    const other = await job();
    const valid = await jwtFor([jobId]);
    const [head, , signature] = valid.split('.') as [string, string, string];
    const swappedClaims = `${head}.${(await jwtFor([jobId, 'x'])).split('.')[1]}.${signature}`;
    const claims = { herald: { jobs: [jobId] }, iss: ISSUER, aud: AUDIENCE, exp: Math.floor(Date.now() / 1000) + 300 };
    const cases: [string, string, number, string][] = [
      ['expired', await jwtFor([jobId], { expiresIn: -60 }), 401, 'token_expired'],
      ['bad signature', swappedClaims, 401, 'invalid_token'],
      [
        'signed by a key not in the set',
        await jwtFor([jobId], {}, { ...es256, privateKey: (await signingKey('ES256', 'es-1')).privateKey }),
        401,
        'invalid_token',
      ],
      ['wrong issuer', await jwtFor([jobId], { issuer: 'https://evil.example' }), 401, 'invalid_token'],
      ['wrong audience', await jwtFor([jobId], { audience: 'another-service' }), 401, 'invalid_token'],
      ['alg none', unsecuredJwt(es256.kid, claims), 401, 'invalid_token'],
      ['HS256 with the public key as secret', await hmacJwt(es256, claims), 401, 'invalid_token'],
      ['no exp', await jwtFor([jobId], { expiresIn: null }), 401, 'invalid_token'],
      ['unknown kid', await jwtFor([jobId], { kid: 'nobody' }), 401, 'invalid_token'],
      ['another job', await jwtFor([other.jobId]), 403, 'forbidden'],
    ];
    for (const [what, token, status, code] of cases) {
      for (const [url, headers] of [
        [`${b}/v1/jobs/${jobId}/events?token=${token}`, STREAM],
        [`${b}/v1/jobs/${jobId}/events`, { ...STREAM, ...bearer(token) }],
        [`${a}/v1/jobs/${jobId}?token=${token}`, {}],
        [`${a}/v1/jobs/${jobId}`, bearer(token)],
      ] as const) {
        const response = await request(url, { headers });
        expect({ what, url: url.replace(token, '…'), status: response.status }).toEqual({ what, url: url.replace(token, '…'), status });
        expectError(response, status, code);
      }
    }
    // The reason is in the message, and the challenge is a bearer's.
    const expired = await request(`${a}/v1/jobs/${jobId}?token=${cases[0]![1]}`);
    expect(expired.headers.get('www-authenticate')).toMatch(/^Bearer error="invalid_token"/);
    expect((await request(`${a}/v1/jobs/${jobId}?token=${cases[3]![1]}`)).body.error.message).toMatch(/iss/);
    // A watch JWT does not publish, as a watch token does not.
    const external = (await request(`${a}/v1/jobs`, { json: { kind: 'external' }, headers: bearer(KEY) })).body;
    expectError(
      await request(`${a}/v1/jobs/${external.jobId}/events`, {
        json: { status: 'processing' },
        headers: bearer(await jwtFor([external.jobId])),
      }),
      403,
      'forbidden',
    );
  });

  it('covers a batch and each of its jobs: the batch’s snapshot and stream, a job’s, and GET /v1/events?jobs=', async () => {
    const submitted = await request(`${a}/v1/batches`, { json: { items: [{ text: BEES }, { text: BEES }] }, headers: bearer(KEY) });
    const { batchId, jobIds } = submitted.body as { batchId: string; jobIds: [string, string] };
    const jwt = await mintJwt(rs256, { batches: [batchId] });
    expect((await request(`${b}/v1/batches/${batchId}?token=${jwt}`)).status).toBe(200);
    expect((await request(`${b}/v1/jobs/${jobIds[1]}`, { headers: bearer(jwt) })).status).toBe(200);
    const batchStream = await SseClient.open(`${b}/v1/batches/${batchId}/events?token=${jwt}`).finished(20_000);
    expect(batchStream.status).toBe(200);
    const together = await SseClient.open(`${a}/v1/events?jobs=${jobIds.join(',')}&token=${jwt}`).finished(20_000);
    expect(together.events.filter((event) => event.json.status === 'done')).toHaveLength(2);
    const asBearer = await SseClient.open(`${b}/v1/events?jobs=${jobIds.join(',')}`, bearer(jwt)).finished(20_000);
    expect(asBearer.events.map((event) => event.data)).toEqual(together.events.map((event) => event.data));
    // A JWT listing one job covers that job only; another token (here Herald's own) can cover the rest.
    const one = await jwtFor([jobIds[0]]);
    expectError(await request(`${a}/v1/events?jobs=${jobIds.join(',')}&token=${one}`, { headers: STREAM }), 403, 'forbidden');
    expectError(await request(`${a}/v1/batches/${batchId}?token=${one}`), 403, 'forbidden');
    const mine = (await request(`${a}/v1/jobs/${jobIds[1]}`, { headers: bearer(KEY) })).body.watchToken as string;
    const mixed = await SseClient.open(`${a}/v1/events?jobs=${jobIds.join(',')}&token=${one}&token=${mine}`).finished(20_000);
    expect(mixed.status).toBe(200);
    // A job id listed as a job does not open the batch's stream.
    expectError(await request(`${b}/v1/batches/${batchId}/events?token=${await jwtFor([batchId])}`, { headers: STREAM }), 403, 'forbidden');
  });

  it('of 4096 characters passes as a bearer and as ?token= in one request; one more is 400 (query) or 401 (header)', async () => {
    const { jobId } = await job();
    const atTheCap = await paddedJwt([jobId], MAX_CREDENTIAL_CHARS);
    expect(atTheCap).toHaveLength(4096);
    const client = await SseClient.open(`${b}/v1/jobs/${jobId}/events?token=${atTheCap}`, bearer(atTheCap)).finished(20_000);
    expect(client.status).toBe(200);
    await expectExactHistory(system.redis, jobId, client.events);
    const over = await paddedJwt([jobId], MAX_CREDENTIAL_CHARS + 1);
    expectError(await request(`${b}/v1/jobs/${jobId}/events?token=${over}`, { headers: STREAM }), 400, 'invalid_request');
    expectError(await request(`${b}/v1/jobs/${jobId}?token=${over}`), 400, 'invalid_request');
    expectError(await request(`${b}/v1/events?jobs=${jobId}&token=${over}`, { headers: STREAM }), 400, 'invalid_request');
    expectError(await request(`${b}/v1/jobs/${jobId}/events`, { headers: { ...STREAM, ...bearer(over) } }), 401, 'unauthorized');
  });

  it('shaped to be costly (4096 characters of dots, parts, base64) is refused in bounded time, without a key set fetch', async () => {
    const { jobId } = await job();
    const fetches = jwks.fetches;
    const header = (json: object) => Buffer.from(JSON.stringify(json)).toString('base64url');
    const shapes = [
      'a.'.repeat(2048),
      `a.${'a'.repeat(4092)}.a`,
      `${header({ alg: 'ES256', kid: 'x'.repeat(3000) })}.e30.${'A'.repeat(86)}`.slice(0, 4096),
      `${header({ alg: 'RS256', kid: 'es-1' })}.${'e'.repeat(3500)}.${'A'.repeat(342)}`.slice(0, 4096),
      `${header({ alg: 'ES256', kid: 'unknown' })}.${'A'.repeat(3000)}.${'A'.repeat(86)}`.slice(0, 4096),
      `${'eyJhbGciOiJFUzI1NiJ9.'.repeat(195)}`.slice(0, 4096),
      '.'.repeat(4096),
      `${header({ alg: 'none' })}.${'A'.repeat(4000)}.`.slice(0, 4096),
    ];
    for (const shape of shapes) {
      for (const [url, headers] of [
        [`${b}/v1/jobs/${jobId}/events?token=${shape}`, STREAM],
        [`${b}/v1/jobs/${jobId}/events`, { ...STREAM, ...bearer(shape) }],
        [`${b}/v1/events?jobs=${jobId}&token=${shape}`, STREAM],
      ] as const) {
        const started = performance.now();
        const response = await request(url, { headers });
        const ms = performance.now() - started;
        expect({ shape: shape.slice(0, 30), status: response.status }).toEqual({ shape: shape.slice(0, 30), status: 401 });
        expect(ms, shape.slice(0, 30)).toBeLessThan(500);
      }
    }
    // Unknown kids within the 30 s cooldown after the replicas' start-up fetch sent no fetch.
    expect(jwks.fetches).toBe(fetches);
  });

  it('fetched its key set once per replica at start-up, and not again for valid tokens', async () => {
    // Two replicas, one fetch each; nothing since (every test above ran within the 10 min cache and the cooldown).
    expect(jwks.fetches).toBe(2);
  });
});

describe('a replica whose key set cannot be fetched', () => {
  let lonely: RunningApi;
  let gone: JwksServer;
  beforeAll(async () => {
    gone = await startJwksServer([es256]);
    gone.behaviour = 'error';
    lonely = await startApi({
      config: { ...system.config, WATCH_JWKS_URL: gone.url, WATCH_JWT_ISSUER: ISSUER, WATCH_JWT_AUDIENCE: AUDIENCE },
      logger: createLogger('api-lonely', 'silent'),
    });
  });
  afterAll(async () => {
    await lonely.close();
    await gone.close();
  });

  it('answers a watch JWT 503 jwks_unavailable with Retry-After; Herald’s own tokens and keys are untouched', async () => {
    const { jobId, watchToken } = await job();
    const response = await request(`${lonely.url}/v1/jobs/${jobId}?token=${await jwtFor([jobId])}`);
    expectError(response, 503, 'jwks_unavailable');
    expect(response.headers.get('retry-after')).toBe('5');
    expect((await request(`${lonely.url}/v1/jobs/${jobId}?token=${watchToken}`)).status).toBe(200);
    expect((await request(`${lonely.url}/v1/jobs/${jobId}`, { headers: bearer(KEY) })).status).toBe(200);
  });
});

/** A valid RS256 JWT for `jobs` of exactly `length` characters, padded with a claim Herald ignores. */
async function paddedJwt(jobs: string[], length: number): Promise<string> {
  let pad = 0;
  for (let attempt = 0; attempt < 50; attempt += 1) {
    const jwt = await mintJwt(rs256, { claim: { jobs, pad: 'p'.repeat(pad) } });
    if (jwt.length === length) return jwt;
    // Base64url: 3 characters of JSON are 4 of token; step by one when close.
    const missing = length - jwt.length;
    pad += Math.abs(missing) > 4 ? Math.trunc((missing * 3) / 4) : Math.sign(missing);
  }
  throw new Error(`no JWT of ${length} characters`);
}
