import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_JWKS_BYTES } from '../../apps/api/src/auth/jwks-fetch.ts';
import { KEY_SET_TIMING, WatchJwts, type KeySetTiming } from '../../apps/api/src/auth/watch-jwts.ts';
import {
  AUDIENCE,
  ISSUER,
  hmacJwt,
  mintJwt,
  signingKey,
  startJwksServer,
  unsecuredJwt,
  type JwksServer,
  type SigningKey,
} from '../support/jwks-server.ts';
import { fastestMs } from '../support/timing.ts';

// The watch JWT verifier on its own, against a real JWKS server on 127.0.0.1: what it accepts,
// why it refuses, and how it fetches the key set (cache, refetch on an unknown kid, cooldown,
// bounds on a misbehaving key set). Access and the routes are test/integration/watch-jwt.test.ts.

const JOB = 'AAAAAAAAAAAAAAAAAAAAAA';
const BATCH = 'BBBBBBBBBBBBBBBBBBBBBB';

let es256: SigningKey;
let rs256: SigningKey;
let eddsa: SigningKey;
let rotated: SigningKey;
let jwks: JwksServer;

beforeAll(async () => {
  [es256, rs256, eddsa, rotated] = await Promise.all([
    signingKey('ES256', 'es-1'),
    signingKey('RS256', 'rs-1'),
    signingKey('EdDSA', 'ed-1'),
    signingKey('ES256', 'es-2'),
  ]);
  jwks = await startJwksServer([es256, rs256, eddsa]);
});
afterAll(() => jwks.close());

const failures: Error[] = [];
const verifier = (timing: KeySetTiming = KEY_SET_TIMING, url = jwks.url) =>
  new WatchJwts({ jwksUrl: url, issuer: ISSUER, audience: AUDIENCE }, (error) => failures.push(error), timing);

describe('a watch JWT', () => {
  it('is taken signed with ES256, RS256 or EdDSA, and covers what its herald claim lists', async () => {
    const jwts = verifier();
    for (const key of [es256, rs256, eddsa]) {
      const check = await jwts.check(await mintJwt(key, { jobs: [JOB], batches: [BATCH] }));
      expect(check.verdict, key.alg).toBe('valid');
      if (check.verdict !== 'valid') continue;
      expect(check.grant.covers(JOB, 'job')).toBe(true);
      expect(check.grant.covers(`${BATCH}~7`, 'job')).toBe(true); // a batch covers each of its jobs
      expect(check.grant.covers(BATCH, 'batch')).toBe(true);
      expect(check.grant.covers(JOB, 'batch')).toBe(false); // a job listed is not a batch
      expect(check.grant.covers('CCCCCCCCCCCCCCCCCCCCCC', 'job')).toBe(false);
      expect(check.grant.covers(`${JOB}~0`, 'job')).toBe(false); // a job is not a batch either
    }
  });

  it('ignores claim keys it does not know (a later version’s grant nothing here)', async () => {
    const check = await verifier().check(await mintJwt(es256, { claim: { jobs: [JOB], projects: ['x'] } }));
    expect(check.verdict).toBe('valid');
  });

  it('covers the tag streams its tags list, and no other tag, job or batch', async () => {
    const check = await verifier().check(await mintJwt(es256, { claim: { tags: ['user:123', 'a.b_c-d'] } }));
    expect(check.verdict).toBe('valid');
    if (check.verdict !== 'valid') return;
    expect(check.grant.coversTag('user:123')).toBe(true);
    expect(check.grant.coversTag('a.b_c-d')).toBe(true);
    expect(check.grant.coversTag('user:12')).toBe(false);
    expect(check.grant.coversTag('USER:123')).toBe(false);
    expect(check.grant.covers('user:123', 'job')).toBe(false); // a tag is not a job id
    expect(check.grant.covers('user:123', 'batch')).toBe(false);
    // Jobs and batches alone grant no tag.
    const jobsOnly = await verifier().check(await mintJwt(es256, { jobs: [JOB], batches: [BATCH] }));
    expect(jobsOnly.verdict === 'valid' && jobsOnly.grant.coversTag(JOB)).toBe(false);
  });

  it('is refused when its tags are not a list of tags by the contract’s rule, or more than the 1000 ids a list may hold', async () => {
    const jwts = verifier();
    const cases: [string, unknown][] = [
      ['not a list', 'user:123'],
      ['empty tag', ['']],
      ['too long', ['t'.repeat(65)]],
      ['space', ['user 123']],
      ['slash', ['a/b']],
      ['line break', ['a\nb']],
      ['non-ASCII', ['é']],
      ['not a string', [7]],
      ['too many', Array.from({ length: 1001 }, (_, i) => `t${i}`)],
    ];
    for (const [what, tags] of cases) {
      const check = await jwts.check(await mintJwt(es256, { claim: { jobs: [JOB], tags } }));
      expect({ what, verdict: check.verdict }).toEqual({ what, verdict: 'invalid' });
      expect(check.verdict === 'invalid' && check.why, what).toMatch(/herald claim/);
    }
    // The bounds themselves pass: 64 characters, 1000 tags.
    const atBounds = await jwts.check(
      await mintJwt(es256, { claim: { tags: ['t'.repeat(64), ...Array.from({ length: 999 }, (_, i) => `t${i}`)] } }),
    );
    expect(atBounds.verdict === 'valid' && atBounds.grant.coversTag('t'.repeat(64))).toBe(true);
  });

  it('is refused, with its reason, when expired, forged, for another issuer or audience, unsigned, HMAC, without exp, kid or herald claim', async () => {
    const jwts = verifier();
    const valid = await mintJwt(es256, { jobs: [JOB] });
    const [head, body, signature] = valid.split('.') as [string, string, string];
    const tampered = `${head}.${Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(body, 'base64url').toString()), herald: { jobs: ['x'] } })).toString('base64url')}.${signature}`;
    const noKid = `${Buffer.from(JSON.stringify({ alg: 'ES256' })).toString('base64url')}.${body}.${signature}`;
    const cases: [string, string, RegExp | null][] = [
      ['expired', await mintJwt(es256, { jobs: [JOB], expiresIn: -60 }), null],
      ['signature', tampered, /bad signature/],
      ['other key', await mintJwt({ ...rs256, privateKey: (await signingKey('RS256', 'x')).privateKey }, { jobs: [JOB] }), /bad signature/],
      ['issuer', await mintJwt(es256, { jobs: [JOB], issuer: 'https://evil.example' }), /iss/],
      ['audience', await mintJwt(es256, { jobs: [JOB], audience: 'someone-else' }), /aud/],
      ['none', unsecuredJwt(es256.kid, { herald: { jobs: [JOB] }, iss: ISSUER, aud: AUDIENCE, exp: 9e9 }), /alg must be/],
      ['HS256', await hmacJwt(es256, { herald: { jobs: [JOB] }, iss: ISSUER, aud: AUDIENCE, exp: 9e9 }), /alg must be/],
      ['no exp', await mintJwt(es256, { jobs: [JOB], expiresIn: null }), /exp/],
      ['no kid', noKid, /kid/],
      ['no herald claim', await mintJwt(es256, { claim: undefined }), /herald claim/],
      ['herald claim not lists', await mintJwt(es256, { claim: { jobs: JOB } }), /herald claim/],
      ['garbage', 'eyJhbGciOiJFUzI1NiJ9.e30.AAAA', /./],
    ];
    for (const [what, token, why] of cases) {
      const check = await jwts.check(token);
      if (why === null) expect({ what, ...check }).toEqual({ what, verdict: 'expired' });
      else {
        expect({ what, verdict: check.verdict }).toEqual({ what, verdict: 'invalid' });
        expect(check.verdict === 'invalid' && check.why, what).toMatch(why);
      }
    }
  });

  it('is told apart by shape in time linear in its length, whatever 4096 characters are thrown at it', () => {
    const shapes = [
      'a.'.repeat(2048),
      `${'a'.repeat(2047)}.${'a'.repeat(2047)}.`,
      `eyJ${'a'.repeat(4093)}`,
      `${'.'.repeat(4096)}`,
      `${Buffer.from(`{"alg":"ES256","x":"${'a'.repeat(2900)}"}`).toString('base64url')}.a.a`.slice(0, 4096),
      `${'eyJhbGciOiJFUzI1NiJ9.'.repeat(195)}`,
    ];
    // 20 calls a round: a quadratic scan of 4096 characters (16M steps a call) is far over the bound.
    for (const shape of shapes) {
      const twenty = () => {
        for (let i = 0; i < 20; i += 1) WatchJwts.looksLikeJwt(shape);
      };
      expect(fastestMs(twenty), shape.slice(0, 40)).toBeLessThan(50);
    }
    expect(WatchJwts.looksLikeJwt(shapes[4]!)).toBe(true);
    expect(shapes.filter((shape) => WatchJwts.looksLikeJwt(shape))).toHaveLength(1);
  });
});

describe('the key set', () => {
  it('is fetched once and cached; a new kid is fetched without a restart, at most once per cooldown', async () => {
    jwks.keys = [es256];
    const timing = { ...KEY_SET_TIMING, cooldownMs: 400 };
    const jwts = verifier(timing);
    const before = jwks.fetches;
    for (let i = 0; i < 5; i += 1) expect((await jwts.check(await mintJwt(es256, { jobs: [JOB] }))).verdict).toBe('valid');
    expect(jwks.fetches - before).toBe(1);
    // A rotated key the replica has not seen: within the cooldown, refused without a fetch, however many try.
    const next = await mintJwt(rotated, { jobs: [JOB] });
    jwks.keys = [es256, rotated];
    const refused = await Promise.all(Array.from({ length: 20 }, () => jwts.check(next)));
    expect(refused.every((check) => check.verdict === 'invalid')).toBe(true);
    expect(jwks.fetches - before).toBe(1);
    // After it, the unknown kid sends one fetch, which brings the new key.
    await new Promise((resolve) => setTimeout(resolve, timing.cooldownMs + 50));
    const checks = await Promise.all(Array.from({ length: 20 }, () => jwts.check(next)));
    expect(checks.map((check) => check.verdict)).toEqual(Array(20).fill('valid'));
    expect(jwks.fetches - before).toBe(2);
  });

  it('holds the 30 s cooldown by default: unknown kids right after a fetch send no fetch', async () => {
    jwks.keys = [es256];
    const jwts = verifier();
    const before = jwks.fetches;
    expect((await jwts.check(await mintJwt(es256, { jobs: [JOB] }))).verdict).toBe('valid');
    jwks.keys = [es256, rotated];
    for (let i = 0; i < 10; i += 1) {
      expect((await jwts.check(await mintJwt(rotated, { jobs: [JOB], kid: `unknown-${i}` }))).verdict).toBe('invalid');
    }
    expect(jwks.fetches - before).toBe(1);
  });

  it('that cannot be had makes JWTs keys-unavailable (not invalid), retried no sooner than 5 s apart', async () => {
    jwks.keys = [es256];
    const why = {
      error: /500/,
      huge: /8388\d+ bytes, more than/,
      'huge-unannounced': /more than 262144 bytes/,
      'not-jwks': /not a JWKS/,
      slow: /timeout|abort/i,
    };
    for (const behaviour of ['error', 'huge', 'huge-unannounced', 'not-jwks', 'slow'] as const) {
      jwks.behaviour = behaviour;
      failures.length = 0;
      const jwts = verifier({ ...KEY_SET_TIMING, timeoutMs: 300 });
      const before = jwks.fetches;
      const started = performance.now();
      const token = await mintJwt(es256, { jobs: [JOB] });
      expect((await jwts.check(token)).verdict, behaviour).toBe('keys-unavailable');
      expect(performance.now() - started, behaviour).toBeLessThan(2_000);
      // The next ones within 5 s are refused at once, without another fetch or another log line.
      for (let i = 0; i < 5; i += 1) expect((await jwts.check(token)).verdict).toBe('keys-unavailable');
      expect({ behaviour, fetches: jwks.fetches - before, failures: failures.length }).toEqual({ behaviour, fetches: 1, failures: 1 });
      expect(`${failures[0]!.name}: ${failures[0]!.message}`, behaviour).toMatch(why[behaviour]);
    }
    jwks.behaviour = 'keys';
    expect(MAX_JWKS_BYTES).toBe(262_144);
  });

  it('on a port nothing listens on is keys-unavailable too', async () => {
    const gone = await startJwksServer([es256]);
    await gone.close();
    const check = await verifier(KEY_SET_TIMING, gone.url).check(await mintJwt(es256, { jobs: [JOB] }));
    expect(check.verdict).toBe('keys-unavailable');
  });
});
