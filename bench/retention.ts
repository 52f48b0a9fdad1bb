import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import { startApi, type RunningApi } from '@herald/api';
import { QUEUE_NAME, QUEUE_PREFIX, channels, createLogger, keys, loadConfig } from '@herald/shared';
import { startPrivateRedis, type PrivateRedis } from '@herald/shared/dev';
import { startWorker, type RunningWorker } from '@herald/worker-process';
import { freePort } from '../test/support/free-port.ts';

// Retention benchmark: does Redis give back what N finished jobs took, once JOB_TTL_SECONDS
// has passed? `node bench/retention.ts [--jobs 100000] [--ttl 30] [--in-flight 200]`.
//
// A private Redis, one API and one worker, all in this process (the worker with
// STAGE_DELAY_MS=0). N small jobs are submitted over HTTP with at most --in-flight of them
// unfinished at a time (submitted, no terminal event yet), so the queue stays short: with an
// unbounded backlog a job could wait in the queue longer than the TTL, and its `queued` event
// and snapshot would expire before it ran. Terminal events are seen on a PSUBSCRIBE to the jobs'
// wake-up channels. Redis used_memory and DBSIZE are recorded at the start, once all N jobs
// finished, and after the TTL; used_memory is also sampled every --sample-secs.
//
// BullMQ itself removes aged finished jobs only when a later job finishes the same way; the
// workers' janitor (packages/worker/src/queue-janitor.ts) sweeps them every TTL/2 (1–60 s).
// After the TTL this script waits for that sweep and reports how long it took.
//
// Bounded: --max-secs (default 900) stops it wherever it is. Loopback only. It stops all it
// started (API, worker, Redis) on every path, including SIGINT/SIGTERM.

const { values: args } = parseArgs({
  options: {
    jobs: { type: 'string', default: '100000' },
    ttl: { type: 'string', default: '30' },
    'in-flight': { type: 'string', default: '200' },
    'worker-concurrency': { type: 'string', default: '50' },
    'sample-secs': { type: 'string', default: '5' },
    'max-secs': { type: 'string', default: '900' },
  },
});
const N = Number(args.jobs);
const TTL = Number(args.ttl);
const IN_FLIGHT = Number(args['in-flight']);
const SAMPLE_MS = Number(args['sample-secs']) * 1000;
const MAX_MS = Number(args['max-secs']) * 1000;
for (const [name, value] of Object.entries({ jobs: N, ttl: TTL, 'in-flight': IN_FLIGHT, 'sample-secs': SAMPLE_MS, 'max-secs': MAX_MS })) {
  if (!Number.isInteger(value) || value <= 0) throw new Error(`--${name} must be a positive integer`);
}

const TERMINAL = new Set(['done', 'error', 'cancelled']);
const COMPLETED = `${QUEUE_PREFIX}:${QUEUE_NAME}:completed`;
const FAILED = `${QUEUE_PREFIX}:${QUEUE_NAME}:failed`;
const BULL_EVENTS = `${QUEUE_PREFIX}:${QUEUE_NAME}:events`;
const started = performance.now();
const deadline = Date.now() + MAX_MS;
const elapsed = (): number => Math.round(performance.now() - started) / 1000;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const log = (message: string): void => console.error(`[retention ${elapsed().toFixed(1)}s] ${message}`);

class OutOfTime extends Error {}
const checkTime = (what: string): void => {
  if (Date.now() > deadline) throw new OutOfTime(`--max-secs ${MAX_MS / 1000} reached while ${what}`);
};

interface Measure {
  readonly t: number;
  readonly usedMemory: number;
  readonly usedMemoryMB: number;
  readonly dbsize: number;
  readonly withTtl: number;
  readonly completedSet: number;
  readonly failedSet: number;
}

let redis: PrivateRedis | undefined;
let api: RunningApi | undefined;
let worker: RunningWorker | undefined;
let probe: Redis | undefined;
let listener: Redis | undefined;
let stopping: Promise<void> | undefined;

async function stopAll(): Promise<void> {
  stopping ??= (async () => {
    await api?.close().catch((error: unknown) => log(`api close: ${String(error)}`));
    await worker?.close().catch((error: unknown) => log(`worker close: ${String(error)}`));
    probe?.disconnect();
    listener?.disconnect();
    await redis?.stop();
  })();
  return stopping;
}
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    log(`${signal}: stopping`);
    void stopAll().finally(() => process.exit(130));
  });
}
// The hard stop, should a close hang: a little after --max-secs.
setTimeout(() => {
  log('hard deadline: exiting');
  void stopAll().finally(() => process.exit(2));
  setTimeout(() => process.exit(2), 15_000).unref();
}, MAX_MS + 30_000).unref();

async function measure(client: Redis): Promise<Measure> {
  const [memory, dbsize, keyspace, completedSet, failedSet] = await Promise.all([
    client.info('memory'),
    client.dbsize(),
    client.info('keyspace'),
    client.zcard(COMPLETED),
    client.zcard(FAILED),
  ]);
  const usedMemory = Number(/^used_memory:(\d+)/m.exec(memory)?.[1] ?? 0);
  return {
    t: elapsed(),
    usedMemory,
    usedMemoryMB: Math.round(usedMemory / 1e4) / 100,
    dbsize,
    withTtl: Number(/expires=(\d+)/.exec(keyspace)?.[1] ?? 0),
    completedSet,
    failedSet,
  };
}

/** Resolves each submitted job's terminal status, from the jobs' pub/sub wake-ups. */
class Terminals {
  readonly #early = new Map<string, string>();
  readonly #waiting = new Map<string, { since: number; resolve: (status: string) => void }>();
  /** Jobs already reported: a job can be seen twice (its wake-up and the check after subscribing). */
  readonly #reported = new Set<string>();
  lastEndedAt = 0;

  seen(jobId: string, status: string): void {
    if (this.#reported.has(jobId)) return;
    this.#reported.add(jobId);
    this.lastEndedAt = Date.now();
    const waiter = this.#waiting.get(jobId);
    if (!waiter) {
      this.#early.set(jobId, status); // ended before its 202 reached us
      return;
    }
    this.#waiting.delete(jobId);
    waiter.resolve(status);
  }

  wait(jobId: string): Promise<string> {
    const early = this.#early.get(jobId);
    if (early !== undefined) {
      this.#early.delete(jobId);
      return Promise.resolve(early);
    }
    return new Promise((resolve) => this.#waiting.set(jobId, { since: Date.now(), resolve }));
  }

  /** A safety net for a lost wake-up: asks the snapshots of jobs waited on for over 5 s. */
  async sweep(client: Redis): Promise<void> {
    const stale = [...this.#waiting].filter(([, waiter]) => Date.now() - waiter.since > 5000).map(([id]) => id);
    if (stale.length === 0) return;
    const statuses = await Promise.all(stale.map((id) => client.hget(`herald:{${id}}:snapshot`, 'status')));
    stale.forEach((id, i) => {
      const status = statuses[i];
      if (status && TERMINAL.has(status)) this.seen(id, status);
    });
  }

  get waiting(): number {
    return this.#waiting.size;
  }
}

async function submitOne(apiUrl: string, i: number): Promise<string> {
  const response = await fetch(`${apiUrl}/v1/jobs`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      text: `Retention job ${i} starts here. Bees make honey from nectar. The hive keeps it in wax combs. Job ${i} ends here.`,
      options: { maxSentences: 2 },
    }),
  });
  const body = (await response.json()) as { jobId?: string };
  if (response.status !== 202 || !body.jobId) throw new Error(`submit ${i}: HTTP ${response.status} ${JSON.stringify(body)}`);
  return body.jobId;
}

async function main(): Promise<number> {
  const port = await freePort();
  redis = await startPrivateRedis(port);
  const redisUrl = `redis://127.0.0.1:${port}`;
  const config = loadConfig({
    REDIS_URL: redisUrl,
    PORT: '0',
    HOST: '127.0.0.1',
    STAGE_DELAY_MS: '0',
    WORKER_CONCURRENCY: args['worker-concurrency'],
    JOB_TTL_SECONDS: String(TTL),
    LOG_LEVEL: 'warn',
  });
  probe = new Redis(redisUrl);
  listener = new Redis(redisUrl);
  const terminals = new Terminals();
  // Each job's sharded channel, subscribed once its id is known (there are no sharded patterns).
  listener.on('smessage', (channel: string, message: string) => {
    // channel herald:{jobId}:live, message "<eventId> <status> <json>"
    const status = message.slice(message.indexOf(' ') + 1, message.indexOf(' ', message.indexOf(' ') + 1));
    if (TERMINAL.has(status)) terminals.seen(channel.slice('herald:{'.length, channel.length - '}:live'.length), status);
  });
  worker = await startWorker({ config, logger: createLogger('worker', config.LOG_LEVEL) });
  api = await startApi({ config, logger: createLogger('api', config.LOG_LEVEL) });
  const apiUrl = api.url;
  log(`Redis on ${redisUrl}, API on ${apiUrl}; ${N} jobs, ${IN_FLIGHT} in flight, TTL ${TTL}s`);

  const outcomes: Record<string, number> = { done: 0, error: 0, cancelled: 0 };
  let submitted = 0;
  let finished = 0;
  let submitErrors = 0;
  const atStart = await measure(probe);
  const samples: Measure[] = [atStart];
  const sampler = setInterval(() => {
    void measure(probe!).then(
      (m) => {
        samples.push(m);
        log(`used ${m.usedMemoryMB} MB, ${m.dbsize} keys, ${finished} of ${N} finished`);
      },
      () => {},
    );
  }, SAMPLE_MS);
  const sweeper = setInterval(() => void terminals.sweep(probe!).catch(() => {}), 2000);

  // 1. N jobs, at most IN_FLIGHT unfinished at a time.
  const runStarted = performance.now();
  const lane = async (): Promise<void> => {
    while (submitted < N) {
      checkTime('running jobs');
      const i = submitted;
      submitted += 1;
      let jobId: string;
      try {
        jobId = await submitOne(apiUrl, i);
        await listener!.ssubscribe(channels.events(jobId));
        // It may have ended before the subscription took: its snapshot says so.
        const status = await probe!.hget(keys.snapshot(jobId), 'status');
        if (status !== null && TERMINAL.has(status)) terminals.seen(jobId, status);
      } catch (error) {
        submitErrors += 1;
        if (submitErrors <= 5) log(String(error));
        continue;
      }
      const status = await Promise.race([terminals.wait(jobId), sleep(Math.max(0, deadline - Date.now())).then(() => 'timeout')]);
      if (status === 'timeout') checkTime(`waiting for job ${jobId}`);
      void listener!.sunsubscribe(channels.events(jobId)).catch(() => {});
      outcomes[status] = (outcomes[status] ?? 0) + 1;
      finished += 1;
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.min(IN_FLIGHT, N) }, lane));
  } finally {
    clearInterval(sweeper);
  }
  const runSecs = (performance.now() - runStarted) / 1000;
  const jobsEndedAt = terminals.lastEndedAt;
  const afterJobs = await measure(probe);
  samples.push(afterJobs);
  log(`${finished} jobs finished in ${runSecs.toFixed(1)}s (${Math.round(finished / runSecs)} jobs/s); waiting for the TTL`);

  // 2. The TTL, counted from the last job's end (its terminal event), plus Redis's active
  //    expiry: poll until every key with a TTL is reclaimed (DBSIZE counts expired keys until
  //    Redis samples them).
  while (Date.now() < jobsEndedAt + TTL * 1000 + 1000) {
    checkTime('waiting for the TTL');
    await sleep(250);
  }
  // BullMQ's stalled-check key is the one key that keeps a TTL of its own.
  const bullTtlKeys = () => probe!.exists(`${QUEUE_PREFIX}:${QUEUE_NAME}:stalled-check`);
  let afterTtl = await measure(probe);
  const reclaimDeadline = Date.now() + 30_000;
  while (afterTtl.withTtl > (await bullTtlKeys()) && Date.now() < reclaimDeadline) {
    checkTime('waiting for expired keys to be reclaimed');
    await sleep(500);
    afterTtl = await measure(probe);
  }
  samples.push(afterTtl);
  const expiredKeys = Number(/^expired_keys:(\d+)/m.exec(await probe.info('stats'))?.[1] ?? 0);
  log(
    `after the TTL: ${afterTtl.dbsize} keys (${afterTtl.completedSet} BullMQ jobs in the completed set), used ${afterTtl.usedMemoryMB} MB`,
  );

  // 3. The janitor's sweep: wait until no aged job is left in the completed set.
  const agedCompleted = () => probe!.zcount(COMPLETED, '-inf', Date.now() - TTL * 1000);
  const agedBeforeTrigger = await agedCompleted();
  const sweepStarted = Date.now();
  while ((await agedCompleted()) > 0) {
    checkTime('waiting for the janitor to sweep BullMQ');
    await sleep(500);
  }
  const sweepSeconds = Math.round((Date.now() - sweepStarted) / 100) / 10;
  log(`the janitor swept ${agedBeforeTrigger} aged BullMQ jobs within ${sweepSeconds} s`);
  const afterSweep = await measure(probe);
  samples.push(afterSweep);
  clearInterval(sampler);
  const bullEvents = { entries: await probe.xlen(BULL_EVENTS), bytes: Number(await probe.memory('USAGE', BULL_EVENTS)) || 0 };
  // Keys left that are not BullMQ's queue-wide ones.
  const leftover = (await probe.keys('*')).filter(
    (key) => !key.startsWith(`${QUEUE_PREFIX}:${QUEUE_NAME}:`) || /:[A-Za-z0-9_-]{22}(:|$)/.test(key),
  );

  const peak = samples.reduce((best, m) => (m.usedMemory > best.usedMemory ? m : best), atStart);
  const retainedAtEnd = afterJobs.completedSet + afterJobs.failedSet;
  const result = {
    bench: 'retention',
    jobs: N,
    finished,
    outcomes,
    submitErrors,
    ttlSecs: TTL,
    inFlight: IN_FLIGHT,
    workerConcurrency: config.WORKER_CONCURRENCY,
    runSecs: Math.round(runSecs * 10) / 10,
    jobsPerSec: Math.round(finished / runSecs),
    usedMemoryMB: {
      start: atStart.usedMemoryMB,
      peak: peak.usedMemoryMB,
      peakAtSecs: peak.t,
      afterJobs: afterJobs.usedMemoryMB,
      afterTtl: afterTtl.usedMemoryMB,
      afterSweep: afterSweep.usedMemoryMB,
    },
    keys: {
      start: atStart.dbsize,
      afterJobs: afterJobs.dbsize,
      afterTtl: afterTtl.dbsize,
      afterSweep: afterSweep.dbsize,
    },
    keysWithTtl: { afterJobs: afterJobs.withTtl, afterTtl: afterTtl.withTtl },
    bullmqCompletedSet: {
      afterJobs: afterJobs.completedSet,
      afterTtl: afterTtl.completedSet,
      agedAfterTtl: agedBeforeTrigger,
      afterSweep: afterSweep.completedSet,
    },
    janitorSweepSecs: sweepSeconds,
    bytesPerRetainedJob: retainedAtEnd > 0 ? Math.round((afterJobs.usedMemory - atStart.usedMemory) / retainedAtEnd) : null,
    expiredKeys,
    bullmqEventsStream: bullEvents,
    leftoverKeys: leftover.length,
    samples: samples.map((m) => ({ t: m.t, usedMB: m.usedMemoryMB, keys: m.dbsize })),
    totalSecs: elapsed(),
  };
  console.log(JSON.stringify(result));
  console.log(
    [
      '',
      `${finished}/${N} jobs (${outcomes.done} done, ${outcomes.error} error) in ${result.runSecs}s: ${result.jobsPerSec} jobs/s.`,
      `Redis used_memory: ${atStart.usedMemoryMB} MB at start, peak ${peak.usedMemoryMB} MB (at ${peak.t}s), ` +
        `${afterJobs.usedMemoryMB} MB when all had finished, ${afterTtl.usedMemoryMB} MB after the TTL, ` +
        `${afterSweep.usedMemoryMB} MB after the janitor's sweep.`,
      `Keys: ${atStart.dbsize} at start, ${afterJobs.dbsize} when all had finished (${afterJobs.completedSet} BullMQ jobs kept), ` +
        `${afterTtl.dbsize} after the TTL (Herald's keys all expired; ${afterTtl.completedSet} BullMQ job hashes left, ` +
        `${agedBeforeTrigger} of them past the TTL), ${afterSweep.dbsize} after the janitor's sweep (${sweepSeconds} s later).`,
      `~${result.bytesPerRetainedJob} bytes of Redis per retained job; BullMQ's own event stream keeps ` +
        `${bullEvents.entries} entries (${Math.round(bullEvents.bytes / 1024)} KB) whatever the TTL.`,
      `Left over: ${leftover.length} keys besides BullMQ's queue-wide keys${leftover.length ? `: ${leftover.slice(0, 5).join(' ')}` : ''}.`,
      `Total ${result.totalSecs}s.`,
    ].join('\n'),
  );
  return finished === N && submitErrors === 0 && leftover.length === 0 && afterSweep.completedSet === 0 ? 0 : 1;
}

let code = 1;
try {
  code = await main();
} catch (error) {
  log(error instanceof OutOfTime ? error.message : `failed: ${error instanceof Error ? error.stack : String(error)}`);
} finally {
  await stopAll();
}
process.exit(code);
