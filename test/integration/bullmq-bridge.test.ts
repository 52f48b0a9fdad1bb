import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, symlinkSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Queue } from 'bullmq';
import { createLogger, EventPublisher, keys, publisherOptions, readTagEntryStatus } from '@herald/shared';
import { type BullmqBridge, bridgeQueue } from '../../packages/worker/src/bridge/bridge.ts';
import { bridgedJobId, bullmqTag } from '../../packages/worker/src/bridge/ids.ts';
import type { Child } from '../support/child.ts';
import { SseClient } from '../support/sse-client.ts';
import { startSystem, type TestSystem } from '../support/system.ts';

// The BullMQ bridge (docs/api.md, "The BullMQ bridge"): a plain BullMQ worker in a scratch
// project, which imports nothing but bullmq, runs jobs that report progress; the bridge, a
// process of its own, SIGKILLed and restarted mid-run, makes each a Herald job that a watcher
// finds by its tag, with exactly its progress and its result, nothing missing and nothing twice.

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
// The package's own command, `herald-worker bridge`, run from its sources.
const BRIDGE_ENTRY = join(ROOT, 'packages/worker/src/cli.ts');
const STEP_MS = 60;

/** The scratch worker: knows nothing of Herald. Each job reports `steps`, then fails or returns as its data says. */
const WORKER_SOURCE = `
import { Worker } from 'bullmq';
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const worker = new Worker(process.env.QUEUE, async (job) => {
  for (const step of job.data.steps) {
    await job.updateProgress(step);
    await sleep(${STEP_MS});
  }
  if (job.data.failAlways) throw new Error('broken for good');
  if (job.data.failFirst && job.attemptsMade === 0) throw new Error('first attempt fails');
  if (job.data.returnNothing) return undefined;
  return { n: job.data.n, doubled: job.data.n * 2 };
}, { connection: { url: process.env.REDIS_URL }, concurrency: 4 });
process.on('SIGTERM', () => worker.close().then(() => process.exit(0)));
`;

interface JobPlan {
  readonly id: string;
  readonly steps: readonly unknown[];
  readonly n: number;
  readonly failFirst?: boolean;
  readonly failAlways?: boolean;
  readonly returnNothing?: boolean;
  readonly backoff?: boolean;
}

interface Expected {
  readonly status: string;
  readonly progress: number;
  readonly message: string;
  readonly stage?: string;
  readonly metadata?: unknown;
  readonly result?: unknown;
  readonly error?: unknown;
}

function plans(count: number): JobPlan[] {
  return Array.from({ length: count }, (_, i) => ({
    // One id long enough that its tag is a digest (over 64 characters).
    id: i === 7 ? `long-${'x'.repeat(70)}` : `job-${i}`,
    n: i,
    // Numbers and objects; the second attempt of a retried job starts low again (Herald clamps it).
    steps: [
      5 + i,
      { progress: 40, message: `halfway ${i}`, stage: 'middle' },
      60 + i,
      // Past MAX_METADATA_BYTES (16 KiB by default): Herald refuses it, the bridge leaves it out and goes on.
      ...(i === 19 ? [{ progress: 80, message: 'too much metadata', metadata: { big: 'x'.repeat(20_000) } }] : []),
      { progress: 90, metadata: { item: i } },
    ],
    ...(i % 5 === 1 ? { failFirst: true } : {}),
    ...(i === 3 ? { failFirst: true, backoff: true } : {}),
    ...(i === 13 ? { failAlways: true } : {}),
    ...(i === 17 ? { returnNothing: true } : {}),
  }));
}

/** The Herald events a job's plan must come to, in order. */
function expectedEvents(plan: JobPlan): Expected[] {
  const events: Expected[] = [{ status: 'queued', progress: 0, message: 'Queued in BullMQ' }];
  let progress = 0;
  const attempt = (): void => {
    events.push({ status: 'processing', progress, message: 'Running' });
    for (const step of plan.steps) {
      if (typeof step === 'number') {
        progress = Math.max(progress, step);
        events.push({ status: 'processing', progress, message: '' });
      } else {
        const {
          progress: p,
          message,
          stage,
          metadata,
        } = step as { progress: number; message?: string; stage?: string; metadata?: unknown };
        if (JSON.stringify(metadata ?? {}).length > 16_384) continue; // refused by Herald, left out
        progress = Math.max(progress, p);
        events.push({
          status: 'processing',
          progress,
          message: message ?? '',
          ...(stage === undefined ? {} : { stage }),
          ...(metadata === undefined ? {} : { metadata }),
        });
      }
    }
  };
  attempt();
  if (plan.failFirst || plan.failAlways) {
    const reason = plan.failAlways ? 'broken for good' : 'first attempt fails';
    events.push({ status: 'processing', progress, message: `Attempt failed, retrying: ${reason}` });
    attempt();
  }
  if (plan.failAlways) {
    events.push({ status: 'error', progress, message: 'broken for good', error: { code: 'bullmq_failed', message: 'broken for good' } });
  } else {
    events.push({ status: 'done', progress: 100, message: 'Done', result: plan.returnNothing ? null : { n: plan.n, doubled: plan.n * 2 } });
  }
  return events;
}

const shape = (event: Record<string, unknown>): Expected => {
  const { jobId: _jobId, ts: _ts, ...rest } = event;
  return rest as unknown as Expected;
};

describe('the BullMQ bridge', () => {
  let system: TestSystem;
  let api: string;
  let redisUrl: string;
  let project: string;
  const children: Child[] = [];

  beforeAll(async () => {
    system = await startSystem({ workers: 0, replicas: 1 });
    api = system.apis[0]!.url;
    redisUrl = system.config.REDIS_URL!;
    // A scratch project whose only dependency is bullmq (its own dependencies resolve from its real path).
    project = mkdtempSync(join(tmpdir(), 'herald-bullmq-scratch-'));
    writeFileSync(
      join(project, 'package.json'),
      JSON.stringify({ name: 'scratch', private: true, type: 'module', dependencies: { bullmq: '*' } }),
    );
    writeFileSync(join(project, 'worker.mjs'), WORKER_SOURCE);
    mkdirSync(join(project, 'node_modules'));
    symlinkSync(join(ROOT, 'node_modules/bullmq'), join(project, 'node_modules/bullmq'), 'dir');
  });
  afterAll(async () => {
    for (const child of children) child.process.kill('SIGKILL');
    await system.close();
    rmSync(project, { recursive: true, force: true });
  });

  const startBridge = (queue: string, leaseMs: number): Child => {
    const withArgs = spawnEntry(BRIDGE_ENTRY, ['bridge', '--queue', queue, '--lease-ms', String(leaseMs)], {
      REDIS_URL: redisUrl,
      LOG_LEVEL: 'info',
    });
    children.push(withArgs);
    return withArgs;
  };

  const startWorker = (queue: string): Child => {
    const child = spawnEntry(join(project, 'worker.mjs'), [], { REDIS_URL: redisUrl, QUEUE: queue }, project);
    children.push(child);
    return child;
  };

  /** Adds the planned jobs; retried ones get 2 attempts (one with a backoff, so its retry is `delayed`). */
  const addJobs = async (queue: Queue, jobs: readonly JobPlan[]): Promise<void> => {
    for (const plan of jobs) {
      await queue.add('work', plan, {
        jobId: plan.id,
        attempts: plan.failFirst || plan.failAlways ? 2 : 1,
        ...(plan.backoff ? { backoff: { type: 'fixed', delay: 200 } } : {}),
      });
    }
  };

  /** One watcher per job, by its tag, opened before the job exists: it sees every event. */
  const watchTags = (queueName: string, jobs: readonly JobPlan[]): Map<string, SseClient> =>
    new Map(jobs.map((plan) => [plan.id, SseClient.open(`${api}/v1/events?tag=${bullmqTag(queueName, plan.id)}`)]));

  const ended = (client: SseClient): boolean => client.events.some((e) => ['done', 'error', 'cancelled'].includes(e.json.status));

  /** Each job's events, from its tag's stream and from its own, are exactly what its plan comes to. */
  const checkJobs = async (queueName: string, watchers: Map<string, SseClient>, jobs: readonly JobPlan[]): Promise<void> => {
    for (const plan of jobs) {
      const watcher = watchers.get(plan.id)!;
      await watcher.waitFor(ended, 30_000).catch(async (error: Error) => {
        const id = bridgedJobId('bull', queueName, plan.id);
        const stored = await system.redis.xrange(keys.events(id), '-', '+');
        throw new Error(
          `${plan.id}: ${error.message}; its own Stream: ${stored.map(([sid, f]) => `${sid} ${f[1]} ${f[3]?.slice(40, 120)}`).join(' | ')}; tag watcher ids: ${watcher.events.map((e) => e.id).join(',')}; processes said: ${children.map((c) => c.output().slice(-1500)).join('\n---\n')}`,
        );
      });
      watcher.close();
      const jobIds = new Set(watcher.events.map((e) => e.json.jobId));
      expect(jobIds.size, plan.id).toBe(1);
      const [jobId] = jobIds;
      const expected = expectedEvents(plan);
      expect(
        watcher.events.map((e) => shape(e.json as unknown as Record<string, unknown>)),
        plan.id,
      ).toEqual(expected);
      const own = await SseClient.open(`${api}/v1/jobs/${jobId}/events`).finished();
      expect(
        own.events.map((e) => shape(e.json as unknown as Record<string, unknown>)),
        plan.id,
      ).toEqual(expected);
      const snapshot = (await (await fetch(`${api}/v1/jobs/${jobId}`)).json()) as { kind: string; tags: string[] };
      expect(snapshot.kind).toBe('bullmq');
      expect(snapshot.tags).toEqual([bullmqTag(queueName, plan.id)]);
    }
  };

  it('EventPublisher: create and publish with an idempotency key add nothing when repeated, even after the end', async () => {
    const noop = async () => {};
    const publisher = new EventPublisher(system.redis, publisherOptions(system.config, createLogger('test', 'silent'), noop, noop));
    const jobId = 'bridgeIdempotency0000A';
    const first = { status: 'queued' as const, progress: 0, message: 'Queued' };
    expect(await publisher.create(jobId, first, { kind: 'bullmq' }, { idempotencyKeyHash: 'c' })).not.toBeNull();
    expect(await publisher.create(jobId, first, { kind: 'bullmq' }, { idempotencyKeyHash: 'c' })).toBeNull();
    const step = { status: 'processing' as const, progress: 30, message: 'step' };
    expect(await publisher.publish(jobId, step, { idempotencyKeyHash: 'e1' })).not.toBeNull();
    expect(await publisher.publish(jobId, step, { idempotencyKeyHash: 'e1' })).toBeNull();
    const end = { status: 'done' as const, progress: 100, message: 'Done', result: null };
    expect(await publisher.publish(jobId, end, { idempotencyKeyHash: 'e2' })).not.toBeNull();
    expect(await publisher.publish(jobId, end, { idempotencyKeyHash: 'e2' })).toBeNull();
    const stored = await system.redis.xrange(keys.events(jobId), '-', '+');
    expect(stored.map(([, fields]) => fields[1])).toEqual(['queued', 'processing', 'done']);
  });

  it('EventPublisher: a publish replayed by its idempotency key relays its event, which its first try may not have', async () => {
    const noop = async () => {};
    const options = publisherOptions(system.config, createLogger('test', 'silent'), noop, noop);
    const publisher = new EventPublisher(system.redis, options);
    // The first try: published, then the process died before its relay (here: a publisher that relays nothing).
    const diedBeforeRelay = new EventPublisher(system.redis, { ...options, tagFeedMaxLen: 0 });
    const jobId = 'bridgeReplayRelay0000A';
    const tag = 'replay-relay:1';
    await publisher.create(jobId, { status: 'queued', progress: 0, message: 'Queued' }, { tags: JSON.stringify([tag]) });
    const end = { status: 'done' as const, progress: 100, message: 'Done', result: 1 };
    expect(await diedBeforeRelay.publish(jobId, end, { idempotencyKeyHash: 'end' })).not.toBeNull();
    const feedStatuses = async () =>
      (await system.redis.xrange(keys.tagFeed(tag), '-', '+')).map(([, fields]) => readTagEntryStatus(fields[1]!)?.status);
    expect(await feedStatuses()).toEqual(['queued']);
    expect(await publisher.publish(jobId, end, { idempotencyKeyHash: 'end' })).toBeNull();
    expect(await feedStatuses()).toEqual(['queued', 'done']);
    // Once more: the feed has it, nothing is added.
    expect(await publisher.publish(jobId, end, { idempotencyKeyHash: 'end' })).toBeNull();
    expect(await feedStatuses()).toEqual(['queued', 'done']);
  });

  it('bridges 20 jobs of a plain BullMQ worker exactly, while the bridge is SIGKILLed and restarted mid-run', async () => {
    const currentQueue = 'bridged-work';
    const jobs = plans(20);
    expect(bullmqTag(currentQueue, jobs[7]!.id)).toMatch(/^bullmq:[0-9a-f]{40}$/);
    const watchers = watchTags(currentQueue, jobs);
    const queue = new Queue(currentQueue, { connection: { url: redisUrl } });
    try {
      let bridge = startBridge(currentQueue, 1000);
      await waitForOutput(bridge, 'bridging the BullMQ queue');
      startWorker(currentQueue);
      await addJobs(queue, jobs);
      // Mid-run: some jobs ended, some running, some waiting.
      await waitUntil(async () => (await queue.getCompletedCount()) >= 5);
      expect(await queue.getWaitingCount()).toBeGreaterThan(0);
      bridge.process.kill('SIGKILL');
      await bridge.exited();
      await new Promise((resolve) => setTimeout(resolve, 300));
      // Its lease lapses (1 s), then the new one goes on from the stored cursor.
      bridge = startBridge(currentQueue, 1000);
      await checkJobs(currentQueue, watchers, jobs);
      bridge.process.kill('SIGTERM');
      expect(await bridge.exited()).toBe(0);
    } finally {
      for (const watcher of watchers.values()) watcher.close();
      await queue.close();
    }
  }, 60_000);

  it('two bridges on one queue: one leads, the other (bridgeQueue in this process) waits and takes over when it dies; no event is doubled or missed', async () => {
    const currentQueue = 'bridged-twice';
    const jobs = plans(10).map((plan, i) => ({ ...plan, id: `twice-${i}` }));
    const watchers = watchTags(currentQueue, jobs);
    const queue = new Queue(currentQueue, { connection: { url: redisUrl } });
    let secondBridge: BullmqBridge | null = null;
    try {
      const first = startBridge(currentQueue, 1000);
      await waitForOutput(first, 'bridging the BullMQ queue');
      // The second in this process, through the API itself, with BullMQ's own shape of connection.
      const second = await bridgeQueue({
        queue: currentQueue,
        connection: { url: redisUrl },
        herald: system.config,
        logger: createLogger('second-bridge', 'silent'),
        leaseMs: 1000,
      });
      secondBridge = second;
      startWorker(currentQueue);
      await addJobs(queue, jobs);
      await waitUntil(async () => (await queue.getCompletedCount()) >= 2);
      // Both side by side so far: only the first led.
      expect(second.leading).toBe(false);
      first.process.kill('SIGKILL');
      await first.exited();
      await checkJobs(currentQueue, watchers, jobs);
      expect(second.leading).toBe(true);
      expect(await system.redis.get(keys.bridgeLease('bull', currentQueue))).not.toBeNull();
      await second.close();
      secondBridge = null;
      // Closed, it gave the lease up.
      expect(await system.redis.get(keys.bridgeLease('bull', currentQueue))).toBeNull();
    } finally {
      for (const watcher of watchers.values()) watcher.close();
      await queue.close();
      await secondBridge?.close();
    }
  }, 60_000);
});

function spawnEntry(entry: string, args: readonly string[], env: Record<string, string>, cwd?: string): Child {
  const child = spawn(process.execPath, ['--disable-warning=ExperimentalWarning', entry, ...args], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    ...(cwd === undefined ? {} : { cwd }),
  });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => {
    output += chunk.toString('utf8');
  });
  child.stderr.on('data', (chunk: Buffer) => {
    output += chunk.toString('utf8');
  });
  const exit = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { process: child, output: () => output, exited: () => exit };
}

async function waitForOutput(child: Child, text: string, timeoutMs = 15_000): Promise<void> {
  await waitUntil(
    async () => child.output().includes(text),
    timeoutMs,
    () => child.output(),
  );
}

async function waitUntil(check: () => Promise<boolean>, timeoutMs = 20_000, detail = () => ''): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out ${detail()}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}
