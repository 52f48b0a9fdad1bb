import { createHash } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '@herald/shared';
import { Access } from '../../apps/api/src/auth/access.ts';
import { ApiKeys } from '../../apps/api/src/auth/api-keys.ts';
import { PublishTokens } from '../../apps/api/src/auth/publish-tokens.ts';
import { WatchJwts } from '../../apps/api/src/auth/watch-jwts.ts';
import { WatchTokens } from '../../apps/api/src/auth/watch-tokens.ts';
import { clientIpResolver } from '../../apps/api/src/http/client-ip.ts';
import { HttpError } from '../../apps/api/src/http/errors.ts';
import { AUDIENCE, ISSUER, mintJwt, signingKey, startJwksServer, type JwksServer, type SigningKey } from '../support/jwks-server.ts';

// Who may do what (docs/api.md, "Access"), decided on requests alone: no Redis, no server.

const KEY = 'k'.repeat(24);
const OTHER_KEY = 'o'.repeat(24);
const SECRET = 's'.repeat(32);
const JOB = 'AAAAAAAAAAAAAAAAAAAAAA';
const OTHER_JOB = 'BBBBBBBBBBBBBBBBBBBBBB';

const request = (headers: Record<string, string> = {}, remoteAddress = '192.0.2.10'): IncomingMessage =>
  ({ headers, socket: { remoteAddress }, connection: { remoteAddress } }) as unknown as IncomingMessage;
const bearer = (credential: string) => request({ authorization: `Bearer ${credential}` });

function access(keys: readonly string[] = [KEY], trustedProxies: readonly string[] = []): { access: Access; tokens: WatchTokens } {
  const config = loadConfig({ API_KEYS: keys.join(','), WATCH_TOKEN_SECRET: keys.length > 0 ? SECRET : '' });
  const tokens = new WatchTokens(SECRET, 60);
  const publishTokens = new PublishTokens(async () => SECRET);
  return { access: new Access(ApiKeys.fromConfig(config), tokens, publishTokens, clientIpResolver(trustedProxies)), tokens };
}

/** The HTTP error `run` throws (or rejects with), as a client would see it: status and code. */
async function refusal(run: () => unknown): Promise<[number, string] | null> {
  try {
    await run();
    return null;
  } catch (error) {
    if (!(error instanceof HttpError)) throw error;
    return [error.status, error.code];
  }
}

describe('Access, with auth on', () => {
  it('lets a key submit and cancel, known by a digest, never the key', () => {
    const { access: a } = access([KEY, OTHER_KEY]);
    const caller = a.requireKey(bearer(OTHER_KEY));
    expect(caller.keyId).toMatch(/^[0-9a-f]{12}$/);
    expect(caller.keyId).not.toContain('o');
    expect(a.requireKey(bearer(KEY)).keyId).not.toBe(caller.keyId);
    expect(caller.ip).toBe('192.0.2.10');
  });

  it('refuses a missing, malformed or unknown key with 401', async () => {
    const { access: a } = access();
    expect(await refusal(() => a.requireKey(request()))).toEqual([401, 'unauthorized']);
    expect(await refusal(() => a.requireKey(request({ authorization: `Basic ${KEY}` })))).toEqual([401, 'unauthorized']);
    expect(await refusal(() => a.requireKey(bearer('x'.repeat(24))))).toEqual([401, 'unauthorized']);
  });

  it('does not let a watch token submit or cancel', async () => {
    const { access: a, tokens } = access();
    expect(await refusal(() => a.requireKey(bearer(tokens.mint(JOB))))).toEqual([401, 'unauthorized']);
  });

  it('lets a job be watched with its token (query or bearer) or with a key', async () => {
    const { access: a, tokens } = access();
    const token = tokens.mint(JOB);
    expect((await a.requireWatcher(request(), JOB, token)).keyId).toBeNull();
    expect((await a.requireWatcher(bearer(token), JOB, null)).keyId).toBeNull();
    expect((await a.requireWatcher(bearer(KEY), JOB, null)).keyId).toMatch(/^[0-9a-f]{12}$/);
  });

  it('answers another job’s token with 403, a missing one with 401 unauthorized, a forged one with invalid_token, an expired one with token_expired', async () => {
    const { access: a, tokens } = access();
    expect(await refusal(() => a.requireWatcher(request(), JOB, tokens.mint(OTHER_JOB)))).toEqual([403, 'forbidden']);
    expect(await refusal(() => a.requireWatcher(request(), JOB, null))).toEqual([401, 'unauthorized']);
    const forged = `${tokens.mint(JOB).slice(0, -2)}xx`;
    expect(await refusal(() => a.requireWatcher(request(), JOB, forged))).toEqual([401, 'invalid_token']);
    const expired = tokens.mint(JOB, Date.now() - 61_000);
    expect(await refusal(() => a.requireWatcher(request(), JOB, expired))).toEqual([401, 'token_expired']);
    expect(await refusal(() => a.requireWatcher(bearer('not a key at all x'), JOB, null))).toEqual([401, 'unauthorized']);
  });

  it('remembers who the last check found, for the logs and the limits', () => {
    const { access: a } = access();
    const req = bearer(KEY);
    expect(a.callerOf(req).keyId).toBeNull();
    const caller = a.requireKey(req);
    expect(a.callerOf(req)).toEqual(caller);
  });

  it('mints watch tokens for the job they name', async () => {
    const { access: a } = access();
    const token = a.watchToken(JOB)!;
    expect(token.startsWith(`${JOB}.`)).toBe(true);
    expect((await a.requireWatcher(request(), JOB, token)).keyId).toBeNull();
  });

  it('verifies each token of a multi-job stream once, not once per job it is tried for', async () => {
    /** Counts the HMAC verifications, whichever method does them. */
    class CountingTokens extends WatchTokens {
      verifications = 0;
      override check(token: string, jobId: string, nowMs?: number) {
        this.verifications += 1;
        return super.check(token, jobId, nowMs);
      }
      override verify(token: string, nowMs?: number) {
        this.verifications += 1;
        return super.verify(token, nowMs);
      }
    }
    const config = loadConfig({ API_KEYS: KEY, WATCH_TOKEN_SECRET: SECRET });
    const tokens = new CountingTokens(SECRET, 60);
    const a = new Access(ApiKeys.fromConfig(config), tokens, new PublishTokens(async () => SECRET), clientIpResolver([]));
    // A batch's 100 jobs; 99 forged tokens first, the batch's own last: refused at the first
    // forged one, after one verification (each used to be tried for every job: 10,000).
    const jobs = Array.from({ length: 100 }, (_, i) => `${OTHER_JOB}~${i}`);
    const forged = jobs.slice(1).map((job) => `${job}.zzzzzz.${'A'.repeat(43)}`);
    const given = [...forged, tokens.mint(OTHER_JOB)];
    expect(await refusal(() => a.requireWatcherOfAll(request(), jobs, given))).toEqual([401, 'invalid_token']);
    expect(tokens.verifications).toBe(1);
    // Valid tokens of other jobs before the one that covers: still one verification each.
    tokens.verifications = 0;
    const others = jobs.slice(1).map((job) => tokens.mint(job));
    tokens.verifications = 0;
    expect((await a.requireWatcherOfAll(request(), jobs, [...others, tokens.mint(OTHER_JOB)])).keyId).toBeNull();
    expect(tokens.verifications).toBe(100);
    // A forged token refuses the request when it is met, wherever it stands; a job only other
    // jobs' tokens were tried for is 403.
    expect(await refusal(() => a.requireWatcherOfAll(request(), jobs.slice(0, 2), [forged[0]!, tokens.mint(JOB)]))).toEqual([
      401,
      'invalid_token',
    ]);
    expect(await refusal(() => a.requireWatcherOfAll(request(), jobs.slice(0, 2), [tokens.mint(JOB), forged[0]!]))).toEqual([
      401,
      'invalid_token',
    ]);
    expect(await refusal(() => a.requireWatcherOfAll(request(), jobs.slice(0, 2), [tokens.mint(JOB)]))).toEqual([403, 'forbidden']);
  });
});

describe('Access: who reaches a job', () => {
  const ADMIN = 'a'.repeat(24);
  const withAdmin = () => {
    const config = loadConfig({ API_KEYS: `${KEY},${OTHER_KEY}`, ADMIN_API_KEYS: ADMIN, WATCH_TOKEN_SECRET: SECRET });
    return new Access(ApiKeys.fromConfig(config), new WatchTokens(SECRET, 60), new PublishTokens(async () => SECRET), clientIpResolver([]));
  };

  it('lets the owning key and admin keys in; another key gets the 404 of a job that does not exist', async () => {
    const a = withAdmin();
    const owner = a.requireKey(bearer(KEY));
    const other = a.requireKey(bearer(OTHER_KEY));
    const admin = a.requireKey(bearer(ADMIN));
    expect([owner.admin, other.admin, admin.admin]).toEqual([false, false, true]);
    const job = { owner: owner.keyId };
    expect(await refusal(() => a.requireReach(owner, job))).toBeNull();
    expect(await refusal(() => a.requireReach(admin, job))).toBeNull();
    expect(await refusal(() => a.requireReach(other, job))).toEqual([404, 'not_found']);
    // A job made with auth off has no owner; a token holder (no key) was checked against the job already.
    expect(await refusal(() => a.requireReach(other, { owner: null }))).toBeNull();
    expect(await refusal(() => a.requireReach({ keyId: null, admin: false, ip: '192.0.2.1' }, job))).toBeNull();
  });

  it('lets a publish token or a key publish; a watch token is 403, nothing is 401 — with auth off too', async () => {
    const a = withAdmin();
    const publishToken = await a.publishToken(JOB);
    expect((await a.requirePublisher(bearer(publishToken), JOB)).keyId).toBeNull();
    expect((await a.requirePublisher(bearer(KEY), JOB)).keyId).toMatch(/^[0-9a-f]{12}$/);
    const failure = async (credential: string | null, job = JOB) => {
      try {
        await a.requirePublisher(credential === null ? request() : bearer(credential), job);
        return null;
      } catch (error) {
        return [(error as HttpError).status, (error as HttpError).code];
      }
    };
    expect(await failure(null)).toEqual([401, 'unauthorized']);
    expect(await failure(a.watchToken(JOB)!)).toEqual([403, 'forbidden']);
    expect(await failure(publishToken, OTHER_JOB)).toEqual([403, 'forbidden']);
    expect(await failure('not-a-key-at-all-0123456789')).toEqual([401, 'unauthorized']);
    const { access: open } = access([]);
    expect((await open.requirePublisher(bearer(await open.publishToken(JOB)), JOB)).keyId).toBeNull();
    await expect(open.requirePublisher(request(), JOB)).rejects.toMatchObject({ status: 401 });
    await expect(open.requirePublisher(bearer(KEY), JOB)).rejects.toMatchObject({ status: 401 });
  });
});

describe('Access, with auth off', () => {
  it('lets anyone do anything, counting them by their address', async () => {
    const { access: a } = access([]);
    expect(a.enabled).toBe(false);
    expect(a.requireKey(request()).keyId).toBeNull();
    expect(await a.requireWatcher(request({}, '198.51.100.7'), JOB, null)).toEqual({ keyId: null, admin: false, ip: '198.51.100.7' });
  });
});

describe('client addresses', () => {
  it('believe X-Forwarded-For from a trusted proxy only', () => {
    const { access: trusting } = access([], ['loopback']);
    const viaProxy = request({ 'x-forwarded-for': '203.0.113.9' }, '127.0.0.1');
    expect(trusting.callerOf(viaProxy).ip).toBe('203.0.113.9');
    const { access: strict } = access([]);
    expect(strict.callerOf(viaProxy).ip).toBe('127.0.0.1');
  });
});

describe('API keys, at start-up', () => {
  it('refuse keys too short to be safe, and keys shaped like a watch token', () => {
    const keys = (apiKeys: string[]) => ({ API_KEYS: apiKeys, API_KEYS_FILE: undefined, ADMIN_API_KEYS: [], WATCH_TOKEN_SECRET: SECRET });
    expect(() => ApiKeys.fromConfig(keys(['short']))).toThrow(ConfigError);
    const tokenShaped = `${JOB}.abc.${'a'.repeat(43)}`;
    expect(() => ApiKeys.fromConfig(keys([tokenShaped]))).toThrow(/look like a watch or publish token/);
  });

  it('refuse keys without WATCH_TOKEN_SECRET, which keys their digests', () => {
    expect(() =>
      ApiKeys.fromConfig({ API_KEYS: [KEY], API_KEYS_FILE: undefined, ADMIN_API_KEYS: [], WATCH_TOKEN_SECRET: undefined }),
    ).toThrow(/WATCH_TOKEN_SECRET/);
  });
});

describe('keyId', () => {
  const keyIdOf = (key: string, secret: string) =>
    ApiKeys.fromConfig({ API_KEYS: [key], API_KEYS_FILE: undefined, ADMIN_API_KEYS: [], WATCH_TOKEN_SECRET: secret }).match(key)?.keyId;

  it('is a digest keyed with the server secret: 12 hex digits, the same on every replica, nothing a bare hash of the key gives', () => {
    const keyId = keyIdOf(KEY, SECRET);
    expect(keyId).toMatch(/^[0-9a-f]{12}$/);
    expect(keyIdOf(KEY, SECRET)).toBe(keyId);
    // Whoever reads logs or Redis cannot test guesses of the key against it without the secret.
    expect(keyId).not.toBe(createHash('sha256').update(KEY).digest('hex').slice(0, 12));
    expect(keyIdOf(KEY, 't'.repeat(32))).not.toBe(keyId);
    expect(keyIdOf(OTHER_KEY, SECRET)).not.toBe(keyId);
  });
});

describe('Access with watch JWTs (WATCH_JWKS_URL)', () => {
  let jwks: JwksServer;
  let key: SigningKey;
  beforeAll(async () => {
    key = await signingKey('ES256', 'es-1');
    jwks = await startJwksServer([key]);
  });
  afterAll(() => jwks.close());

  /** Counts the verifications, to see each token checked once. */
  class CountingJwts extends WatchJwts {
    checks = 0;
    override check(token: string) {
      this.checks += 1;
      return super.check(token);
    }
  }
  const withJwts = () => {
    const config = loadConfig({ API_KEYS: KEY, WATCH_TOKEN_SECRET: SECRET });
    const jwts = new CountingJwts({ jwksUrl: jwks.url, issuer: ISSUER, audience: AUDIENCE }, () => {});
    const tokens = new WatchTokens(SECRET, 60);
    const access = new Access(ApiKeys.fromConfig(config), tokens, new PublishTokens(async () => SECRET), clientIpResolver([]), jwts);
    return { access, jwts, tokens };
  };
  const jobs = Array.from({ length: 50 }, (_, i) => `${'C'.repeat(20)}${String(i).padStart(2, '0')}`);

  it('checks a JWT once for a multi-job stream, however many jobs it covers; an expired one refuses the request when met', async () => {
    const { access: a, jwts, tokens } = withJwts();
    const all = await mintJwt(key, { jobs });
    expect((await a.requireWatcherOfAll(request(), jobs, [all])).keyId).toBeNull();
    expect(jwts.checks).toBe(1);
    // As a bearer too: one check for all fifty.
    expect((await a.requireWatcherOfAll(bearer(all), jobs, [])).keyId).toBeNull();
    expect(jwts.checks).toBe(2);
    // A JWT for the first job and Herald's own token for the second: each covers its own.
    const first = await mintJwt(key, { jobs: [jobs[0]!] });
    expect(await refusal(() => a.requireWatcherOfAll(request(), jobs.slice(0, 2), [first, tokens.mint(jobs[1]!)]))).toBeNull();
    // An expired JWT, before or after a token for another job: token_expired, so a client renews.
    const expired = await mintJwt(key, { jobs: [jobs[0]!], expiresIn: -60 });
    expect(await refusal(() => a.requireWatcherOfAll(request(), jobs.slice(0, 2), [expired, tokens.mint(OTHER_JOB)]))).toEqual([
      401,
      'token_expired',
    ]);
    expect(await refusal(() => a.requireWatcherOfAll(request(), jobs.slice(0, 2), [tokens.mint(OTHER_JOB), expired]))).toEqual([
      401,
      'token_expired',
    ]);
    // Junk JWTs cost one check in all, not one each.
    const checks = jwts.checks;
    const junk = await Promise.all(Array.from({ length: 20 }, () => mintJwt(key, { jobs: [jobs[0]!], expiresIn: -60 })));
    expect(await refusal(() => a.requireWatcherOfAll(request(), jobs.slice(0, 20), junk))).toEqual([401, 'token_expired']);
    expect(jwts.checks - checks).toBe(1);
  });

  it('checks a JWT given several times on a multi-job stream once', async () => {
    const { access: a, jwts } = withJwts();
    const first = await mintJwt(key, { jobs: [jobs[0]!] });
    const all = await mintJwt(key, { jobs });
    expect((await a.requireWatcherOfAll(request(), jobs, [...Array<string>(49).fill(first), all])).keyId).toBeNull();
    expect(jwts.checks).toBe(2);
  });

  it('tells a JWT from Herald’s own token and from a key, whichever way it comes', async () => {
    const { access: a, jwts, tokens } = withJwts();
    const jwt = await mintJwt(key, { jobs: [JOB] });
    expect((await a.requireWatcher(request(), JOB, jwt)).keyId).toBeNull();
    expect((await a.requireWatcher(bearer(jwt), JOB, null)).keyId).toBeNull();
    expect(await refusal(() => a.requireWatcher(bearer(jwt), OTHER_JOB, null))).toEqual([403, 'forbidden']);
    expect(await refusal(() => a.requireWatcher(bearer(jwt), JOB, null, 'batch'))).toEqual([403, 'forbidden']);
    expect(jwts.checks).toBe(4);
    // Herald's own tokens and API keys never reach the JWT verifier.
    expect((await a.requireWatcher(request(), JOB, tokens.mint(JOB))).keyId).toBeNull();
    expect((await a.requireWatcher(bearer(KEY), JOB, null)).keyId).toMatch(/^[0-9a-f]{12}$/);
    expect(jwts.checks).toBe(4);
    // A watch JWT does not publish.
    await expect(a.requirePublisher(bearer(jwt), JOB)).rejects.toMatchObject({ status: 403, code: 'forbidden' });
  });

  it('without WATCH_JWKS_URL refuses a JWT as invalid_token, saying why', async () => {
    const { access: a } = access();
    const jwt = await mintJwt(key, { jobs: [JOB] });
    await expect(a.requireWatcher(bearer(jwt), JOB, null)).rejects.toMatchObject({
      status: 401,
      code: 'invalid_token',
      message: /WATCH_JWKS_URL/,
    });
  });
});
