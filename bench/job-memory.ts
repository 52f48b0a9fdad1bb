import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import { startApi, type RunningApi } from '@herald/api';
import { QUEUE_NAME, QUEUE_PREFIX, createLogger, keys, loadConfig } from '@herald/shared';
import { startPrivateRedis, type PrivateRedis } from '@herald/shared/dev';
import { startWorker, type RunningWorker } from '@herald/worker-process';
import { freePort } from '../test/support/free-port.ts';

// Redis memory per job, for sizing maxmemory (docs/scaling.md, "Redis memory"):
// `sh scripts/node.sh bench/job-memory.ts [--jobs 2000] [--text-chars 2000]`.
//
// A private Redis, one API and (from step 2) one worker in this process; nothing expires
// meanwhile (JOB_TTL_SECONDS 1 h). Each figure is Redis's used_memory after N jobs minus before,
// over N (all a job costs: its Stream, snapshot, BullMQ entry and its share of BullMQ's sets), and
// MEMORY USAGE of one job's own keys beside it:
// 1. a job waiting to run: N summarize jobs of --text-chars characters, submitted with no worker
//    (its `queued` event, snapshot, and the queue entry holding the text);
// 2. the same jobs once a worker has finished them (their events, the summary in the snapshot and
//    in BullMQ's completed entry), as kept for JOB_TTL_SECONDS;
// 3. an external job with a typical history: 20 progress events and an answer of --text-chars
//    characters in 20 deltas, then `done`.
// Loopback only; it stops all it started.

const { values: args } = parseArgs({
  options: { jobs: { type: 'string', default: '2000' }, 'text-chars': { type: 'string', default: '2000' } },
});
const N = Number(args.jobs);
const TEXT_CHARS = Number(args['text-chars']);
const SENTENCE = 'Bees make honey from the nectar of flowers and keep it in wax combs for the winter. ';
const text = (i: number): string => `Job ${i}. ${SENTENCE.repeat(Math.ceil(TEXT_CHARS / SENTENCE.length))}`.slice(0, TEXT_CHARS);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const used = async (redis: Redis): Promise<number> => Number(/^used_memory:(\d+)/m.exec(await redis.info('memory'))![1]);
const usage = async (redis: Redis, key: string): Promise<number> => Number((await redis.memory('USAGE', key, 'SAMPLES', '0')) ?? 0);
const bullKey = (jobId: string): string => `${QUEUE_PREFIX}:${QUEUE_NAME}:${jobId}`;

async function post(url: string, body: unknown, headers: Record<string, string> = {}): Promise<Record<string, string>> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });
  const json = (await response.json()) as Record<string, string>;
  if (response.status >= 300) throw new Error(`${url}: HTTP ${response.status} ${JSON.stringify(json)}`);
  return json;
}

/** Runs `work` for 0 … n-1, `width` at a time. */
async function inParallel(n: number, width: number, work: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < n) await work(next++);
    }),
  );
}

let redisServer: PrivateRedis | undefined;
let api: RunningApi | undefined;
let worker: RunningWorker | undefined;
let probe: Redis | undefined;
try {
  const port = await freePort();
  redisServer = await startPrivateRedis(port);
  probe = new Redis(port, '127.0.0.1');
  const config = loadConfig({
    REDIS_URL: `redis://127.0.0.1:${port}`,
    PORT: '0',
    HOST: '127.0.0.1',
    METRICS_PORT: '0',
    STAGE_DELAY_MS: '0',
    JOB_TTL_SECONDS: '3600',
    SUBMIT_RATE_PER_IP: '0',
    SUBMIT_RATE_PER_KEY: '0',
    LOG_LEVEL: 'warn',
  });
  api = await startApi({ config, logger: createLogger('api', config.LOG_LEVEL) });
  const base = api.url;
  await sleep(500);
  const rows: { what: string; perJob: number; ownKeys: number }[] = [];

  const before = await used(probe);
  const ids: string[] = [];
  await inParallel(N, 50, async (i) => {
    ids.push((await post(`${base}/v1/jobs`, { text: text(i) })).jobId!);
  });
  await sleep(200);
  const ownKeys = async (jobId: string) =>
    (await Promise.all([keys.events(jobId), keys.snapshot(jobId), bullKey(jobId)].map((key) => usage(probe!, key)))).reduce(
      (a, b) => a + b,
    );
  rows.push({
    what: `waiting to run (summarize, ${TEXT_CHARS} chars)`,
    perJob: ((await used(probe)) - before) / N,
    ownKeys: await ownKeys(ids[0]!),
  });

  worker = await startWorker({ config, logger: createLogger('worker', config.LOG_LEVEL) });
  const completed = `${QUEUE_PREFIX}:${QUEUE_NAME}:completed`;
  while ((await probe.zcard(completed)) < N) await sleep(200);
  await sleep(500);
  rows.push({
    what: `finished summarize (${TEXT_CHARS} chars)`,
    perJob: ((await used(probe)) - before) / N,
    ownKeys: await ownKeys(ids[0]!),
  });

  const beforeExternal = await used(probe);
  const externals: string[] = [];
  const delta = Math.ceil(TEXT_CHARS / 20);
  await inParallel(N, 50, async (i) => {
    const { jobId, publishToken } = await post(`${base}/v1/jobs`, {
      kind: 'external',
      title: `Transcode ${i}`,
      metadata: { input: `file-${i}.mov` },
    });
    externals.push(jobId!);
    const auth = { Authorization: `Bearer ${publishToken}` };
    const answer = text(i);
    for (let step = 0; step < 20; step += 1) {
      await post(
        `${base}/v1/jobs/${jobId}/events`,
        { status: 'processing', progress: step * 5, stage: 'transcoding', message: `Step ${step}` },
        auth,
      );
      await post(
        `${base}/v1/jobs/${jobId}/events`,
        { status: 'processing', delta: answer.slice(step * delta, (step + 1) * delta), offset: step * delta },
        auth,
      );
    }
    await post(`${base}/v1/jobs/${jobId}/events`, { status: 'done', result: answer }, auth);
  });
  await sleep(500);
  const ownExternal = (
    await Promise.all([keys.events(externals[0]!), keys.snapshot(externals[0]!)].map((key) => usage(probe!, key)))
  ).reduce((a, b) => a + b);
  rows.push({
    what: `finished external (41 events, ${TEXT_CHARS}-char answer)`,
    perJob: ((await used(probe)) - beforeExternal) / N,
    ownKeys: ownExternal,
  });

  console.log(`| job (${N} of each) | used_memory per job | MEMORY USAGE of its own keys |`);
  console.log('|---|---|---|');
  for (const row of rows) console.log(`| ${row.what} | ${(row.perJob / 1024).toFixed(1)} KB | ${(row.ownKeys / 1024).toFixed(1)} KB |`);
} finally {
  await api?.close();
  await worker?.close();
  probe?.disconnect();
  await redisServer?.stop();
}
