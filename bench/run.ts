import { createHash } from 'node:crypto';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import { connectRedis, keys, loadConfig } from '@herald/shared';
import { forkLoad, nextMessage as next } from './lib/children.ts';
import { Histogram } from './lib/histogram.ts';
import { cpuMicros, rssKB, sum } from './lib/proc.ts';
import type { PublisherReport, PublisherTask, StreamReceipt, SubscriberStats } from './load/protocol.ts';
import { BATCH, C100K, SCENARIOS, TOKENS_RAW, type Scenario } from './scenarios.ts';
import { startHerald } from './systems/herald.ts';
import type { SystemUnderTest } from './systems/system.ts';
import { markdownTable, medianOf, type Result } from './report.ts';

// `npm run bench -- --scenario small|wide|hot|idle|tokens|tokens-raw|batch|custom|all [--compare nchan] [...]`.
// Every run is bounded (--max-secs) and talks to 127.0.0.1 only.

const { values: args } = parseArgs({
  options: {
    scenario: { type: 'string', default: 'small' },
    compare: { type: 'string' },
    replicas: { type: 'string', short: 'R', default: '2' },
    C: { type: 'string' },
    J: { type: 'string' },
    E: { type: 'string' },
    rate: { type: 'string' },
    subscribers: { type: 'string' },
    /** Jobs per batch (batch scenario, or custom: J / batch-size batches, watched on their streams). */
    'batch-size': { type: 'string' },
    'idle-secs': { type: 'string', default: '2' },
    'max-secs': { type: 'string', default: '120' },
    /** Runs per scenario and system; the table shows each measure's median. */
    repeat: { type: 'string', default: '1' },
    /** Node flags for the API replicas, e.g. "--cpu-prof --cpu-prof-dir=bench/profiles". */
    'api-node-args': { type: 'string', default: '' },
    /** Herald's Redis: one (`single`), or a Redis Cluster of --shards masters (`cluster`). */
    redis: { type: 'string', default: 'single' },
    shards: { type: 'string', default: '3' },
  },
});

const maxSecs = Number(args['max-secs']);
const replicaArg = Number(args.replicas);

function scenariosToRun(): Scenario[] {
  if (args.scenario === 'all') return Object.values(SCENARIOS);
  const named: Record<string, Scenario> = { ...SCENARIOS, [TOKENS_RAW.name]: TOKENS_RAW, [BATCH.name]: BATCH, [C100K.name]: C100K };
  const base = args.scenario === 'custom' ? { name: 'custom', C: 100, J: 10, E: 50, rate: 5 } : named[args.scenario ?? ''];
  if (!base) throw new Error(`unknown scenario ${args.scenario}; one of ${Object.keys(named).join(', ')}, custom, all`);
  const batchSize = args['batch-size'] ?? base.batchSize;
  const scenario = {
    ...base,
    C: Number(args.C ?? base.C),
    J: Number(args.J ?? base.J),
    E: Number(args.E ?? base.E),
    rate: Number(args.rate ?? base.rate),
    ...(batchSize === undefined ? {} : { batchSize: Number(batchSize) }),
  };
  if (scenario.batchSize !== undefined && (scenario.J % scenario.batchSize !== 0 || scenario.E < 1))
    throw new Error('a batch scenario needs J a multiple of --batch-size, and E ≥ 1 (the batch must end)');
  return [scenario];
}

/** A batch's Stream as Redis holds it at the end: what every watcher of the batch must have received. */
interface BatchStreamFacts {
  readonly entries: number;
  /** SHA-1 of the entry ids, each followed by a line feed (as the subscriber digests what it received). */
  readonly digest: string;
  /** Entries that are a job's event (`job:<status>`); the rest are the batch's own. */
  readonly jobEntries: number;
  /** The last entry is the batch's terminal event, `done` with progress 100. */
  readonly endsDone: boolean;
}

/** Reads every batch's Stream (XRANGE, through Herald's own client: one Redis or a Cluster). */
async function batchStreamFacts(redisEnv: Record<string, string>, batchIds: readonly string[]): Promise<BatchStreamFacts[]> {
  const redis = connectRedis(loadConfig({ ...redisEnv, LOG_LEVEL: 'silent' }), { name: 'bench:check' });
  try {
    const facts: BatchStreamFacts[] = [];
    for (const batchId of batchIds) {
      const entries = (await redis.xrange(keys.batchEvents(batchId), '-', '+')) as [string, string[]][];
      const digest = createHash('sha1');
      let jobEntries = 0;
      for (const [id, fields] of entries) {
        digest.update(`${id}\n`);
        if (fields[1]!.startsWith('job:')) jobEntries += 1;
      }
      const last = entries.at(-1)?.[1];
      const endsDone = last?.[1] === 'done' && (JSON.parse(last[3]!) as { progress: number }).progress === 100;
      facts.push({ entries: entries.length, digest: digest.digest('hex'), jobEntries, endsDone });
    }
    return facts;
  } finally {
    redis.disconnect();
  }
}

/**
 * Holds each watcher's receipt against its batch's Stream: exactly its entries (count and ids'
 * digest: none lost, none extra, in order), ending on the batch's terminal event; and every job's
 * events in the Streams (its `queued` one and the E published), each batch ended `done`.
 */
function checkBatches(scenario: Scenario, facts: readonly BatchStreamFacts[], receipts: readonly StreamReceipt[]) {
  let expected = 0;
  let lost = 0;
  let badStreams = 0;
  for (const receipt of receipts) {
    const batch = facts[receipt.channel]!;
    expected += batch.entries;
    lost += Math.max(0, batch.entries - receipt.received);
    if (receipt.digest !== batch.digest || !receipt.endedOnTerminal) badStreams += 1;
  }
  // Batches whose Stream lacks a job's event or its end count as bad for each of their watchers too.
  const jobEntries = facts.reduce((total, batch) => total + batch.jobEntries, 0);
  const unended = facts.filter((batch) => !batch.endsDone).length;
  if (jobEntries !== scenario.J * (scenario.E + 1) || unended > 0) {
    console.error(`batch streams: ${jobEntries} job entries (expected ${scenario.J * (scenario.E + 1)}), ${unended} batches not done`);
    badStreams += Math.max(1, unended);
  }
  const batchEvents = facts.reduce((total, batch) => total + batch.entries - batch.jobEntries, 0);
  return { expected, lost, badStreams, batchEvents };
}

/** Commands run and CPU used (ms, user + sys) so far, by each Redis master. */
async function redisCounters(masters: readonly Redis[]): Promise<{ calls: number; cpuMs: number }[]> {
  return Promise.all(
    masters.map(async (redis) => {
      const [commands, cpu] = await Promise.all([redis.info('commandstats'), redis.info('cpu')]);
      let calls = 0;
      for (const match of commands.matchAll(/calls=(\d+)/g)) calls += Number(match[1]);
      const seconds = (name: string) => Number(new RegExp(`^${name}:([\\d.]+)`, 'm').exec(cpu)?.[1] ?? 0);
      return { calls, cpuMs: (seconds('used_cpu_user') + seconds('used_cpu_sys')) * 1000 };
    }),
  );
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

type SystemName = 'herald' | 'nchan' | 'floor';

async function startSystem(name: SystemName, replicas: number): Promise<SystemUnderTest> {
  if (name === 'floor') {
    const { startFloor } = await import('./systems/floor.ts');
    return startFloor(replicas);
  }
  if (name === 'herald') {
    return startHerald({
      replicas,
      nodeArgs: args['api-node-args']!.split(' ').filter(Boolean),
      redis: args.redis === 'cluster' ? { mode: 'cluster', shards: Number(args.shards) } : { mode: 'single' },
    });
  }
  const { startNchanSystem } = await import('./systems/nchan-adapter.ts');
  return startNchanSystem(replicas);
}

async function runOnce(scenario: Scenario, systemName: SystemName): Promise<Result> {
  const replicas = scenario.replicas ?? replicaArg;
  const system = await startSystem(systemName, replicas);
  const masters = system.redisMasters.map((address) => new Redis(`redis://${address}`));
  const subscriberCount = Number(args.subscribers ?? Math.max(1, Math.ceil(scenario.C / 6000)));
  const subscribers = Array.from({ length: subscriberCount }, () => forkLoad('subscriber.ts'));
  try {
    const { batchSize } = scenario;
    let warmupChannel: string;
    /** The jobs the publisher publishes to, in its order. */
    let channels: string[];
    /** What the watchers watch: jobs, or batches (batch scenarios), and the URL of watching one. */
    let watched: string[];
    let watchUrl: (id: string, replica: number) => string;
    if (batchSize === undefined) {
      [warmupChannel, ...channels] = (await system.createChannels(scenario.J + 1)) as [string, ...string[]];
      watched = channels;
      watchUrl = (id, replica) => system.subscribeUrl(id, replica);
    } else {
      if (!system.createBatches || !system.batchSubscribeUrl) throw new Error(`${system.name} has no batches`);
      const [warmup] = await system.createBatches(1, 1);
      warmupChannel = warmup!.jobIds[0]!;
      const batches = await system.createBatches(scenario.J / batchSize, batchSize);
      // Job 0 of every batch, then job 1 of every batch, …: the publisher staggers its jobs evenly
      // over each period, so every batch's jobs are spread over it rather than bunched together.
      channels = Array.from({ length: scenario.J }, (_, i) => batches[i % batches.length]!.jobIds[Math.floor(i / batches.length)]!);
      watched = batches.map((batch) => batch.batchId);
      watchUrl = system.batchSubscribeUrl;
    }
    const pids = system.serverPids();
    await sleep(300);
    const rssBefore = sum(pids, rssKB);

    // Watchers: connection i watches job (or batch) i % J through replica (⌊i / J⌋ + i) % R, so
    // each job's watchers are spread over the replicas, and the replicas hold equal shares even
    // when C / J is not a multiple of R (c100k: 10 watchers a job, 6 replicas).
    const shares = subscribers.map(() => [] as { url: string; channel: number }[]);
    for (let i = 0; i < scenario.C; i += 1) {
      const channel = i % watched.length;
      shares[i % subscriberCount]!.push({ url: watchUrl(watched[channel]!, Math.floor(i / watched.length) + i), channel });
    }
    const connected = subscribers.map((process) => next<{ failed: number }>(process, 'connected', maxSecs * 1000));
    const complete = subscribers.map((process) => next(process, 'complete', maxSecs * 1000 * 2));
    for (const [index, child] of subscribers.entries()) {
      child.send({
        type: 'subscribe',
        connections: shares[index],
        localAddress: `127.0.0.${10 + (index % 240)}`,
        events: batchSize === undefined ? scenario.E : 0,
        closeOnComplete: system.name === 'nchan',
        batchStreams: batchSize !== undefined,
      });
    }
    const connectFailures = (await Promise.all(connected)).reduce((total, report) => total + report.failed, 0);
    await sleep(Number(args['idle-secs']) * 1000);
    const rssIdle = sum(pids, rssKB);

    // The publisher warms up first (outside the measurement), then publishes on 'go'.
    const publisher = scenario.E > 0 ? forkLoad('publisher.ts') : null;
    if (publisher) {
      const task: PublisherTask = {
        type: 'publish',
        system: system.name,
        channels,
        warmupChannel: warmupChannel!,
        events: scenario.E,
        rate: scenario.rate,
        deltaChars: scenario.deltaChars ?? 0,
        redisEnv: system.redisEnv,
        ...(system.pubUrl ? { pubUrl: system.pubUrl } : {}),
        ...(system.floorAddresses ? { floorAddresses: system.floorAddresses } : {}),
      };
      const warm = next(publisher, 'warm', maxSecs * 1000);
      publisher.send(task);
      await warm;
    }
    const cpuBeforeEach = pids.map(cpuMicros);
    const cpuBefore = cpuBeforeEach.reduce((a, b) => a + b, 0);
    const redisBefore = await redisCounters(masters);
    const started = performance.now();
    let published = 0;
    if (publisher) {
      const report = next<Extract<PublisherReport, { type: 'published' }>>(publisher, 'published', maxSecs * 1000);
      publisher.send({ type: 'go' });
      published = (await report).count;
      publisher.kill();
    }
    const deadline = sleep(maxSecs * 1000).then(() => 'timeout' as const);
    const finished = await Promise.race([Promise.all(complete).then(() => 'complete' as const), deadline]);
    const seconds = (performance.now() - started) / 1000;
    const cpuUsed = sum(pids, cpuMicros) - cpuBefore;
    const redisAfter = await redisCounters(masters);
    // (less the INFO commandstats of the first reading)
    const calls = redisAfter.reduce((total, node, i) => total + node.calls - redisBefore[i]!.calls - 2, 0);
    const shardCpuMs = redisAfter.map((node, i) => node.cpuMs - redisBefore[i]!.cpuMs);
    const rssLoaded = sum(pids, rssKB);
    // Each server process (a replica; nginx's master and workers): RSS and share of a core.
    const perProcess = pids
      .map((pid, i) => `${Math.round(rssKB(pid) / 1024)} MB ${Math.round(((cpuMicros(pid) - cpuBeforeEach[i]!) / 1e6 / seconds) * 100)} %`)
      .join(', ');

    const stats = await Promise.all(
      subscribers.map((process) => {
        const reply = next<SubscriberStats>(process, 'stats', 10_000);
        process.send({ type: 'collect' });
        return reply;
      }),
    );
    const histogram = new Histogram();
    for (const s of stats) histogram.merge(s.histogram.counts, s.histogram.max);
    const total = (key: keyof Pick<SubscriberStats, 'delivered' | 'expected' | 'dup' | 'reordered' | 'failed'>) =>
      stats.reduce((acc, s) => acc + s[key], 0);
    const delivered = total('delivered');
    const batchCheck =
      batchSize === undefined
        ? null
        : checkBatches(
            scenario,
            await batchStreamFacts(system.redisEnv, watched),
            stats.flatMap((s) => s.streams ?? []),
          );
    const expected = batchCheck?.expected ?? total('expected');
    // A batch's watchers got its creation (each job's `queued` event and the batch's) as history
    // when they connected, before the measured seconds.
    const deliveredLive = batchSize === undefined ? delivered : delivered - scenario.C * (batchSize + 1);
    const batchHistogram = new Histogram();
    for (const s of stats) if (s.batchHistogram) batchHistogram.merge(s.batchHistogram.counts, s.batchHistogram.max);
    const redisCpuMs = shardCpuMs.reduce((a, b) => a + b, 0);
    const clientList = (await Promise.all(masters.map((master) => master.client('LIST') as Promise<string>))).join('\n');
    return {
      scenario: scenario.name,
      system: system.name,
      C: scenario.C,
      J: scenario.J,
      E: scenario.E,
      rate: scenario.rate,
      replicas: system.name === 'nchan' ? 1 : replicas,
      delivered,
      expected,
      lost: batchCheck?.lost ?? expected - delivered,
      dup: total('dup'),
      reordered: total('reordered'),
      failedConnections: connectFailures,
      timedOut: finished === 'timeout',
      p50_ms: round(histogram.quantile(0.5) / 1000),
      p99_ms: round(histogram.quantile(0.99) / 1000),
      max_ms: round(histogram.max / 1000),
      deliveredPerSec: scenario.E > 0 ? Math.round(deliveredLive / seconds) : 0,
      published,
      rssPerConnKB: round((rssIdle - rssBefore) / scenario.C),
      rssLoadedPerConnKB: round((rssLoaded - rssBefore) / scenario.C),
      serverRssMB: round(rssLoaded / 1024),
      perProcess,
      cpuMicrosPerDelivery: delivered > 0 ? round(cpuUsed / delivered) : 0,
      redisConnsPerReplica: round(system.redisConnectionsPerReplica(clientList)),
      redisCommandsPerEvent: published > 0 ? round(calls / published) : 0,
      redisShards: masters.length,
      // Of one core, over the measured seconds: the busiest shard's, and all shards' together.
      redisCpuMaxShardPct: round((Math.max(0, ...shardCpuMs) / 1000 / seconds) * 100),
      redisCpuTotalPct: round((redisCpuMs / 1000 / seconds) * 100),
      // Redis's CPU over the measured seconds (publishing, and serving the replicas' subscriptions) per published event.
      redisCpuMicrosPerEvent: published > 0 ? round((redisCpuMs * 1000) / published) : 0,
      ...(batchCheck && batchSize !== undefined
        ? {
            batches: watched.length,
            batchSize,
            batchEvents: batchCheck.batchEvents,
            badStreams: batchCheck.badStreams,
            batchEventP50_ms: round(batchHistogram.quantile(0.5) / 1000),
            batchEventP99_ms: round(batchHistogram.quantile(0.99) / 1000),
          }
        : {}),
      seconds: round(seconds),
    };
  } finally {
    subscribers.forEach((process) => {
      if (process.connected) process.send({ type: 'stop' });
    });
    for (const master of masters) master.disconnect();
    await system.stop();
  }
}

const round = (value: number): number => Math.round(value * 1000) / 1000;

const results: Result[] = [];
// --compare nchan, floor or both (nchan,floor): Herald beside the yardstick and beside the floor.
const systems: SystemName[] = ['herald'];
const compared = (args.compare ?? '').split(',').filter(Boolean);
for (const name of compared) {
  if (name !== 'nchan' && name !== 'floor') throw new Error(`--compare ${name}: one of nchan, floor, nchan,floor`);
}
if (compared.includes('nchan')) {
  const { nchanAvailable } = await import('./systems/nchan.ts');
  if (!nchanAvailable())
    throw new Error('--compare nchan needs nginx and libnginx-mod-nchan (apt-get install -y nginx libnginx-mod-nchan)');
  systems.push('nchan');
}
if (compared.includes('floor')) systems.push('floor');
const runs: Result[] = [];
for (const scenario of scenariosToRun()) {
  for (const system of systems) {
    if (system !== 'herald' && scenario.batchSize !== undefined) {
      console.log(`${system}/${scenario.name}: skipped, it has nothing like a batch's stream (one stream of many channels' events)`);
      continue;
    }
    const repeats: Result[] = [];
    for (let run = 0; run < Number(args.repeat); run += 1) {
      const result = await runOnce(scenario, system);
      console.log(JSON.stringify(repeats.length === 0 && Number(args.repeat) === 1 ? result : { ...result, run: run + 1 }));
      repeats.push(result);
    }
    runs.push(...repeats);
    results.push(repeats.length === 1 ? repeats[0]! : medianOf(repeats));
    if (repeats.length > 1) console.log(JSON.stringify({ ...results.at(-1), run: 'median' }));
  }
}
console.log(`\n${markdownTable(results)}`);
// The delivery promise is checked on every run, CI's smoke run included; speed is only reported.
const broken = runs.filter((r) => r.lost || r.dup || r.reordered || r.failedConnections || r.timedOut || r.badStreams);
for (const r of broken)
  console.error(
    `${r.system}/${r.scenario}: lost ${r.lost}, dup ${r.dup}, reordered ${r.reordered}, failed ${r.failedConnections}, timed out ${r.timedOut}` +
      (r.badStreams === undefined ? '' : `, batch streams not exactly their Stream ${r.badStreams}`),
  );
process.exit(broken.length > 0 ? 1 : 0);
