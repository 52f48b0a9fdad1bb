import { randomBytes } from 'node:crypto';
import { ReplyError } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { connectRedis, createLogger, keys, loadConfig, type Config, type RedisClient } from '@herald/shared';
import { HttpError, toHttpError } from '../../apps/api/src/http/errors.ts';
import { StreamSlots, type StreamSlot } from '../../apps/api/src/limits/stream-slots.ts';
import { SubmissionLimiter } from '../../apps/api/src/limits/submission-limiter.ts';
import { ActiveJobs } from '../../apps/api/src/limits/active-jobs.ts';
import { IdempotencyStore } from '../../apps/api/src/jobs/idempotency.ts';
import { JobService } from '../../apps/api/src/jobs/job-service.ts';
import { freePort } from '../support/free-port.ts';
import { request, submit, type JsonResponse } from '../support/http.ts';
import { scrape } from '../support/prometheus.ts';
import { startSystem, type TestSystem } from '../support/system.ts';
import { BEES } from '../support/texts.ts';
import { connectTestRedis, keysMatching, redisEnv, redisSettings } from '../support/redis-target.ts';

const silent = createLogger('test', 'silent');
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
/** A client address of its own per test: tests share one Redis, so none may share a budget. */
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

/** What `work` was rejected with (it must be rejected). */
async function refusal(work: Promise<unknown>): Promise<unknown> {
  return work.then(
    (value) => {
      throw new Error(`expected a refusal, got ${JSON.stringify(value)}`);
    },
    (thrown: unknown) => thrown,
  );
}

/** The 503 a route answers `error` with (errors.ts): its code and Retry-After, as docs/api.md lists them. */
function expectUnavailable(error: unknown, code: 'redis_unavailable' | 'redis_out_of_memory', retryAfter: string): void {
  const http = toHttpError(error);
  expect(http, String(error)).not.toBeNull();
  expect([http!.status, http!.code, http!.headers['Retry-After']]).toEqual([503, code, retryAfter]);
}

describe('SubmissionLimiter, on Redis', () => {
  let redis: RedisClient;
  beforeAll(() => {
    redis = connectTestRedis();
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
    // Spend the limit late in a window (Redis's clock: 1 s windows are its seconds), with 400 ms
    // to spare for ten round trips on a loaded machine …
    const intoWindow = async () => Number((await redis.time())[1]) / 1000;
    await sleep((600 - (await intoWindow()) + 1000) % 1000);
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

  it('counts snapshot reads (READ_RATE_PER_IP) on counters of their own: reads and submissions never spend each other’s budget', async () => {
    const settings = { READ_RATE_PER_IP: 2, RATE_WINDOW_SECONDS: 60 } as Config;
    const counted: string[] = [];
    const reads = SubmissionLimiter.forReads(redis, settings, (limit) => counted.push(limit));
    const submissions = new SubmissionLimiter(redis, { perKey: 0, perIp: 2, windowSeconds: 60 });
    const ip = freshIp();
    await reads.enforce({ keyId: 'some-key', ip });
    await reads.enforce({ keyId: 'some-key', ip });
    const refused = await expect429(reads.enforce({ keyId: null, ip }));
    expect(refused.message).toMatch(/snapshot reads from your address/);
    expect(counted).toEqual(['read_ip']);
    expect(await submissions.check({ keyId: null, ip })).toEqual({ allowed: true });
    expect(await submissions.check({ keyId: null, ip })).toEqual({ allowed: true });
  });

  it('lets a Redis error through to the caller (a 503), rather than allowing blindly', async () => {
    const dead = connectRedis(
      { ...redisSettings(), REDIS_URL: `redis://127.0.0.1:${await freePort()}`, REDIS_CLUSTER_NODES: [] },
      { name: 'test:dead', whileDown: 'fail-fast' },
    );
    dead.on('error', () => {});
    try {
      const limiter = new SubmissionLimiter(dead, { perKey: 0, perIp: 5, windowSeconds: 60 });
      expectUnavailable(await refusal(limiter.check({ keyId: null, ip: freshIp() })), 'redis_unavailable', '1');
    } finally {
      dead.disconnect();
    }
  });
});

describe('StreamSlots, on Redis', () => {
  let redis: RedisClient;
  const started: StreamSlots[] = [];
  const slots = (options: ConstructorParameters<typeof StreamSlots>[2], connection: RedisClient = redis) => {
    const made = new StreamSlots(connection, silent, options);
    started.push(made);
    return made;
  };
  beforeAll(() => {
    redis = connectTestRedis();
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
    // Renewed every lease/3: an event-loop stall of up to a second on a busy machine is no lapse.
    const [a, b] = [slots({ perIp: 1, leaseMs: 1500 }), slots({ perIp: 1, leaseMs: 1500 })];
    const ip = freshIp();
    await a.acquire(ip);
    await sleep(3500);
    await expect429(b.acquire(ip));
    expect(await redis.pttl(keys.streamLeases(ip))).toBeGreaterThan(0);
  });

  it('forgets a crashed replica’s streams once its lease runs out', async () => {
    // The crashed replica: its own connection, which then goes away — no release, no renewal.
    const own = connectRedis(redisSettings(), { name: 'test:crashing', whileDown: 'fail-fast' });
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
    const flaky = connectRedis(redisSettings(), { name: 'test:flaky', whileDown: 'fail-fast' });
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

// ── Through the API: two replicas in this process, one Redis ─────────────────────────────────

const KEY_1 = 'limits-test-key-one-0123456789';
const KEY_2 = 'limits-test-key-two-0123456789';
const AUTH_ON = { API_KEYS: `${KEY_1},${KEY_2}`, WATCH_TOKEN_SECRET: 'a-watch-token-secret-of-forty-characters!' };
const bearer = (key: string) => ({ Authorization: `Bearer ${key}` });
const from = (ip: string) => ({ 'X-Forwarded-For': ip });

function expectRefused(response: JsonResponse, status: 429 | 503, code = status === 429 ? 'rate_limited' : 'replica_full'): number {
  expect(response.status).toBe(status);
  expect(response.body).toEqual({ error: { code, message: expect.any(String) } });
  const retryAfter = Number(response.headers.get('retry-after'));
  expect(Number.isInteger(retryAfter) && retryAfter >= 1, `Retry-After: ${response.headers.get('retry-after')}`).toBe(true);
  return retryAfter;
}

/** Sums a counter over the replicas' /metrics. */
async function refusals(system: TestSystem, limit: string): Promise<number> {
  let sum = 0;
  for (const api of system.apis) sum += (await scrape(api.url)).value('herald_limits_refused_total', { limit }) ?? 0;
  return sum;
}

interface OpenStream {
  readonly status: number;
  readonly response: JsonResponse;
  readonly held: Response;
  close(): void;
}

/** Opens an SSE request and returns once its status is known; a refusal's JSON body is read. */
async function openStream(url: string, headers: Record<string, string> = {}): Promise<OpenStream> {
  const abort = new AbortController();
  const response = await fetch(url, { headers: { Accept: 'text/event-stream', ...headers }, signal: abort.signal });
  const body = response.headers.get('content-type')?.includes('json') ? await response.json() : null;
  return {
    status: response.status,
    response: { status: response.status, headers: response.headers, body },
    // Held so the stream stays open: undici cancels the body of a Response that is collected
    // unread, and the server would then see this client leave at a GC's whim.
    held: response,
    close: () => abort.abort(),
  };
}

describe('submissions per client IP, across two replicas', () => {
  let system: TestSystem;
  let a: string;
  let b: string;
  beforeAll(async () => {
    system = await startSystem({
      workers: 0,
      // loopback is the trusted proxy here, so X-Forwarded-For picks the client's address.
      env: { SUBMIT_RATE_PER_IP: '3', RATE_WINDOW_SECONDS: '2', TRUSTED_PROXIES: 'loopback' },
    });
    [a, b] = system.apis.map((api) => api.url) as [string, string];
  });
  afterAll(() => system.close());

  it('refuses the one over the limit on either replica: 429, Retry-After, the JSON error', async () => {
    expect((await submit(a, BEES)).status).toBe(202);
    expect((await submit(a, BEES)).status).toBe(202);
    expect((await submit(b, BEES)).status).toBe(202);
    const refused = await submit(b, BEES);
    expect(expectRefused(refused, 429)).toBeLessThanOrEqual(3);
    expect(refused.body.error.message).toMatch(/address/);
    expectRefused(await submit(a, BEES), 429);
    // A refusal is refused before the body is read: even an invalid one is a 429, not a 400.
    expectRefused(await request(`${a}/v1/jobs`, { json: { nope: true } }), 429);
    expect(await refusals(system, 'submit_ip')).toBe(3);
    expect(await refusals(system, 'submit_key')).toBe(0);
  });

  it('gives each client address (X-Forwarded-For from the trusted proxy) its own budget', async () => {
    for (let i = 0; i < 3; i += 1) expect((await submit(i % 2 ? a : b, BEES, undefined, from('203.0.113.7'))).status).toBe(202);
    expectRefused(await submit(a, BEES, undefined, from('203.0.113.7')), 429);
    expect((await submit(a, BEES, undefined, from('203.0.113.8'))).status).toBe(202);
    // The address nearest the trusted proxy counts, not what the client put before it.
    expectRefused(await submit(b, BEES, undefined, from('198.51.100.1, 203.0.113.7')), 429);
  });

  it('gives the budget back as the window passes', async () => {
    const client = from('203.0.113.20');
    for (let i = 0; i < 3; i += 1) expect((await submit(a, BEES, undefined, client)).status).toBe(202);
    const retryAfter = expectRefused(await submit(b, BEES, undefined, client), 429);
    await sleep(retryAfter * 1000);
    expect((await submit(b, BEES, undefined, client)).status).toBe(202);
    // Two windows after the last submission, all of it.
    await sleep(4000);
    for (let i = 0; i < 3; i += 1) expect((await submit(i % 2 ? a : b, BEES, undefined, client)).status).toBe(202);
    expectRefused(await submit(a, BEES, undefined, client), 429);
  });
});

describe('snapshot reads per client IP, across two replicas', () => {
  let system: TestSystem;
  let a: string;
  let b: string;
  beforeAll(async () => {
    system = await startSystem({
      workers: 0,
      env: { READ_RATE_PER_IP: '3', RATE_WINDOW_SECONDS: '60', TRUSTED_PROXIES: 'loopback' },
    });
    [a, b] = system.apis.map((api) => api.url) as [string, string];
  });
  afterAll(() => system.close());

  it('refuses the read over READ_RATE_PER_IP on either replica, jobs and batches together, before any lookup; streams are not reads', async () => {
    const jobId = (await submit(a, BEES)).body.jobId as string;
    const batchId = (await request(`${a}/v1/batches`, { json: { items: [{ text: BEES }] } })).body.batchId as string;
    const client = from('203.0.113.50');
    expect((await request(`${a}/v1/jobs/${jobId}`, { headers: client })).status).toBe(200);
    expect((await request(`${b}/v1/batches/${batchId}`, { headers: client })).status).toBe(200);
    expect((await request(`${b}/v1/jobs/${jobId}`, { headers: client })).status).toBe(200);
    const refused = await request(`${a}/v1/jobs/${jobId}`, { headers: client });
    expect(expectRefused(refused, 429)).toBeGreaterThan(1);
    expect(refused.body.error.message).toMatch(/snapshot reads from your address/);
    expectRefused(await request(`${b}/v1/batches/${batchId}`, { headers: client }), 429);
    // Refused before the job is looked up: an unknown one is a 429 too, not a 404.
    expectRefused(await request(`${a}/v1/jobs/no-such-job-0123456789a`, { headers: client }), 429);
    expect(await refusals(system, 'read_ip')).toBe(3);
    expect(await refusals(system, 'submit_ip')).toBe(0);
    // Another address has its own budget; the stream and the submissions are other limits.
    expect((await request(`${b}/v1/jobs/${jobId}`, { headers: from('203.0.113.51') })).status).toBe(200);
    const stream = await openStream(`${a}/v1/jobs/${jobId}/events`, client);
    expect(stream.status).toBe(200);
    stream.close();
    expect((await submit(a, BEES, undefined, client)).status).toBe(202);
  });

  it('counts a batch’s snapshot, which reads every job of it, as a read per 100 jobs', async () => {
    // A batch of 101 weighs 2 reads: two of its snapshots take 4, past this file's 3.
    const items = Array.from({ length: 101 }, () => ({ text: BEES }));
    const batchId = (await request(`${a}/v1/batches`, { json: { items } })).body.batchId as string;
    const client = from('203.0.113.60');
    expect((await request(`${a}/v1/batches/${batchId}`, { headers: client })).status).toBe(200);
    expectRefused(await request(`${b}/v1/batches/${batchId}`, { headers: client }), 429);
  });
});

describe('X-Forwarded-For from a peer that is not a trusted proxy', () => {
  let system: TestSystem;
  beforeAll(async () => {
    system = await startSystem({
      replicas: 1,
      workers: 0,
      env: { SUBMIT_RATE_PER_IP: '2', TRUSTED_PROXIES: '10.0.0.0/8' },
    });
  });
  afterAll(() => system.close());

  it('is ignored: a client cannot pick the address its limit is counted against', async () => {
    const url = system.apis[0]!.url;
    expect((await submit(url, BEES, undefined, from('203.0.113.1'))).status).toBe(202);
    expect((await submit(url, BEES, undefined, from('203.0.113.2'))).status).toBe(202);
    expectRefused(await submit(url, BEES, undefined, from('203.0.113.3')), 429);
    expect(await system.redis.exists(keys.submitRate('ip', '127.0.0.1'))).toBe(1);
  });
});

describe('submissions per API key, across two replicas', () => {
  let system: TestSystem;
  let a: string;
  let b: string;
  beforeAll(async () => {
    system = await startSystem({
      workers: 0,
      env: { ...AUTH_ON, SUBMIT_RATE_PER_KEY: '3', SUBMIT_RATE_PER_IP: '2', TRUSTED_PROXIES: 'loopback' },
    });
    [a, b] = system.apis.map((api) => api.url) as [string, string];
  });
  afterAll(() => system.close());

  it('refuses the key over its limit from any replica and any address; other keys are not affected', async () => {
    expect((await submit(a, BEES, undefined, { ...bearer(KEY_1), ...from('203.0.113.1') })).status).toBe(202);
    expect((await submit(a, BEES, undefined, { ...bearer(KEY_1), ...from('203.0.113.2') })).status).toBe(202);
    expect((await submit(b, BEES, undefined, { ...bearer(KEY_1), ...from('203.0.113.3') })).status).toBe(202);
    const refused = await submit(b, BEES, undefined, { ...bearer(KEY_1), ...from('203.0.113.4') });
    expectRefused(refused, 429);
    expect(refused.body.error.message).toMatch(/API key/);
    expect((await submit(a, BEES, undefined, { ...bearer(KEY_2), ...from('203.0.113.4') })).status).toBe(202);
    // No key at all is a 401, and counts against nothing.
    expect((await submit(a, BEES, undefined, from('203.0.113.5'))).status).toBe(401);
    expect(await refusals(system, 'submit_key')).toBe(1);
    // Neither the key nor the token is in a key name: the key's digest is.
    const names = await keysMatching(system.redis, 'herald:{limits}*');
    expect(names.length).toBeGreaterThan(0);
    for (const name of names) expect(name).not.toContain(KEY_1);
  });

  it('a request refused for its address does not spend its key’s budget', async () => {
    const names = await keysMatching(system.redis, 'herald:{limits}*');
    if (names.length > 0) await system.redis.del(...names);
    const [x, y, z] = [from('203.0.113.30'), from('203.0.113.31'), from('203.0.113.32')];
    expect((await submit(a, BEES, undefined, { ...bearer(KEY_2), ...x })).status).toBe(202);
    expect((await submit(b, BEES, undefined, { ...bearer(KEY_2), ...x })).status).toBe(202);
    for (let i = 0; i < 3; i += 1) expectRefused(await submit(a, BEES, undefined, { ...bearer(KEY_2), ...x }), 429);
    // The key has used 2 of its 3: the refusals above did not count.
    expect((await submit(b, BEES, undefined, { ...bearer(KEY_2), ...y })).status).toBe(202);
    expectRefused(await submit(a, BEES, undefined, { ...bearer(KEY_2), ...z }), 429);
    // … nor did that one count against z.
    expect((await submit(a, BEES, undefined, { ...bearer(KEY_1), ...z })).status).toBe(202);
  });
});

describe('streams per client IP, across two replicas', () => {
  let system: TestSystem;
  let a: string;
  let b: string;
  let jobId: string;
  const opened: OpenStream[] = [];
  beforeAll(async () => {
    // No worker: the job stays queued and its streams stay open.
    system = await startSystem({
      workers: 0,
      env: { MAX_SSE_CLIENTS_PER_IP: '2', TRUSTED_PROXIES: 'loopback' },
    });
    [a, b] = system.apis.map((api) => api.url) as [string, string];
    jobId = (await submit(a, BEES)).body.jobId;
  });
  afterEach(() => {
    for (const stream of opened.splice(0)) stream.close();
  });
  afterAll(() => system.close());

  const events = (base: string, id = jobId) => `${base}/v1/jobs/${id}/events`;
  const open = async (url: string, headers: Record<string, string> = {}) => {
    const stream = await openStream(url, headers);
    opened.push(stream);
    return stream;
  };
  const held = async (ip: string) => Object.values(await system.redis.hgetall(keys.streamSlots(ip))).reduce((sum, n) => sum + Number(n), 0);

  it('one on each replica, then a third on either is refused: 429 + Retry-After; closing one frees a slot on the other', async () => {
    const first = await open(events(a));
    expect(first.status).toBe(200);
    expect((await open(events(b))).status).toBe(200);
    expect(await held('127.0.0.1')).toBe(2);
    expect(expectRefused((await open(events(a))).response, 429)).toBe(5);
    const refused = (await open(events(b))).response;
    expectRefused(refused, 429);
    expect(refused.body.error.message).toMatch(/streams/);
    // The limit counts streams of jobs that exist: an unknown job is still a 404.
    expect((await open(events(b, 'no-such-job-0123456789ab'))).status).toBe(404);
    // Another client address has its own slots.
    expect((await open(events(a), from('203.0.113.9'))).status).toBe(200);

    first.close();
    await expect.poll(() => held('127.0.0.1')).toBe(1);
    expect((await open(events(b))).status).toBe(200);
    expect(await refusals(system, 'streams_ip')).toBe(2);
  });

  it('gives every slot back when the streams end, leaving nothing in Redis', async () => {
    await expect.poll(() => keysMatching(system.redis, 'herald:{limits:*')).toEqual([]);
    const streams = [await open(events(a)), await open(events(b))];
    for (const stream of streams) expect(stream.status).toBe(200);
    for (const stream of streams) stream.close();
    await expect.poll(() => keysMatching(system.redis, 'herald:{limits:*')).toEqual([]);
    expect((await open(events(a))).status).toBe(200);
    expect((await open(events(a))).status).toBe(200);
  });

  it('does not count a stream that ends at once (a finished job’s cursor: 204)', async () => {
    const { body } = await submit(a, BEES);
    expect((await request(`${a}/v1/jobs/${body.jobId}`, { method: 'DELETE' })).status).toBe(202);
    const snapshot = await request(`${a}/v1/jobs/${body.jobId}`);
    // The address at its limit (2): a 204 counted before its cursor was checked would be a 429
    // (docs/api.md: the cursor against the job's end comes before the stream limit).
    await expect.poll(() => held('127.0.0.1')).toBe(0);
    const refusedBefore = await refusals(system, 'streams_ip');
    const streams = [await open(events(a)), await open(events(b))];
    for (const stream of streams) expect(stream.status).toBe(200);
    for (let i = 0; i < 4; i += 1) {
      const ended = await open(events(i % 2 ? a : b, body.jobId), { 'Last-Event-ID': snapshot.body.lastEventId });
      expect(ended.status).toBe(204);
    }
    // Never counted: not held, not refused; the two streams still hold their two slots.
    expect(await held('127.0.0.1')).toBe(2);
    expect(await refusals(system, 'streams_ip')).toBe(refusedBefore);
    // The limit is still 2 and still applies: a third is refused, a freed slot admits one more.
    expectRefused((await open(events(a))).response, 429);
    streams[0]!.close();
    await expect.poll(() => held('127.0.0.1')).toBe(1);
    expect((await open(events(b))).status).toBe(200);
  });
});

describe('streams per replica (MAX_SSE_CLIENTS)', () => {
  let system: TestSystem;
  const opened: OpenStream[] = [];
  beforeAll(async () => {
    system = await startSystem({ workers: 0, env: { MAX_SSE_CLIENTS: '1' } });
  });
  afterAll(async () => {
    for (const stream of opened) stream.close();
    await system.close();
  });

  it('turns the replica’s next stream away with 503 replica_full + Retry-After; the other replica still takes one', async () => {
    const [a, b] = system.apis.map((api) => api.url) as [string, string];
    const { body } = await submit(a, BEES);
    const url = (base: string) => `${base}/v1/jobs/${body.jobId}/events`;
    opened.push(await openStream(url(a)));
    expect(opened[0]!.status).toBe(200);
    const full = await openStream(url(a));
    opened.push(full);
    expect(expectRefused(full.response, 503, 'replica_full')).toBe(2);
    opened.push(await openStream(url(b)));
    expect(opened[2]!.status).toBe(200);
    expect(await refusals(system, 'streams_replica')).toBe(1);
  });
});

describe('with every limit off (0)', () => {
  let system: TestSystem;
  const opened: OpenStream[] = [];
  beforeAll(async () => {
    system = await startSystem({
      workers: 0,
      env: {
        SUBMIT_RATE_PER_IP: '0',
        SUBMIT_RATE_PER_KEY: '0',
        MAX_SSE_CLIENTS_PER_IP: '0',
        READ_RATE_PER_IP: '0',
        RATE_WINDOW_SECONDS: '1',
      },
    });
  });
  afterAll(async () => {
    for (const stream of opened) stream.close();
    await system.close();
  });

  it('counts nothing in Redis and refuses nothing', async () => {
    const [a, b] = system.apis.map((api) => api.url) as [string, string];
    const ids: string[] = [];
    for (let i = 0; i < 20; i += 1) {
      const accepted = await submit(i % 2 ? a : b, BEES);
      expect(accepted.status).toBe(202);
      ids.push(accepted.body.jobId);
    }
    for (let i = 0; i < 6; i += 1) {
      const stream = await openStream(`${i % 2 ? a : b}/v1/jobs/${ids[i]}/events`);
      opened.push(stream);
      expect(stream.status).toBe(200);
    }
    for (let i = 0; i < 20; i += 1) expect((await request(`${i % 2 ? a : b}/v1/jobs/${ids[0]}`)).status).toBe(200);
    expect(await keysMatching(system.redis, 'herald:{limits*')).toEqual([]);
    for (const limit of ['submit_key', 'submit_ip', 'read_ip', 'streams_ip', 'streams_replica'])
      expect(await refusals(system, limit)).toBe(0);
  });
});

// ── Issue 24: a batch counts by its items; the jobs a key has not ended are bounded ────────────

describe('SubmissionLimiter: a batch counts by its items, on Redis', () => {
  let redis: RedisClient;
  beforeAll(() => {
    redis = connectTestRedis();
  });
  afterAll(() => redis.disconnect());

  it('counts a batch’s other items once it is parsed, both limits or neither; the wait is for all of them to fit', async () => {
    // A window of an hour: the requests below all fall in one window, so the wait is exact.
    const window = 3600;
    const limiter = new SubmissionLimiter(redis, { perKey: 20, perIp: 10, windowSeconds: window });
    const keyId = randomBytes(6).toString('hex');
    const ip = freshIp();
    await limiter.enforce({ keyId, ip }); // the gate: the batch's first item
    await limiter.enforceItems({ keyId, ip }, 8); // its 7 others: 8 in all
    await limiter.enforce({ keyId, ip }); // 9: the next batch's first
    const [seconds, micros] = await redis.time();
    const refused = await expect429(limiter.enforceItems({ keyId, ip }, 5)); // 4 more would make 13 of 10
    expect(refused.message).toMatch(/from your address \(this batch counts 5\)/);
    // In the next window 9 becomes the previous count, weighted (W - elapsed) / W: all 5 fit once
    // 9 (W - elapsed) / W + 5 <= 10, 4/9 of the way in. (For the 4 charged it would be 3/9.)
    const elapsedMs = (Number(seconds) * 1000 + Math.floor(Number(micros) / 1000)) % (window * 1000);
    const expected = Math.ceil((window * 1000 - elapsedMs + Math.ceil((window * 1000 * 4) / 9)) / 1000);
    expect(Math.abs(Number(refused.headers['Retry-After']) - expected)).toBeLessThanOrEqual(1);
    // Neither limit counted the refused items: one more job fits the IP's 10, and no more.
    expect(await limiter.check({ keyId, ip })).toEqual({ allowed: true });
    expect((await limiter.check({ keyId, ip })).allowed).toBe(false);
    // The key holds 10 of its 20: from another address a batch of 10 fits, whole, and then nothing.
    const other = freshIp();
    await limiter.enforce({ keyId, ip: other });
    await limiter.enforceItems({ keyId, ip: other }, 10);
    const byKey = await expect429(limiter.enforce({ keyId, ip: freshIp() }));
    expect(byKey.message).toMatch(/API key/);
  });

  it('refuses a batch larger than a limit with 413 naming it (it could never fit), counting nothing', async () => {
    const counted: string[] = [];
    const limiter = new SubmissionLimiter(redis, { perKey: 5, perIp: 3, windowSeconds: 60 }, (limit) => counted.push(limit));
    const keyId = randomBytes(6).toString('hex');
    const ip = freshIp();
    for (const [items, named, notNamed] of [
      [4, ['SUBMIT_RATE_PER_IP (3 per 60 s)'], ['SUBMIT_RATE_PER_KEY']],
      [6, ['SUBMIT_RATE_PER_KEY (5 per 60 s)', 'SUBMIT_RATE_PER_IP (3 per 60 s)'], []],
    ] as const) {
      const error = await limiter.enforceItems({ keyId, ip }, items).then(
        () => null,
        (thrown: unknown) => thrown,
      );
      expect(error).toBeInstanceOf(HttpError);
      const http = error as HttpError;
      expect([http.status, http.code, http.headers['Retry-After']]).toEqual([413, 'payload_too_large', undefined]);
      for (const name of named) expect(http.message).toContain(name);
      for (const name of notNamed) expect(http.message).not.toContain(name);
    }
    expect(counted).toEqual(['submit_ip', 'submit_key', 'submit_ip']);
    expect(await redis.exists(keys.submitRate('ip', ip), keys.submitRate('key', keyId))).toBe(0);
    // With no key (auth off) only the IP's limit applies.
    await limiter.enforce({ keyId: null, ip });
    await limiter.enforceItems({ keyId: null, ip }, 3);
  });
});

describe('batches count by their items, across two replicas', () => {
  let system: TestSystem;
  let a: string;
  let b: string;
  beforeAll(async () => {
    system = await startSystem({
      workers: 0,
      env: { SUBMIT_RATE_PER_IP: '6', RATE_WINDOW_SECONDS: '3600', MAX_BATCH_ITEMS: '10', TRUSTED_PROXIES: 'loopback' },
    });
    [a, b] = system.apis.map((api) => api.url) as [string, string];
  });
  afterAll(() => system.close());

  const batch = (base: string, n: number, client: Record<string, string>) =>
    request(`${base}/v1/batches`, { json: { items: Array.from({ length: n }, () => ({ text: BEES })) }, headers: client });

  it('spends the limit item by item: 429 + Retry-After once the items would not fit, 413 for a batch no window holds', async () => {
    const client = from('203.0.113.60');
    expect((await batch(a, 3, client)).status).toBe(202); // 3 of 6
    const fits = await batch(b, 3, client); // its first counts (4), its other two make 6 of 6: it fits
    expect(fits.status).toBe(202);
    const over = await batch(a, 2, client); // first: 7 > 6
    expectRefused(over, 429);
    const bigger = await batch(b, 4, from('203.0.113.61')); // 1 + 3 = 4 of 6
    expect(bigger.status).toBe(202);
    const second = await batch(a, 3, from('203.0.113.61')); // 5, then 2 more would make 7
    expect(expectRefused(second, 429)).toBeGreaterThan(60);
    expect(second.body.error.message).toMatch(/this batch counts 3/);
    // The refused items counted nothing: one more job fits (6 of 6), then nothing.
    expect((await submit(b, BEES, undefined, from('203.0.113.61'))).status).toBe(202);
    expectRefused(await submit(a, BEES, undefined, from('203.0.113.61')), 429);
    // Seven items can never fit a limit of six: 413 naming it, not a 429 with a Retry-After that would lie.
    const never = await batch(a, 7, from('203.0.113.62'));
    expect(never.status).toBe(413);
    expect(never.headers.get('retry-after')).toBeNull();
    expect(never.body.error).toMatchObject({
      code: 'payload_too_large',
      message: expect.stringContaining('SUBMIT_RATE_PER_IP (6 per 3600 s)'),
    });
    expect(await refusals(system, 'submit_ip')).toBe(4);
  });
});

describe('jobs not ended per API key (MAX_ACTIVE_JOBS_PER_KEY)', () => {
  const KEY_3 = 'limits-test-key-three-0123456789';
  let system: TestSystem;
  let a: string;
  let b: string;
  beforeAll(async () => {
    system = await startSystem({
      workers: 0,
      env: {
        ...AUTH_ON,
        API_KEYS: `${KEY_1},${KEY_2},${KEY_3}`,
        MAX_ACTIVE_JOBS_PER_KEY: '4',
        SUBMIT_RATE_PER_IP: '0',
        SUBMIT_RATE_PER_KEY: '0',
        MAX_BATCH_ITEMS: '10',
      },
    });
    [a, b] = system.apis.map((api) => api.url) as [string, string];
  });
  afterAll(() => system.close());

  const job = (base: string, key: string, body: Record<string, unknown> = { text: BEES }) =>
    request(`${base}/v1/jobs`, { json: body, headers: bearer(key) });
  const batch = (base: string, key: string, n: number) =>
    request(`${base}/v1/batches`, { json: { items: Array.from({ length: n }, () => ({ text: BEES })) }, headers: bearer(key) });
  /** The key's set, found through a job it owns (the key's id is the server's to make). */
  const activeSetOf = async (jobId: string) => keys.activeJobs((await system.redis.hget(keys.snapshot(jobId), 'owner'))!);
  const expectFull = (response: JsonResponse) => {
    expect(response.status).toBe(429);
    expect(response.body.error).toEqual({ code: 'rate_limited', message: expect.stringMatching(/MAX_ACTIVE_JOBS_PER_KEY: 4/) });
    // When jobs end is not Herald's to know: no Retry-After rather than a false one.
    expect(response.headers.get('retry-after')).toBeNull();
  };

  it('counts jobs and a batch’s items; past the limit 429 without Retry-After; a cancel and a producer’s end give places back', async () => {
    const summary = (await job(a, KEY_1)).body.jobId as string;
    const external = (await job(b, KEY_1, { kind: 'external' })).body as { jobId: string; publishToken: string };
    expect((await job(a, KEY_1, { kind: 'external' })).status).toBe(202);
    const set = await activeSetOf(summary);
    expect(await system.redis.zcard(set)).toBe(3);
    expectFull(await batch(b, KEY_1, 2));
    expect(await system.redis.zcard(set)).toBe(3); // all or none
    // Another key has its own count.
    expect((await batch(a, KEY_2, 4)).status).toBe(202);
    // A cancel (here) frees a place …
    expect((await request(`${a}/v1/jobs/${summary}`, { method: 'DELETE', headers: bearer(KEY_1) })).status).toBe(202);
    await expect.poll(() => system.redis.zcard(set)).toBe(2);
    expect((await batch(b, KEY_1, 2)).status).toBe(202);
    expectFull(await job(a, KEY_1));
    // … and so does a producer's terminal event.
    const done = await request(`${b}/v1/jobs/${external.jobId}/events`, {
      json: { status: 'done', result: 'ok' },
      headers: bearer(external.publishToken),
    });
    expect(done.status).toBe(201);
    await expect.poll(() => system.redis.zcard(set)).toBe(3);
    expect((await job(a, KEY_1)).status).toBe(202);
    // More items than the limit itself can never fit: 413 naming it.
    const never = await batch(a, KEY_2, 5);
    expect(never.status).toBe(413);
    expect(never.body.error.message).toContain('MAX_ACTIVE_JOBS_PER_KEY (4)');
    expect(await refusals(system, 'active_key')).toBe(3);
  });

  it('mends leaked places: a key at its limit is pruned of ended and expired jobs (not of new ones), at most once a minute', async () => {
    const external = (await job(a, KEY_3, { kind: 'external' })).body as { jobId: string; publishToken: string };
    const set = await activeSetOf(external.jobId);
    expect(
      (await request(`${a}/v1/jobs/${external.jobId}/events`, { json: { status: 'done' }, headers: bearer(external.publishToken) })).status,
    ).toBe(201);
    await expect.poll(() => system.redis.zcard(set)).toBe(0);
    // As if releases had been lost: the ended job, one long expired (no snapshot), both admitted
    // long ago; and one admitted a moment ago whose first event is not written yet.
    const fresh = 'AAAAAAAAAAAAAAAAAAAAAA';
    const [seconds] = await system.redis.time();
    await system.redis.zadd(
      set,
      0,
      external.jobId,
      0,
      'BBBBBBBBBBBBBBBBBBBBBB',
      0,
      'CCCCCCCCCCCCCCCCCCCCCC',
      Number(seconds) * 1000,
      fresh,
    );
    const admitted = await job(b, KEY_3);
    expect(admitted.status).toBe(202);
    expect((await system.redis.zrange(set, '0', '-1')).sort()).toEqual([admitted.body.jobId, fresh].sort());
    // Leaked again at once: the key was pruned less than a minute ago, so it is refused.
    await system.redis.zadd(set, 0, 'DDDDDDDDDDDDDDDDDDDDDD', 0, 'EEEEEEEEEEEEEEEEEEEEEE');
    expectFull(await job(a, KEY_3));
  });
});

describe('jobs not ended per API key, released by the workers', () => {
  let system: TestSystem;
  let a: string;
  beforeAll(async () => {
    system = await startSystem({
      replicas: 1,
      workers: 1,
      env: { ...AUTH_ON, MAX_ACTIVE_JOBS_PER_KEY: '5', EXTERNAL_IDLE_TIMEOUT_SECONDS: '1', STAGE_DELAY_MS: '300' },
    });
    a = system.apis[0]!.url;
  });
  afterAll(() => system.close());

  it('a worker’s end of a job and the producer watchdog’s each give the place back', async () => {
    const summary = await request(`${a}/v1/jobs`, { json: { text: BEES }, headers: bearer(KEY_1) });
    const external = await request(`${a}/v1/jobs`, { json: { kind: 'external' }, headers: bearer(KEY_1) });
    const set = keys.activeJobs((await system.redis.hget(keys.snapshot(summary.body.jobId), 'owner'))!);
    expect(await system.redis.zrange(set, '0', '-1')).toEqual(expect.arrayContaining([summary.body.jobId, external.body.jobId]));
    await expect
      .poll(async () => (await request(`${a}/v1/jobs/${summary.body.jobId}`, { headers: bearer(KEY_1) })).body.status, { timeout: 15_000 })
      .toBe('done');
    await expect
      .poll(async () => (await request(`${a}/v1/jobs/${external.body.jobId}`, { headers: bearer(KEY_1) })).body.error?.code, {
        timeout: 15_000,
      })
      .toBe('producer_timeout');
    await expect.poll(() => system.redis.zcard(set)).toBe(0);
  });
});

describe('jobs not ended per API key: a submission that fails gives its places back', () => {
  let redis: RedisClient;
  beforeAll(() => {
    redis = connectTestRedis();
  });
  afterAll(() => redis.disconnect());

  it('releases what it admitted when Redis refuses the create', async () => {
    const config = loadConfig({ ...redisEnv(), LOG_LEVEL: 'silent' });
    // Refused as Redis refuses it: ioredis's own reply error.
    const failing = { create: () => Promise.reject(new ReplyError("OOM command not allowed when used memory > 'maxmemory'.")) };
    const jobs = new JobService({
      config,
      redis,
      queue: null as never,
      queueOf: () => null as never,
      kinds: null as never,
      chores: null as never,
      publisher: failing as never,
      reader: null as never,
      idempotency: new IdempotencyStore(redis, 60),
      index: null as never,
    });
    const active = new ActiveJobs(redis, 2);
    const keyId = randomBytes(6).toString('hex');
    const admit = async (jobIds: readonly string[]) => active.admit(keyId, jobIds);
    expectUnavailable(await refusal(jobs.submit({ kind: 'external' }, 'retry-me', keyId, admit)), 'redis_out_of_memory', '5');
    expect(await redis.zcard(keys.activeJobs(keyId))).toBe(0);
    // The Idempotency-Key was given back too: the retry is a new submission, not a replay.
    expectUnavailable(await refusal(jobs.submit({ kind: 'external' }, 'retry-me', keyId, admit)), 'redis_out_of_memory', '5');
    expect(await redis.zcard(keys.activeJobs(keyId))).toBe(0);
  });
});
