import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { startApi } from '@herald/api';
import {
  CHORES_QUEUE_NAME,
  MEMORY_POLICY_CHECK_MS,
  QUEUE_NAME,
  QUEUE_PREFIX,
  checkMemoryPolicy,
  createLogger,
  keys,
  loadConfig,
} from '@herald/shared';
import { startWorker } from '@herald/worker-process';
import { request, submit } from '../support/http.ts';
import { startTestRedis, type TestRedis } from '../support/redis.ts';
import { SseClient } from '../support/sse-client.ts';
import { startSystem, type TestSystem } from '../support/system.ts';
import { BEES } from '../support/texts.ts';

// Redis at its memory limit (maxmemory-policy noeviction), on a Redis of this file's own: it
// refuses every write that would grow it (OOM), and still serves reads and DEL. Herald answers
// 503 redis_out_of_memory and leaves nothing half-written; watchers keep their streams, and all
// resumes once memory is freed (docs/api.md, "Redis").

const MAXMEMORY = String(24 * 1024 * 1024);
const FILLER = 'oom-test:filler:';
const CHUNK = 'x'.repeat(64 * 1024);

const usedMemory = async (redis: Redis): Promise<number> => Number(/used_memory:(\d+)/.exec(await redis.info('memory'))![1]);

/**
 * Writes filler keys until Redis refuses one with OOM; returns how many it took. Then keeps Redis
 * 256 KB over its limit: used_memory moves by a few KB with client buffers (the refused SET's own
 * 64 KB query buffer is freed after it), which would otherwise let a small write through.
 */
async function fillToTheBrim(redis: Redis): Promise<number> {
  for (let count = 0; ; count += 1) {
    try {
      await redis.set(`${FILLER}${count}`, CHUNK);
    } catch (error) {
      expect((error as Error).message).toMatch(/^OOM command not allowed/);
      await redis.config('SET', 'maxmemory', String((await usedMemory(redis)) - 256 * 1024));
      return count;
    }
  }
}

async function freeFiller(redis: Redis, count: number): Promise<void> {
  for (let at = 0; at < count; at += 100) {
    const batch = Array.from({ length: Math.min(100, count - at) }, (_, i) => `${FILLER}${at + i}`);
    await redis.del(...batch);
  }
}

/** Every key but the filler: what Herald and BullMQ hold. */
const heraldKeys = async (redis: Redis): Promise<Set<string>> => new Set((await redis.keys('*')).filter((key) => !key.startsWith(FILLER)));

const oom = (response: { status: number; body: any; headers: Headers }) => ({
  status: response.status,
  code: response.body?.error?.code,
  retryAfter: response.headers.get('retry-after') !== null,
});
const REFUSED = { status: 503, code: 'redis_out_of_memory', retryAfter: true };

describe('Redis full (noeviction): refused, nothing half-written, and all resumes once memory is freed', () => {
  let redisServer: TestRedis;
  let redis: Redis;
  let system: TestSystem;
  beforeAll(async () => {
    redisServer = await startTestRedis({ extraArgs: ['--maxmemory', MAXMEMORY, '--maxmemory-policy', 'noeviction'] });
    redis = new Redis(redisServer.url);
    system = await startSystem({
      redisUrl: redisServer.url,
      replicas: 1,
      // Attempts enough for the time Redis is full (the test's backoff is 50 ms): the job retries
      // and ends `done`. Attempts that run out: the next describe.
      env: { STAGE_DELAY_MS: '400', HEARTBEAT_MS: '200', JOB_ATTEMPTS: '20' },
    });
  });
  afterAll(async () => {
    await system?.close();
    redis?.disconnect();
    await redisServer?.stop();
  });

  it('answers 503 redis_out_of_memory to a submission, a batch and a publish; the running job and its watcher carry on', async () => {
    const api = system.apis[0]!.url;
    const running = await submit(api, BEES);
    expect(running.status).toBe(202);
    const watcher = SseClient.open(`${api}/v1/jobs/${running.body.jobId}/events`);
    await watcher.waitFor((client) => client.events.some((event) => event.json.stage === 'received'));
    const external = await request(`${api}/v1/jobs`, { json: { kind: 'external', title: 'Transcode' } });
    expect(external.status).toBe(202);
    const producer = { Authorization: `Bearer ${external.body.publishToken}` };

    const filler = await fillToTheBrim(redis);
    const before = await heraldKeys(redis);
    const queuedBefore = await redis.zcard(`${QUEUE_PREFIX}:${QUEUE_NAME}:prioritized`);
    const waitingBefore = await redis.llen(`${QUEUE_PREFIX}:${QUEUE_NAME}:wait`);

    expect(oom(await submit(api, BEES))).toEqual(REFUSED);
    expect(oom(await submit(api, BEES, undefined, { 'Idempotency-Key': 'full-1' }))).toEqual(REFUSED);
    expect(oom(await request(`${api}/v1/jobs`, { json: { kind: 'external', metadata: { a: 1 } } }))).toEqual(REFUSED);
    expect(oom(await request(`${api}/v1/batches`, { json: { items: [{ text: BEES }, { text: BEES }] } }))).toEqual(REFUSED);
    const publish = await request(`${api}/v1/jobs/${external.body.jobId}/events`, {
      json: { status: 'processing', progress: 5 },
      headers: producer,
    });
    expect(oom(publish)).toEqual(REFUSED);
    // A cancel is refused whole: the job goes on as it was (no cancel key, no `cancelled` event).
    expect(oom(await request(`${api}/v1/jobs/${running.body.jobId}`, { method: 'DELETE' }))).toEqual(REFUSED);
    expect(oom(await request(`${api}/v1/jobs/${external.body.jobId}`, { method: 'DELETE' }))).toEqual(REFUSED);
    expect(await redis.exists(keys.cancel(running.body.jobId))).toBe(0);

    // No trace of the refused: no new snapshot, Stream or queue entry (BullMQ's own bookkeeping
    // of the running job may come and go).
    const after = await heraldKeys(redis);
    const added = [...after].filter((key) => !before.has(key));
    expect(added.filter((key) => key.startsWith('herald:'))).toEqual([]);
    expect(await redis.zcard(`${QUEUE_PREFIX}:${QUEUE_NAME}:prioritized`)).toBe(queuedBefore);
    expect(await redis.llen(`${QUEUE_PREFIX}:${QUEUE_NAME}:wait`)).toBe(waitingBefore);
    expect((await request(`${api}/v1/jobs/${external.body.jobId}`)).body.status).toBe('queued');

    // The watcher from before stays connected: heartbeats go on while Redis is full.
    const heartbeats = watcher.comments.length;
    await watcher.waitFor((client) => client.comments.length >= heartbeats + 3, 5000);
    expect(watcher.endedByServer).toBe(false);

    await freeFiller(redis, filler);
    await redis.config('SET', 'maxmemory', MAXMEMORY);
    const resumed = await submit(api, BEES, undefined, { 'Idempotency-Key': 'full-1' });
    expect(resumed.status).toBe(202);
    expect((await request(`${api}/v1/batches`, { json: { items: [{ text: BEES }] } })).status).toBe(202);
    expect(
      (await request(`${api}/v1/jobs/${external.body.jobId}/events`, { json: { status: 'processing', progress: 5 }, headers: producer }))
        .status,
    ).toBe(201);
    await watcher.finished(30_000);
    expect(watcher.events.at(-1)!.json.status).toBe('done');
    const stored = await redis.hget(keys.snapshot(running.body.jobId), 'status');
    expect(stored).toBe('done');
  });

  /**
   * Redis is given just enough room for a submission's first step (its `queued` event, the
   * snapshot and, for a batch, all its jobs' first events), and none for the next (BullMQ's
   * chore or queue entry), so the first lands and the next is refused. Which step a refusal hit
   * is seen from Redis's keyspace notifications: the snapshot was written, then deleted.
   */
  it('undoes the steps that landed when a later one is refused: no job is left queued with nothing to run it', async () => {
    const api = system.apis[0]!.url;
    const events = new Redis(redisServer.url);
    await redis.config('SET', 'notify-keyspace-events', 'Egh');
    const written: string[] = [];
    const deleted: string[] = [];
    await events.subscribe('__keyevent@0__:hset', '__keyevent@0__:del');
    events.on('message', (channel: string, key: string) => (channel.endsWith(':hset') ? written : deleted).push(key));
    const snapshotsOf = (list: string[]) => list.filter((key) => /^herald:\{[^}]+\}(~\d+)?:snapshot$/.test(key));
    const chores = async () => redis.zcard(`${QUEUE_PREFIX}:${CHORES_QUEUE_NAME}:delayed`);
    const queued = async () =>
      (await redis.llen(`${QUEUE_PREFIX}:${QUEUE_NAME}:wait`)) + (await redis.zcard(`${QUEUE_PREFIX}:${QUEUE_NAME}:prioritized`));
    const cases = {
      // The watchdog chore (BullMQ) comes after the first event, which carries the 8 KB metadata.
      external: () => request(`${api}/v1/jobs`, { json: { kind: 'external', metadata: { pad: 'm'.repeat(8000) } } }),
      // addBulk (one MULTI) comes after create-batch-n.lua has written 10 jobs' first events.
      batch: () => request(`${api}/v1/batches`, { json: { items: Array.from({ length: 10 }, () => ({ text: BEES })) } }),
    };
    try {
      for (const [name, send] of Object.entries(cases)) {
        // How much room to leave: found by bisection, as used_memory moves a little with client
        // buffers. Too little: the first step is refused (nothing landed); too much: all of it fits.
        let [tooLittle, tooMuch] = [-8192, 65536];
        let undone = false;
        for (let attempt = 0; attempt < 24 && !undone; attempt += 1) {
          const room = Math.round((tooLittle + tooMuch) / 2);
          const before = { keys: await heraldKeys(redis), chores: await chores(), queued: await queued() };
          written.length = 0;
          deleted.length = 0;
          await redis.config('SET', 'maxmemory', String((await usedMemory(redis)) + room));
          const response = await send();
          await redis.config('SET', 'maxmemory', MAXMEMORY);
          await redis.ping(); // the notifications of the request's writes have arrived
          await events.ping();
          if (response.status === 202) {
            tooMuch = room;
            continue;
          }
          expect(oom(response), name).toEqual(REFUSED);
          const landed = snapshotsOf(written).filter((key) => !before.keys.has(key)); // not a running job's
          if (landed.length === 0) {
            tooLittle = room;
            continue;
          }
          expect(deleted, `${name}: every snapshot written was deleted`).toEqual(expect.arrayContaining(landed));
          const left = [...(await heraldKeys(redis))].filter((key) => !before.keys.has(key) && key.startsWith('herald:'));
          expect(left, name).toEqual([]);
          expect(await chores(), name).toBe(before.chores);
          expect(await queued(), name).toBe(before.queued);
          undone = true;
        }
        expect(undone, `${name}: a refusal hit a later step`).toBe(true);
      }
    } finally {
      await redis.config('SET', 'maxmemory', MAXMEMORY);
      events.disconnect();
    }
  });
});

describe('a job whose last attempt Redis refuses', () => {
  let redisServer: TestRedis;
  let redis: Redis;
  let system: TestSystem;
  beforeAll(async () => {
    redisServer = await startTestRedis({ extraArgs: ['--maxmemory', MAXMEMORY, '--maxmemory-policy', 'noeviction'] });
    redis = new Redis(redisServer.url);
    system = await startSystem({ redisUrl: redisServer.url, replicas: 1, env: { STAGE_DELAY_MS: '200', JOB_ATTEMPTS: '1' } });
  });
  afterAll(async () => {
    await system?.close();
    redis?.disconnect();
    await redisServer?.stop();
  });

  it('still ends, `error`, once memory is freed (not `processing` for ever, with no TTL)', async () => {
    const api = system.apis[0]!.url;
    const running = await submit(api, BEES);
    const watcher = SseClient.open(`${api}/v1/jobs/${running.body.jobId}/events`);
    await watcher.waitFor((client) => client.events.some((event) => event.json.stage === 'received'));
    const filler = await fillToTheBrim(redis);
    await new Promise((resolve) => setTimeout(resolve, 1000)); // the worker's next event is refused: its one attempt fails
    expect(await redis.hget(keys.snapshot(running.body.jobId), 'status')).toBe('processing');
    await freeFiller(redis, filler);
    await redis.config('SET', 'maxmemory', MAXMEMORY);
    await watcher.finished(15_000);
    expect(watcher.events.at(-1)!.json.status).toBe('error');
    expect(await redis.ttl(keys.snapshot(running.body.jobId))).toBeGreaterThan(0);
  });
});

describe('the maxmemory-policy check at start (API and worker, as `npm start` runs them: one process)', () => {
  interface LogLine {
    level: string;
    component: string;
    msg: string;
    [field: string]: unknown;
  }
  const servers: TestRedis[] = [];
  afterAll(async () => {
    await Promise.all(servers.map((server) => server.stop()));
  });

  /** Starts an API and a worker on `url`, collecting their log lines until `until` holds. */
  async function startUp(url: string, until: (lines: LogLine[]) => boolean): Promise<LogLine[]> {
    const lines: LogLine[] = [];
    const destination = {
      write: (chunk: string) =>
        lines.push(
          ...chunk
            .split('\n')
            .filter(Boolean)
            .map((line) => JSON.parse(line)),
        ),
    };
    const config = loadConfig({ REDIS_URL: url, PORT: '0', HOST: '127.0.0.1', METRICS_PORT: '0', LOG_LEVEL: 'debug' });
    const api = await startApi({ config, logger: createLogger('api', config.LOG_LEVEL, destination) });
    const worker = await startWorker({ config, logger: createLogger('worker', config.LOG_LEVEL, destination) });
    try {
      const started = Date.now();
      while (!until(lines) && Date.now() - started < MEMORY_POLICY_CHECK_MS + 2000) await new Promise((r) => setTimeout(r, 20));
      return lines;
    } finally {
      await api.close();
      await worker.close();
    }
  }
  const about = (lines: LogLine[]) => lines.filter((line) => line.msg.includes('maxmemory-policy'));

  it('warns once, naming the fix, when Redis may evict keys (allkeys-lru)', async () => {
    const server = await startTestRedis({ extraArgs: ['--maxmemory', '64mb', '--maxmemory-policy', 'allkeys-lru'] });
    servers.push(server);
    const lines = about(await startUp(server.url, (all) => about(all).length > 0));
    expect(lines).toHaveLength(1);
    expect(lines[0]!.level).toBe('warn');
    expect(lines[0]!.msg).toContain('maxmemory-policy allkeys-lru');
    expect(lines[0]!.msg).toContain('Set maxmemory-policy noeviction');
  });

  it('stays quiet under noeviction', async () => {
    const server = await startTestRedis({ extraArgs: ['--maxmemory', '64mb', '--maxmemory-policy', 'noeviction'] });
    servers.push(server);
    const lines = about(await startUp(server.url, (all) => about(all).length > 0));
    expect(lines.map((line) => [line.level, line.msg])).toEqual([['debug', 'redis maxmemory-policy is noeviction']]);
  });

  it('reads the policy from INFO where CONFIG is refused (a managed Redis), and says so in one line where both are', async () => {
    const server = await startTestRedis({ extraArgs: ['--maxmemory', '64mb', '--maxmemory-policy', 'volatile-lru'] });
    servers.push(server);
    const admin = new Redis(server.url);
    await admin.call('ACL', 'SETUSER', 'no-config', 'reset', 'on', '>pw-no-config', '~*', '&*', '+@all', '-config');
    await admin.call('ACL', 'SETUSER', 'no-admin', 'reset', 'on', '>pw-no-admin', '~*', '&*', '+@all', '-config', '-info');
    admin.disconnect();
    const { host } = new URL(server.url);
    const warned = about(await startUp(`redis://no-config:pw-no-config@${host}`, (all) => about(all).length > 0));
    expect(warned.map((line) => line.msg)).toEqual([expect.stringContaining('maxmemory-policy volatile-lru')]);

    // BullMQ itself needs INFO (it will not start without it): the check alone, on such a user.
    const lines: LogLine[] = [];
    const logger = createLogger('api', 'debug', { write: (chunk: string) => lines.push(JSON.parse(chunk)) });
    const client = new Redis(`redis://no-admin:pw-no-admin@${host}`, { enableReadyCheck: false });
    try {
      await checkMemoryPolicy(client, logger, `no-admin@${host}`);
    } finally {
      client.disconnect();
    }
    expect(lines).toHaveLength(1);
    expect([lines[0]!.level, lines[0]!.reply]).toEqual(['warn', 'NOPERM']);
    expect(lines[0]!.msg).toMatch(/refused CONFIG GET and INFO.*make sure it is noeviction/);
  });
});
