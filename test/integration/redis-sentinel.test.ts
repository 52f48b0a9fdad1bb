import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compareStreamIds, isTerminal, parseStreamId } from '@herald/contract';
import { keys } from '@herald/shared';
import { expectExactHistory } from '../support/assertions.ts';
import { submit } from '../support/http.ts';
import { startTestSentinels, type TestSentinels } from '../support/redis-sentinel.ts';
import { SseClient } from '../support/sse-client.ts';
import { startSystem, type TestSystem } from '../support/system.ts';
import { BEES } from '../support/texts.ts';

// Herald behind Sentinel (REDIS_SENTINELS): a master, its replica, three Sentinels.

let sentinels: TestSentinels;
let system: TestSystem;
let a: string;
let b: string;
beforeAll(async () => {
  sentinels = await startTestSentinels();
  system = await startSystem({
    redisEnv: sentinels.env,
    replicas: 2,
    workers: 2,
    env: { STAGE_DELAY_MS: '300', JOB_LOCK_MS: '2000', WORKER_CONCURRENCY: '20', REDIS_WAIT_REPLICAS: '1' },
  });
  [a, b] = system.apis.map((api) => api.url) as [string, string];
}, 120_000);
afterAll(async () => {
  await system?.close();
  await sentinels?.stop();
});

/** Submits, retrying a 503 as a client would while the master changes. */
async function submitted(api: string): Promise<string> {
  for (let attempt = 0; ; attempt += 1) {
    const answer = await submit(api, BEES);
    if (answer.status === 202) return answer.body.jobId as string;
    if (answer.status !== 503 || attempt > 80) throw new Error(`submission answered ${answer.status}`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

async function runningJobs(count: number): Promise<{ jobId: string; watcher: SseClient }[]> {
  const jobIds = await Promise.all(Array.from({ length: count }, () => submitted(a)));
  const running = jobIds.map((jobId) => ({ jobId, watcher: SseClient.open(`${b}/v1/jobs/${jobId}/events`) }));
  await Promise.all(
    running.map(({ watcher }) => watcher.waitFor((client) => client.events.some((event) => event.json.stage === 'received'), 15_000)),
  );
  return running;
}

describe('behind Sentinel', () => {
  it('runs jobs, watched from the other replica', async () => {
    const { jobId, watcher } = (await runningJobs(1))[0]!;
    await watcher.finished(20_000);
    expect(watcher.events.at(-1)!.json.status).toBe('done');
    await expectExactHistory(system.redis, jobId, watcher.events);
  });

  // SENTINEL FAILOVER is not coordinated on Redis 7 (it fails over "as if the master was not
  // reachable"): on its own the old master would take writes in the instant before it is demoted,
  // and the failover would discard them. With `min-replicas-to-write 1` on the master (as
  // startTestSentinels sets, and docs/api.md "Failover" recommends) the old master refuses them
  // (NOREPLICAS) once its replica is promoted away, Herald retries them on the new master, and
  // nothing is lost: every watcher's history is exactly the new master's Stream.
  it('follows a failover (SENTINEL FAILOVER) mid-job: no watcher hangs, every job ends done, no submission and no event is lost', async () => {
    const running = await runningJobs(8);
    const during = [submitted(a), submitted(b)];
    await sentinels.failover();
    during.push(submitted(a), submitted(b));
    for (const jobId of await Promise.all(during)) running.push({ jobId, watcher: SseClient.open(`${b}/v1/jobs/${jobId}/events`) });
    let lost = 0;
    for (const { jobId, watcher } of running) {
      await watcher.finished(30_000);
      expect({ jobId, status: watcher.events.at(-1)?.json.status }).toEqual({ jobId, status: 'done' });
      const stored = new Set((await system.redis.xrange(keys.events(jobId), '-', '+')).map(([id]) => id));
      lost += watcher.events.filter((event) => !stored.has(event.id!)).length;
    }
    // Nothing a watcher saw is missing from the new master…
    expect(lost, 'events delivered to watchers that the new master does not have').toBe(0);
    // …and every watcher got exactly the job's Stream: the same ids, in the same order, once each.
    for (const { jobId, watcher } of running) await expectExactHistory(system.redis, jobId, watcher.events);
  }, 90_000);

  it('follows the master’s death (SIGKILL): no watcher hangs, every job ends once the node is back as a replica', async () => {
    const running = await runningJobs(8);
    const port = await sentinels.currentMasterPort();
    const dead = [sentinels.master, sentinels.replica].find((redis) => redis.port === port)!;
    const killedAt = Date.now();
    await dead.kill();
    await sentinels.waitForMasterOtherThan(port);
    // The new master has no replica, and min-replicas-to-write keeps it from taking writes it
    // could lose: Herald waits (requests get 503, jobs pause) until the dead node is back.
    await dead.start();
    for (const { jobId, watcher } of running) {
      await watcher.finished(60_000);
      expect(['done', 'error']).toContain(watcher.events.at(-1)!.json.status);
      // Events written in the kill's instant may be gone from the Stream (docs/api.md, "Failover"),
      // but what a watcher got never goes back: ids strictly increasing, one terminal event, last.
      const ids = watcher.events.map((event) => parseStreamId(event.id!)!);
      for (let i = 1; i < ids.length; i += 1) {
        expect(
          compareStreamIds(ids[i]!, ids[i - 1]!),
          `${jobId}: ${watcher.events[i - 1]!.id} then ${watcher.events[i]!.id}`,
        ).toBeGreaterThan(0);
      }
      const terminals = watcher.events.filter((event) => isTerminal(event.json.status));
      expect(terminals).toEqual([watcher.events.at(-1)]);
    }
    console.info(`[redis-sentinel] master killed: every watcher ended ${Date.now() - killedAt} ms after the kill`);
    const after = SseClient.open(`${b}/v1/jobs/${await submitted(a)}/events`);
    await after.finished(20_000);
    expect(after.events.at(-1)!.json.status).toBe('done');
  }, 120_000);
});
