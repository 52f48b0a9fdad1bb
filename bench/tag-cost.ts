import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import { EventPublisher, JOB_FIELDS, connectRedis, keys, loadConfig, tagOpenScript, tagPageScript } from '@herald/shared';
import { startPrivateRedis } from '@herald/shared/dev';
import { freePort } from '../test/support/free-port.ts';

// `sh scripts/node.sh bench/tag-cost.ts [--tags 0,1,3,10] [--jobs 2000] [--events 6] [--concurrency 32]`:
// what a tag costs per event (docs/api.md, "A tag's stream"). For each number of tags per job,
// --jobs jobs are created (publisher.create with JOB_FIELDS.tags, as the API does) and publish
// --events events each (5 `processing` then `done`), round by round, --concurrency lanes, through
// the real EventPublisher with tagFeedMaxLen set (TAG_FEED_MAXLEN's default, 10,000), so each
// publish is followed by one tag-relay-n.lua per tag; nobody subscribed. The tags are shared the
// way a product's would be: job i carries `user:<i mod 100>`, `team:<i mod 10>`, `org:acme` (every
// job), then coarser ones, so the feeds hold many jobs each. Per event (a job's `queued` one
// included): the publish's wall latency as its caller sees it (relays included), Redis's CPU
// (INFO cpu), EVALSHA calls and their µs (INFO commandstats), and the Redis memory it added
// (INFO memory used_memory, after a FLUSHALL, over every event; and the tags' own keys, by MEMORY
// USAGE). Then what opening `org:acme`'s stream reads (tag-open-2.lua, and tag-page-2.lua pages
// of HISTORY_PAGE_EVENTS' default 100) with one job of it left open since the feed's start.
// One private Redis on loopback; bounded by the work given (--jobs × (--events + 1) per level).

const { values: args } = parseArgs({
  options: {
    tags: { type: 'string', default: '0,1,3,10' },
    jobs: { type: 'string', default: '2000' },
    events: { type: 'string', default: '6' },
    concurrency: { type: 'string', default: '32' },
  },
});
const J = Number(args.jobs);
const E = Number(args.events);
const concurrency = Number(args.concurrency);
const levels = args.tags!.split(',').map(Number);
/** TAG_FEED_MAXLEN's default. */
const FEED_MAX_LEN = 10_000;
/** HISTORY_PAGE_EVENTS' default: the entries a stream reads per page. */
const PAGE = 100;
/** The tag every job carries (from 3 tags up): its feed is the one a stream opens below. */
const WIDE_TAG = 'org:acme';

/** Job i's tags, `count` of them: each family shared by a share of the jobs (the third by all). */
const TAG_FAMILIES: readonly ((i: number) => string)[] = [
  (i) => `user:${i % 100}`,
  (i) => `team:${i % 10}`,
  () => WIDE_TAG,
  (i) => `project:${i % 50}`,
  (i) => `env:${['prod', 'staging', 'dev'][i % 3]}`,
  (i) => `region:${i % 5}`,
  (i) => `model:${i % 7}`,
  (i) => `priority:${i % 3}`,
  (i) => `source:${i % 4}`,
  (i) => `day:${i % 2}`,
];
const tagsOf = (i: number, count: number): string[] => TAG_FAMILIES.slice(0, count).map((family) => family(i));

/** EVALSHA calls and µs, each command's calls and µs (the scripts' included), Redis's CPU seconds and used_memory. */
async function counters(redis: Redis): Promise<{
  evalCalls: number;
  evalMicros: number;
  commands: Record<string, { calls: number; usec: number }>;
  cpuSeconds: number;
  usedMemory: number;
}> {
  const [stats, cpu, memory] = await Promise.all([redis.info('commandstats'), redis.info('cpu'), redis.info('memory')]);
  const commands: Record<string, { calls: number; usec: number }> = {};
  for (const [, name, calls, usec] of stats.matchAll(/^cmdstat_(\w+):calls=(\d+),usec=(\d+)/gm)) {
    commands[name!] = { calls: Number(calls), usec: Number(usec) };
  }
  const read = (text: string, name: string) => Number(new RegExp(`^${name}:([\\d.]+)`, 'm').exec(text)?.[1] ?? 0);
  return {
    evalCalls: commands.evalsha?.calls ?? 0,
    evalMicros: commands.evalsha?.usec ?? 0,
    commands,
    cpuSeconds: read(cpu, 'used_cpu_user') + read(cpu, 'used_cpu_sys'),
    usedMemory: read(memory, 'used_memory'),
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
const percentile = (sorted: readonly number[], p: number): number => sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]!;

/** Every key of every tag's feed (keys.tagFeed and its siblings share `{tag:`), by SCAN. */
async function tagKeys(redis: Redis): Promise<string[]> {
  const found: string[] = [];
  let cursor = '0';
  do {
    const [next, batch] = await redis.scan(cursor, 'MATCH', 'herald:{tag:*', 'COUNT', 1000);
    found.push(...batch);
    cursor = next;
  } while (cursor !== '0');
  return found;
}

const port = await freePort();
const server = await startPrivateRedis(port);
const admin = new Redis(`redis://127.0.0.1:${port}`);
const redis = connectRedis(loadConfig({ REDIS_URL: `redis://127.0.0.1:${port}`, LOG_LEVEL: 'silent' }), { name: 'bench:tag-cost' });
let relayFailures = 0;
const publisher = new EventPublisher(redis, {
  ttlSeconds: 600,
  streamMaxLen: 1000,
  tagFeedMaxLen: FEED_MAX_LEN,
  onRelayFailed: () => (relayFailures += 1),
});
const first = { status: 'queued', stage: 'queued', progress: 0, message: 'Waiting for a worker' } as const;
const jobFields = (tags: readonly string[]): Record<string, string> => ({
  [JOB_FIELDS.kind]: 'external',
  [JOB_FIELDS.owner]: 'bench-key',
  ...(tags.length > 0 ? { [JOB_FIELDS.tags]: JSON.stringify(tags) } : {}),
});

/** Creates the jobs and publishes their events, round by round; each call's wall time kept. */
async function run(level: number): Promise<{ events: number; latencies: number[]; wallMs: number }> {
  const jobIds = Array.from({ length: J }, (_, i) => `tag-cost-${level}-${i}`);
  const latencies: number[] = [];
  const timed = async (call: () => Promise<unknown>) => {
    const started = performance.now();
    await call();
    latencies.push(performance.now() - started);
  };
  const started = performance.now();
  await inLanes(jobIds, (jobId) => timed(() => publisher.create(jobId, first, jobFields(tagsOf(Number(jobId.split('-').at(-1)), level)))));
  for (let seq = 0; seq < E; seq += 1) {
    const last = seq === E - 1;
    const progress = Math.floor(((seq + 1) * 100) / E);
    await inLanes(jobIds, (jobId) =>
      timed(() =>
        publisher.publish(
          jobId,
          last
            ? { status: 'done', stage: 'done', progress: 100, message: `bench seq=${seq}`, result: 'bench result' }
            : { status: 'processing', stage: 'summarizing', progress, message: `bench seq=${seq}` },
        ),
      ),
    );
  }
  return { events: latencies.length, latencies, wallMs: performance.now() - started };
}

/** What opening WIDE_TAG's stream reads: tag-open-2.lua, then the pages of the replay up to its open point. */
async function openCost(): Promise<Record<string, unknown>> {
  const feedEntries = await admin.xlen(keys.tagFeed(WIDE_TAG));
  const jobsInFeed = await admin.hlen(keys.tagRelayed(WIDE_TAG));
  await admin.config('RESETSTAT');
  let started = performance.now();
  const opening = await tagOpenScript(redis, WIDE_TAG);
  const openWallMs = performance.now() - started;
  const openStats = await counters(admin);
  // A stream opened afresh replays from just before the oldest open job's first entry (the
  // straggler's: the feed's start, or what is left of it) up to the open point, a page at a time.
  const from = opening.oldestOpenMs === null ? opening.openPoint : `${opening.oldestOpenMs - 1}-999999999999999`;
  await admin.config('RESETSTAT');
  const pageWall: number[] = [];
  let after = from;
  let pages = 0;
  let read = 0;
  let kept = 0;
  started = performance.now();
  for (;;) {
    const pageStarted = performance.now();
    const page = await tagPageScript(redis, WIDE_TAG, after, PAGE, opening.openPoint);
    pageWall.push(performance.now() - pageStarted);
    pages += 1;
    read += page.read;
    kept += page.events.length;
    if (page.read < PAGE || page.lastRead === null) break;
    after = page.lastRead;
  }
  const replayWallMs = performance.now() - started;
  const pageStats = await counters(admin);
  // A resumed cursor at the feed's start without an open point: a page keeps all it reads.
  await admin.config('RESETSTAT');
  const fullStarted = performance.now();
  const full = await tagPageScript(redis, WIDE_TAG, null, PAGE, null);
  const fullWallMs = performance.now() - fullStarted;
  const fullStats = await counters(admin);
  return {
    tag: WIDE_TAG,
    feedEntries,
    jobsInFeed,
    openScriptMs: round(openStats.evalMicros / 1000, 3),
    openWallMs: round(openWallMs, 2),
    replayPages: pages,
    replayEntriesRead: read,
    replayEntriesKept: kept,
    replayScriptMsPerPage: round(pageStats.evalMicros / pageStats.evalCalls / 1000, 3),
    replayWallMsPerPage: round(pageWall.reduce((a, b) => a + b, 0) / pageWall.length, 2),
    replayWallMs: round(replayWallMs, 1),
    fullPageEntries: full.events.length,
    fullPageScriptMs: round(fullStats.evalMicros / 1000, 3),
    fullPageWallMs: round(fullWallMs, 2),
  };
}

const rows: Record<string, number | string>[] = [];
const openRows: Record<string, unknown>[] = [];
try {
  // Warm-up: the scripts loaded (FLUSHALL keeps them), the connection open.
  await publisher.create('warm-up', first, jobFields(['warm']));
  for (let i = 0; i < 200; i += 1) await publisher.publish('warm-up', { status: 'processing', progress: 1, message: 'warm' });
  await tagPageScript(redis, 'warm', null, PAGE, (await tagOpenScript(redis, 'warm')).openPoint);
  // And the lanes' code paths compiled before the first level is timed (its keys flushed below).
  await inLanes(
    Array.from({ length: Math.min(J, 300) }, (_, i) => `warm-up-${i}`),
    async (jobId) => {
      await publisher.create(jobId, first, jobFields(tagsOf(Number(jobId.slice(8)), 3)));
      for (let seq = 0; seq < E; seq += 1) await publisher.publish(jobId, { status: 'processing', progress: seq, message: 'warm' });
    },
  );

  for (const level of levels) {
    await admin.flushall();
    // One job of the wide tag that stays open: a stream opened at the end replays the feed from its start.
    if (level >= 3) await publisher.create(`tag-cost-${level}-open`, first, jobFields(tagsOf(J, level)));
    await admin.config('RESETSTAT');
    const before = await counters(admin);
    const { events, latencies, wallMs } = await run(level);
    const after = await counters(admin);
    const calls = (name: string) => (after.commands[name]?.calls ?? 0) - (before.commands[name]?.calls ?? 0);
    const usec = (name: string) => (after.commands[name]?.usec ?? 0) - (before.commands[name]?.usec ?? 0);
    let tagBytes = 0;
    let feedEntries = 0;
    const found = await tagKeys(admin);
    for (const key of found) {
      tagBytes += Number(await admin.call('MEMORY', 'USAGE', key, 'SAMPLES', '0'));
      if (key.endsWith(':feed')) feedEntries += await admin.xlen(key);
    }
    // One job's events as its Stream holds them: what each feed entry copies.
    const stored = (await admin.xrange(keys.events(`tag-cost-${level}-0`), '-', '+')) as [string, string[]][];
    const eventBytes =
      stored.reduce((sum, [, fields]) => sum + Buffer.byteLength(fields[fields.indexOf('d') + 1] ?? ''), 0) / stored.length;
    const sorted = latencies.sort((a, b) => a - b);
    const row = {
      tags: level,
      events,
      eventsPerSecond: Math.round(events / (wallMs / 1000)),
      latencyMeanMs: round(latencies.reduce((a, b) => a + b, 0) / latencies.length, 2),
      latencyP99Ms: round(percentile(sorted, 0.99), 2),
      redisCpuMicros: round(((after.cpuSeconds - before.cpuSeconds) * 1e6) / events),
      evalshaPerEvent: round(calls('evalsha') / events, 2),
      scriptMicros: round(usec('evalsha') / events),
      xaddPerEvent: round(calls('xadd') / events, 2),
      spublishPerEvent: round(calls('spublish') / events, 2),
      // Reads of a job's Stream to fill a gap in a feed: none when each job's publishes are in order.
      gapReads: calls('xrange'),
      eventJsonBytes: Math.round(eventBytes),
      memoryBytesPerEvent: Math.round((after.usedMemory - before.usedMemory) / events),
      tagKeysBytesPerEvent: Math.round(tagBytes / events),
      tagKeysBytesPerFeedEntry: feedEntries === 0 ? 0 : Math.round(tagBytes / feedEntries),
      tags_keys: found.length,
      feedEntries,
      relayFailures,
    };
    rows.push(row);
    console.log(JSON.stringify(row));
    if (level >= 3) {
      const open = { tags: level, ...(await openCost()) };
      openRows.push(open);
      console.log(JSON.stringify(open));
    }
  }
  console.log(
    `\nper event (a job's queued event and its ${E} publishes; ${J} jobs, ${concurrency} lanes; one event's JSON ≈ ${rows[0]?.eventJsonBytes} B)`,
  );
  console.log(
    '| tags/job | events/s | wall mean / p99 ms | Redis CPU µs | EVALSHA | script µs | memory B (all) | memory B (tag keys) | feed entries (B each) |',
  );
  console.log('|---|---|---|---|---|---|---|---|---|');
  for (const r of rows) {
    console.log(
      `| ${r.tags} | ${r.eventsPerSecond} | ${r.latencyMeanMs} / ${r.latencyP99Ms} | ${r.redisCpuMicros} | ${r.evalshaPerEvent} | ${r.scriptMicros} | ${r.memoryBytesPerEvent} | ${r.tagKeysBytesPerEvent} | ${r.feedEntries} (${r.tagKeysBytesPerFeedEntry}) |`,
    );
  }
  for (const o of openRows) {
    console.log(
      `\nopening ${WIDE_TAG}'s stream (tags/job ${o.tags}: ${o.feedEntries} entries of ${o.jobsInFeed} jobs): tag-open-2.lua ${o.openScriptMs} ms (${o.openWallMs} ms end to end); ` +
        `the replay to its open point ${o.replayPages} pages of ${PAGE}, ${o.replayEntriesRead} entries read, ${o.replayEntriesKept} kept, ` +
        `${o.replayScriptMsPerPage} ms script / ${o.replayWallMsPerPage} ms end to end per page, ${o.replayWallMs} ms in all; ` +
        `a page kept whole (${o.fullPageEntries} entries): ${o.fullPageScriptMs} ms script / ${o.fullPageWallMs} ms end to end`,
    );
  }
} finally {
  redis.disconnect();
  admin.disconnect();
  await server.stop();
}
