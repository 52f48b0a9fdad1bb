import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import { connectRedis, createLogger, keys } from '@herald/shared';
import { HttpError } from '../../apps/api/src/errors.ts';
import { StreamSlots, type StreamSlot } from '../../apps/api/src/limits/stream-slots.ts';
import { SubmissionLimiter } from '../../apps/api/src/limits/submission-limiter.ts';
import { freePort } from '../support/free-port.ts';

const silent = createLogger('test', 'silent');
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
/** A client address of its own per test: the module tests share one Redis and never flush it. */
const freshIp = () => `2001:db8::${randomBytes(2).toString('hex')}:${randomBytes(2).toString('hex')}`;

async function expect429(work: Promise<unknown>): Promise<HttpError> {
  const error = await work.then(
    () => null,
    (thrown: unknown) => thrown,
  );
  expect(error).toBeInstanceOf(HttpError);
  const http = error as HttpError;
  expect(http.status).toBe(429);
  expect(http.code).toBe('rate_limited');
  expect(Number(http.headers['Retry-After'])).toBeGreaterThanOrEqual(1);
  return http;
}

describe('SubmissionLimiter, on Redis', () => {
  let redis: Redis;
  beforeAll(() => {
    redis = new Redis(inject('redisUrl'));
  });
  afterAll(() => redis.disconnect());

  it('allows the limit per IP in a window, then refuses with the time until one more fits', async () => {
    const limiter = new SubmissionLimiter(redis, { perKey: 0, perIp: 3, windowSeconds: 60 });
    const ip = freshIp();
    for (let i = 0; i < 3; i += 1) expect(await limiter.check({ keyId: null, ip })).toEqual({ allowed: true });
    const refused = await limiter.check({ keyId: null, ip });
    expect(refused).toMatchObject({ allowed: false, refusedBy: ['submit_ip'] });
    if (refused.allowed) throw new Error('unreachable');
    // The rest of this window, then a third of the next (60 s / 3) for the first one back.
    expect(refused.retryAfterSeconds).toBeGreaterThan(20);
    expect(refused.retryAfterSeconds).toBeLessThanOrEqual(80);
    // Another address has its own budget; no key means no per-key limit.
    expect(await limiter.check({ keyId: null, ip: freshIp() })).toEqual({ allowed: true });
  });

  it('refuses when either limit is reached, and a refused request counts against neither', async () => {
    const counted: string[] = [];
    const limiter = new SubmissionLimiter(redis, { perKey: 3, perIp: 2, windowSeconds: 60 }, (limit) => counted.push(limit));
    const keyId = randomBytes(6).toString('hex');
    const [ipA, ipB, ipC] = [freshIp(), freshIp(), freshIp()];
    await limiter.enforce({ keyId, ip: ipA });
    await limiter.enforce({ keyId, ip: ipA });
    // ipA is spent: refused, and the key's budget (2 of 3 used) is untouched by the refusals.
    for (let i = 0; i < 5; i += 1) {
      const error = await expect429(limiter.enforce({ keyId, ip: ipA }));
      expect(error.message).toMatch(/from your address/);
    }
    await limiter.enforce({ keyId, ip: ipB }); // the key's third
    const byKey = await expect429(limiter.enforce({ keyId, ip: ipC }));
    expect(byKey.message).toMatch(/API key/);
    // ipC was refused for the key: its own budget is whole for another key.
    await limiter.enforce({ keyId: 'another-key', ip: ipC });
    await limiter.enforce({ keyId: 'another-key', ip: ipC });
    expect(await limiter.check({ keyId, ip: ipA })).toMatchObject({ allowed: false, refusedBy: ['submit_key', 'submit_ip'] });
    expect(counted).toEqual([...Array(5).fill('submit_ip'), 'submit_key']);
  });

  it('gives the budget back as the window slides', async () => {
    const limiter = new SubmissionLimiter(redis, { perKey: 0, perIp: 4, windowSeconds: 1 });
    const ip = freshIp();
    for (let i = 0; i < 4; i += 1) expect((await limiter.check({ keyId: null, ip })).allowed).toBe(true);
    const refused = await limiter.check({ keyId: null, ip });
    if (refused.allowed) throw new Error('expected a refusal');
    expect(refused.retryAfterSeconds).toBeLessThanOrEqual(2);
    await sleep(refused.retryAfterSeconds * 1000);
    expect((await limiter.check({ keyId: null, ip })).allowed).toBe(true);
    // Two windows after the last one counted, the whole budget is back.
    await sleep(2000);
    for (let i = 0; i < 4; i += 1) expect((await limiter.check({ keyId: null, ip })).allowed).toBe(true);
    expect((await limiter.check({ keyId: null, ip })).allowed).toBe(false);
  });

  it('does not let a burst at a window boundary through twice', async () => {
    const limiter = new SubmissionLimiter(redis, { perKey: 0, perIp: 10, windowSeconds: 1 });
    const ip = freshIp();
    // Spend the limit late in a window (Redis's clock: 1 s windows are its seconds) …
    const intoWindow = async () => Number((await redis.time())[1]) / 1000;
    await sleep((750 - (await intoWindow()) + 1000) % 1000);
    for (let i = 0; i < 10; i += 1) expect((await limiter.check({ keyId: null, ip })).allowed).toBe(true);
    // … and again just after the boundary: a fixed window would allow all ten again.
    await sleep(1000 - (await intoWindow()) + 50);
    let allowed = 0;
    for (let i = 0; i < 10; i += 1) if ((await limiter.check({ keyId: null, ip })).allowed) allowed += 1;
    expect(allowed).toBeLessThanOrEqual(2);
  });

  it('does nothing with both limits off, or the key limit off and no IP limit', async () => {
    const limiter = new SubmissionLimiter(redis, { perKey: 0, perIp: 0, windowSeconds: 60 });
    const ip = freshIp();
    for (let i = 0; i < 50; i += 1) expect((await limiter.check({ keyId: 'k', ip })).allowed).toBe(true);
    expect(await redis.exists(keys.submitRate('ip', ip))).toBe(0);
  });

  it('lets a Redis error through to the caller (a 503), rather than allowing blindly', async () => {
    const dead = connectRedis(`redis://127.0.0.1:${await freePort()}`, { name: 'test:dead', whileDown: 'fail-fast' });
    dead.on('error', () => {});
    try {
      const limiter = new SubmissionLimiter(dead, { perKey: 0, perIp: 5, windowSeconds: 60 });
      await expect(limiter.check({ keyId: null, ip: freshIp() })).rejects.toThrow();
    } finally {
      dead.disconnect();
    }
  });
});

describe('StreamSlots, on Redis', () => {
  let redis: Redis;
  const started: StreamSlots[] = [];
  const slots = (options: ConstructorParameters<typeof StreamSlots>[2], connection: Redis = redis) => {
    const made = new StreamSlots(connection, silent, options);
    started.push(made);
    return made;
  };
  beforeAll(() => {
    redis = new Redis(inject('redisUrl'));
  });
  afterEach(async () => {
    await Promise.all(started.splice(0).map((made) => made.stop()));
  });
  afterAll(() => redis.disconnect());

  const total = async (ip: string) => {
    const counts = await redis.hgetall(keys.streamSlots(ip));
    return Object.values(counts).reduce((sum, n) => sum + Number(n), 0);
  };

  it('counts one IP across replicas, refuses past the limit, and frees a slot on release', async () => {
    let refusals = 0;
    const [a, b] = [slots({ perIp: 2, onRefused: () => (refusals += 1) }), slots({ perIp: 2 })];
    expect(a.replicaId).not.toBe(b.replicaId);
    const ip = freshIp();
    const first = await a.acquire(ip);
    await b.acquire(ip);
    const refused = await expect429(a.acquire(ip));
    expect(Number(refused.headers['Retry-After'])).toBe(5);
    await expect429(b.acquire(ip));
    expect(refusals).toBe(1);
    // Another IP is not affected.
    (await a.acquire(freshIp())).release();
    // Releasing twice gives back one slot, not two.
    first.release();
    first.release();
    await expect.poll(() => total(ip)).toBe(1);
    await b.acquire(ip);
    await expect429(a.acquire(ip));
  });

  it('keeps a long stream counted past its lease: the replica renews it', async () => {
    const [a, b] = [slots({ perIp: 1, leaseMs: 600 }), slots({ perIp: 1, leaseMs: 600 })];
    const ip = freshIp();
    await a.acquire(ip);
    await sleep(1500);
    await expect429(b.acquire(ip));
    expect(await redis.pttl(keys.streamLeases(ip))).toBeGreaterThan(0);
  });

  it('forgets a crashed replica’s streams once its lease runs out', async () => {
    // The crashed replica: its own connection, which then goes away — no release, no renewal.
    const own = connectRedis(inject('redisUrl'), { name: 'test:crashing', whileDown: 'fail-fast' });
    own.on('error', () => {});
    await new Promise((resolve) => own.once('ready', resolve));
    const crashing = slots({ perIp: 2, leaseMs: 900 }, own);
    const survivor = slots({ perIp: 2, leaseMs: 900 });
    const ip = freshIp();
    await crashing.acquire(ip);
    await crashing.acquire(ip);
    await expect429(survivor.acquire(ip));
    own.disconnect();
    await sleep(1000);
    await survivor.acquire(ip);
    await survivor.acquire(ip);
    await expect429(survivor.acquire(ip));
    expect(await redis.hkeys(keys.streamSlots(ip))).toEqual([survivor.replicaId]);
  });

  it('re-asserts its true counts when it renews, mending what a lost release left', async () => {
    const a = slots({ perIp: 3, leaseMs: 900 });
    const ip = freshIp();
    const slot: StreamSlot = await a.acquire(ip);
    await redis.hset(keys.streamSlots(ip), a.replicaId, 7); // as if releases had been lost
    await a.renew();
    expect(await total(ip)).toBe(1);
    slot.release();
    await expect.poll(() => redis.exists(keys.streamSlots(ip), keys.streamLeases(ip))).toBe(0);
    await expect.poll(() => a.ips).toBe(0);
  });

  it('lets streams through when Redis does not answer, and writes them once it does', async () => {
    const flaky = connectRedis(inject('redisUrl'), { name: 'test:flaky', whileDown: 'fail-fast' });
    flaky.on('error', () => {});
    try {
      await new Promise((resolve) => flaky.once('ready', resolve));
      const a = slots({ perIp: 1 }, flaky);
      const ip = freshIp();
      flaky.disconnect(true); // drops the connection, and reconnects in a moment
      await a.acquire(ip);
      await a.acquire(ip); // over the limit, but nobody can tell: let through, counted here
      expect(await total(ip)).toBe(0);
      await new Promise((resolve) => flaky.once('ready', resolve));
      await a.renew();
      expect(await total(ip)).toBe(2);
      await expect429(a.acquire(ip));
    } finally {
      await started.pop()!.stop();
      flaky.disconnect();
    }
  });

  it('gives every slot back on stop, and does nothing when off', async () => {
    const a = slots({ perIp: 5 });
    const ip = freshIp();
    await a.acquire(ip);
    await a.acquire(ip);
    expect(await total(ip)).toBe(2);
    await a.stop();
    expect(await redis.exists(keys.streamSlots(ip))).toBe(0);

    const off = slots({ perIp: 0 });
    for (let i = 0; i < 10; i += 1) (await off.acquire(ip)).release();
    expect(off.enabled).toBe(false);
    expect(await redis.exists(keys.streamSlots(ip))).toBe(0);
  });
});
