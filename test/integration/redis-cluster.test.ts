import calculateSlot from 'cluster-key-slot';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compareStreamIds, isTerminal, parseStreamId } from '@herald/contract';
import { channels, keys } from '@herald/shared';
import { expectExactHistory } from '../support/assertions.ts';
import { request, submit } from '../support/http.ts';
import { migrateSlot, startTestRedisCluster, type TestRedisCluster } from '../support/redis-cluster.ts';
import { clientNames } from '../support/redis-target.ts';
import { SseClient } from '../support/sse-client.ts';
import { startSystem, type TestSystem } from '../support/system.ts';
import { BEES } from '../support/texts.ts';

// Herald on a Redis Cluster of its own (3 masters, a replica each), for what the shared cluster
// of the `integration-cluster` project cannot do: prove how events travel, and move slots and
// masters under running jobs.

let cluster: TestRedisCluster;
beforeAll(async () => {
  cluster = await startTestRedisCluster();
}, 120_000);
afterAll(() => cluster?.stop());

/** Submits, retrying a 503 as a client would (a failover may be under way); the 202's body. */
async function submitted(api: string, text = BEES): Promise<{ jobId: string }> {
  for (let attempt = 0; ; attempt += 1) {
    const answer = await submit(api, text);
    if (answer.status === 202) return answer.body;
    if (answer.status !== 503 || attempt > 40) throw new Error(`submission answered ${answer.status}: ${JSON.stringify(answer.body)}`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

/** INFO commandstats of every master, summed: calls per command. */
async function commandCalls(): Promise<Map<string, number>> {
  const calls = new Map<string, number>();
  for (const node of await cluster.masters()) {
    const redis = cluster.connect(node);
    const info = (await redis.info('commandstats')) as string;
    redis.disconnect();
    for (const [, name, count] of info.matchAll(/^cmdstat_([a-z|]+):calls=(\d+)/gm)) {
      calls.set(name!, (calls.get(name!) ?? 0) + Number(count));
    }
  }
  return calls;
}

describe('events on a Redis Cluster', () => {
  let system: TestSystem;
  beforeAll(async () => {
    system = await startSystem({ redisEnv: cluster.env, replicas: 1, workers: 1 });
    for (const node of await cluster.masters()) {
      const redis = cluster.connect(node);
      await redis.config('RESETSTAT');
      redis.disconnect();
    }
  });
  afterAll(() => system?.close());

  it('go out with SPUBLISH, to the shard that owns the job, never with PUBLISH', async () => {
    const api = system.apis[0]!.url;
    const jobs = await Promise.all(Array.from({ length: 12 }, () => submitted(api)));
    // A classic subscriber on one job's channel, on every master: it must hear nothing.
    const classic = await Promise.all(
      (await cluster.masters()).map(async (node) => {
        const redis = cluster.connect(node);
        const heard: string[] = [];
        redis.on('message', (_channel: string, message: string) => heard.push(message));
        await redis.subscribe(channels.events(jobs[0]!.jobId));
        return { redis, heard };
      }),
    );
    const watchers = jobs.map(({ jobId }) => SseClient.open(`${api}/v1/jobs/${jobId}/events`));
    await Promise.all(watchers.map((watcher) => watcher.finished(20_000)));
    for (const [i, watcher] of watchers.entries()) {
      expect(watcher.events.at(-1)!.json.status).toBe('done');
      await expectExactHistory(system.redis, jobs[i]!.jobId, watcher.events);
    }
    const calls = await commandCalls();
    expect(calls.get('spublish') ?? 0).toBeGreaterThanOrEqual(jobs.length * 5);
    expect(calls.get('publish') ?? 0).toBe(0);
    for (const { redis, heard } of classic) {
      expect(heard).toEqual([]);
      redis.disconnect();
    }
  });

  it('holds at most one sharded subscriber connection per master, however many jobs and watchers', async () => {
    const api = system.apis[0]!.url;
    const fanout = async () => (await clientNames(system.redis)).filter((name) => name === 'herald:api:fanout').length;
    const watch = async (count: number): Promise<SseClient[]> => {
      // No worker takes these: a fresh system with none would do too, but queued jobs stay open as long.
      const jobs = await Promise.all(Array.from({ length: count }, () => submitted(api)));
      return jobs.map(({ jobId }) => SseClient.open(`${api}/v1/jobs/${jobId}/events`));
    };
    const first = await watch(10);
    await Promise.all(first.map((watcher) => watcher.waitFor((client) => client.events.length >= 1)));
    const few = await fanout();
    const more = await watch(60);
    await Promise.all(more.map((watcher) => watcher.waitFor((client) => client.events.length >= 1)));
    const many = await fanout();
    expect(few).toBeGreaterThanOrEqual(1);
    expect(many).toBeLessThanOrEqual(3);
    // 70 jobs over 16,384 slots touch every master: one connection to each, and no more.
    expect(many).toBe(3);
    for (const watcher of [...first, ...more]) watcher.close();
  });
});

describe('a Redis Cluster changing under running jobs', () => {
  let system: TestSystem;
  let a: string;
  let b: string;
  beforeAll(async () => {
    // Stages 300 ms apart: each job runs for about 1.5 s, long enough to move things under it.
    system = await startSystem({
      redisEnv: cluster.env,
      replicas: 2,
      workers: 2,
      // A job's end waits for a replica (REDIS_WAIT_REPLICAS), so a killed master cannot take it along.
      env: { STAGE_DELAY_MS: '300', JOB_LOCK_MS: '2000', WORKER_CONCURRENCY: '20', REDIS_WAIT_REPLICAS: '1' },
    });
    [a, b] = system.apis.map((api) => api.url) as [string, string];
  });
  afterAll(() => system?.close());

  /** Jobs submitted on one replica, watched from the other once each has started. */
  async function runningJobs(count: number): Promise<{ jobId: string; watcher: SseClient }[]> {
    const jobs = await Promise.all(Array.from({ length: count }, () => submitted(a)));
    const running = jobs.map(({ jobId }) => ({ jobId, watcher: SseClient.open(`${b}/v1/jobs/${jobId}/events`) }));
    await Promise.all(
      running.map(({ watcher }) => watcher.waitFor((client) => client.events.some((event) => event.json.stage === 'received'), 15_000)),
    );
    return running;
  }

  it('moves a slot with a running job: its watchers lose nothing and see nothing twice', async () => {
    const { jobId, watcher } = (await runningJobs(1))[0]!;
    const slot = calculateSlot(keys.events(jobId));
    const from = await cluster.masterOf(keys.events(jobId));
    const to = (await cluster.masters()).find((node) => node !== from)!;
    await migrateSlot(cluster, slot, from, to);
    expect(await cluster.masterOf(keys.events(jobId))).toBe(to);
    await watcher.finished(20_000);
    expect(watcher.events.at(-1)!.json.status).toBe('done');
    await expectExactHistory(system.redis, jobId, watcher.events);
    // And the replica's subscription followed the slot: a new job's events still arrive live.
    const next = SseClient.open(`${b}/v1/jobs/${(await submitted(a)).jobId}/events`);
    await next.finished(20_000);
    expect(next.events.at(-1)!.json.status).toBe('done');
  }, 60_000);

  it('hands every master over to its replica (CLUSTER FAILOVER) mid-job: every watcher gets its job’s exact history, no submission is lost', async () => {
    const running = await runningJobs(12);
    // Submissions keep coming while the masters change hands.
    const during: Promise<{ jobId: string }>[] = [];
    const submitting = setInterval(() => during.push(submitted(a)), 100);
    try {
      for (const master of await cluster.masters()) {
        const replica = await cluster.replicaOf(master);
        during.push(submitted(a), submitted(b)); // in flight while this master hands over
        await cluster.failover(replica);
      }
    } finally {
      clearInterval(submitting);
    }
    const late = await Promise.all(during);
    expect(late.length).toBeGreaterThan(0);
    const all = [...running, ...late.map(({ jobId }) => ({ jobId, watcher: SseClient.open(`${b}/v1/jobs/${jobId}/events`) }))];
    for (const { jobId, watcher } of all) {
      await watcher.finished(30_000);
      expect({ jobId, status: watcher.events.at(-1)?.json.status }).toEqual({ jobId, status: 'done' });
      await expectExactHistory(system.redis, jobId, watcher.events);
    }
    console.info(
      `[redis-cluster] planned failover of 3 masters: ${running.length} running jobs and ${late.length} submitted meanwhile, all done, exact`,
    );
  }, 120_000);

  it('takes a replica killed and restarted mid-job in its stride: exact histories, every job done', async () => {
    const running = await runningJobs(12);
    const replica = await cluster.replicaOf(await cluster.masterOf(keys.events(running[0]!.jobId)));
    await replica.redis.kill();
    // A job's end waits for that replica in vain once (REDIS_WAIT_REPLICAS), then not for a while.
    const more = await runningJobs(4);
    await replica.redis.start();
    for (const { jobId, watcher } of [...running, ...more]) {
      await watcher.finished(30_000);
      expect({ jobId, status: watcher.events.at(-1)?.json.status }).toEqual({ jobId, status: 'done' });
      await expectExactHistory(system.redis, jobId, watcher.events);
    }
    await cluster.waitHealthy(30_000);
  }, 90_000);

  it('survives a master killed with SIGKILL: no watcher hangs, ids never go back, every job ends; what is lost is measured', async () => {
    const running = await runningJobs(12);
    const victim = await cluster.masterOf(keys.events(running[0]!.jobId));
    const killedAt = Date.now();
    await victim.redis.kill();
    for (const { watcher } of running) await watcher.finished(60_000);
    const ended = Date.now();
    let lost = 0;
    let restarted = 0;
    for (const { jobId, watcher } of running) {
      const events = watcher.events;
      // One terminal event, last; ids strictly increasing; progress never back — as always.
      expect(events.filter((event) => isTerminal(event.json.status))).toHaveLength(1);
      expect(isTerminal(events.at(-1)!.json.status)).toBe(true);
      for (let i = 1; i < events.length; i += 1) {
        expect(compareStreamIds(parseStreamId(events[i]!.id!)!, parseStreamId(events[i - 1]!.id!)!)).toBeGreaterThan(0);
      }
      // The job's end is in Redis too, however it ended: nobody is left waiting for it.
      await expect.poll(async () => isTerminal((await request(`${a}/v1/jobs/${jobId}`)).body.status), { timeout: 30_000 }).toBe(true);
      const stored = new Set((await system.redis.xrange(keys.events(jobId), '-', '+')).map(([id]) => id));
      lost += events.filter((event) => !stored.has(event.id!)).length;
      if (events.some((event) => /retrying|attempt 2/i.test(event.json.message))) restarted += 1;
    }
    console.info(
      `[redis-cluster] master killed: watchers all ended within ${ended - killedAt} ms; ${lost} delivered events not on the new master; ${restarted} jobs retried`,
    );
    await victim.redis.start();
    await cluster.waitHealthy(30_000);
  }, 120_000);
});
