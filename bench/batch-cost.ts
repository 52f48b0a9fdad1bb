import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import { batchJobId } from '@herald/contract';
import { EventPublisher, EventReader, connectRedis, keys, loadConfig } from '@herald/shared';
import { startPrivateRedis } from '@herald/shared/dev';
import { freePort } from '../test/support/free-port.ts';

// `sh scripts/node.sh bench/batch-cost.ts [--jobs 10000] [--sizes 100,1000,10000] [--events 6]`:
// what a batch costs Redis. The same --jobs jobs publish --events events each (5 `processing`
// then `done`, as `npm run bench -- --scenario batch` does), first as jobs on their own, then as
// batches of each size, through the real EventPublisher (publish-6.lua) with nobody subscribed.
// Per publish: the script's own time (INFO commandstats, EVALSHA usec_per_call) and Redis's CPU
// (INFO cpu: the script, the protocol, the network). Per batch: creating it (create-batch-n.lua),
// what a watcher's connect reads (the batch's snapshot: one HMGET per job) and a new watcher's
// whole history (XRANGE of the batch's stream). One private Redis on loopback; bounded by the
// work given (--jobs × --events publishes per size).

const { values: args } = parseArgs({
  options: {
    jobs: { type: 'string', default: '10000' },
    sizes: { type: 'string', default: '100,1000,10000' },
    events: { type: 'string', default: '6' },
    concurrency: { type: 'string', default: '256' },
  },
});
const J = Number(args.jobs);
const E = Number(args.events);
const concurrency = Number(args.concurrency);

/** A batch id as Herald issues one (22 characters of base64url, not starting with '-'). */
const newBatchId = (): string => randomBytes(16).toString('base64url').replace(/^-/, 'A');

/**
 * EVALSHA calls and µs, the µs of each command the scripts ran (Redis counts those too), and
 * Redis's CPU seconds, since the last CONFIG RESETSTAT.
 */
async function counters(
  redis: Redis,
): Promise<{ evalCalls: number; evalMicros: number; commandMicros: Record<string, number>; cpuSeconds: number }> {
  const [commands, cpu] = await Promise.all([redis.info('commandstats'), redis.info('cpu')]);
  const commandMicros: Record<string, number> = {};
  for (const [, name, usec] of commands.matchAll(/^cmdstat_(\w+):calls=\d+,usec=(\d+)/gm)) commandMicros[name!] = Number(usec);
  const evalsha = /^cmdstat_evalsha:calls=(\d+),usec=(\d+)/m.exec(commands);
  const read = (name: string) => Number(new RegExp(`^${name}:([\\d.]+)`, 'm').exec(cpu)?.[1] ?? 0);
  return {
    evalCalls: Number(evalsha?.[1] ?? 0),
    evalMicros: Number(evalsha?.[2] ?? 0),
    commandMicros,
    cpuSeconds: read('used_cpu_user') + read('used_cpu_sys'),
  };
}

/** Runs `work` on every item, `concurrency` at a time. */
async function inLanes<T>(items: readonly T[], work: (item: T) => Promise<unknown>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, items.length) }, async () => {
      while (next < items.length) await work(items[next++]!);
    }),
  );
}

const round = (value: number, places = 1): number => Math.round(value * 10 ** places) / 10 ** places;

const port = await freePort();
const server = await startPrivateRedis(port);
const admin = new Redis(`redis://127.0.0.1:${port}`);
const redis = connectRedis(loadConfig({ REDIS_URL: `redis://127.0.0.1:${port}`, LOG_LEVEL: 'silent' }), { name: 'bench:batch-cost' });
const publisher = new EventPublisher(redis, { ttlSeconds: 600, streamMaxLen: 1000 });
const reader = new EventReader(redis);
const first = { status: 'queued', stage: 'queued', progress: 0, message: 'Waiting for a worker' } as const;

/** Every job's E events, round by round (each job's in order), as fast as `concurrency` lanes go. */
async function publishAll(
  jobIds: readonly string[],
): Promise<{ publishes: number; scriptMicros: number; redisCpuMicros: number; inScript: Record<string, number> }> {
  await admin.config('RESETSTAT');
  const before = await counters(admin);
  for (let seq = 0; seq < E; seq += 1) {
    const last = seq === E - 1;
    const progress = Math.floor(((seq + 1) * 100) / E);
    await inLanes(jobIds, (jobId) =>
      publisher.publish(
        jobId,
        last
          ? { status: 'done', stage: 'done', progress: 100, message: `bench seq=${seq}`, result: 'bench result' }
          : { status: 'processing', stage: 'summarizing', progress, message: `bench seq=${seq}` },
      ),
    );
  }
  const after = await counters(admin);
  const publishes = after.evalCalls - before.evalCalls;
  // Where a publish's script time goes: µs per publish of each command it ran (the rest is Lua).
  const inScript = Object.fromEntries(
    Object.entries(after.commandMicros)
      .filter(([name]) => !['evalsha', 'info', 'config'].includes(name))
      .map(([name, usec]) => [name, round((usec - (before.commandMicros[name] ?? 0)) / publishes, 2)] as const)
      .filter(([, usec]) => usec >= 0.05)
      .sort((a, b) => b[1] - a[1]),
  );
  return {
    publishes,
    scriptMicros: round((after.evalMicros - before.evalMicros) / publishes),
    redisCpuMicros: round(((after.cpuSeconds - before.cpuSeconds) * 1e6) / publishes),
    inScript,
  };
}

try {
  // Warm-up: the scripts loaded, the connection open.
  await publisher.create('warm-up', first, { kind: 'bench' });
  const warmBatch = newBatchId();
  await publisher.createBatch(warmBatch, [batchJobId(warmBatch, 0)], first, { batch: {}, job: {} });
  await reader.batchRecord(warmBatch);
  for (let i = 0; i < 200; i += 1) await publisher.publish('warm-up', { status: 'processing', progress: 1, message: 'warm' });

  const plain = Array.from({ length: J }, (_, i) => `cost-plain-${i}`);
  await inLanes(plain, (jobId) => publisher.create(jobId, first, { kind: 'bench' }));
  const alone = await publishAll(plain);
  console.log(JSON.stringify({ jobs: 'alone', count: J, ...alone }));

  for (const size of args.sizes!.split(',').map(Number)) {
    const batchIds = Array.from({ length: Math.max(1, Math.floor(J / size)) }, newBatchId);
    const jobsOf = (batchId: string) => Array.from({ length: size }, (_, i) => batchJobId(batchId, i));
    await admin.config('RESETSTAT');
    const created = performance.now();
    for (const batchId of batchIds) await publisher.createBatch(batchId, jobsOf(batchId), first, { batch: {}, job: { kind: 'summarize' } });
    const createWallMs = (performance.now() - created) / batchIds.length;
    const createStats = await counters(admin);
    // A watcher's connect reads the batch's snapshot (EventReader.batchRecord): one HMGET per job.
    const snapshotStarted = performance.now();
    await reader.batchRecord(batchIds[0]!);
    const snapshotMs = performance.now() - snapshotStarted;

    const inBatches = await publishAll(batchIds.flatMap(jobsOf));
    // A watcher that connects at the end reads the whole stream as its history.
    const stream = keys.batchEvents(batchIds[0]!);
    const length = await admin.xlen(stream);
    await admin.config('RESETSTAT');
    const historyStarted = performance.now();
    await admin.xrange(stream, '-', '+');
    const historyMs = performance.now() - historyStarted;
    const xrange = /^cmdstat_xrange:calls=\d+,usec=(\d+)/m.exec(await admin.info('commandstats'));
    console.log(
      JSON.stringify({
        jobs: `batches of ${size}`,
        count: batchIds.length * size,
        ...inBatches,
        // Creating one batch: the script's time (Redis does nothing else meanwhile), and end to end.
        createScriptMs: round(createStats.evalMicros / createStats.evalCalls / 1000, 2),
        createWallMs: round(createWallMs, 2),
        snapshotReadMs: round(snapshotMs, 2),
        batchStreamEntries: length,
        historyXrangeRedisMs: round(Number(xrange?.[1] ?? 0) / 1000, 2),
        historyWallMs: round(historyMs, 2),
      }),
    );
  }
} finally {
  redis.disconnect();
  admin.disconnect();
  await server.stop();
}
