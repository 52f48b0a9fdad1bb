import { parseArgs } from 'node:util';
import { forkLoad, nextMessage } from './lib/children.ts';
import { Histogram } from './lib/histogram.ts';
import type { SubscriberStats } from './load/protocol.ts';
import { startHeraldPublisher } from './lib/herald-publisher.ts';
import { startHerald } from './systems/herald.ts';

// The drain bench (not in CI): --watchers streams on replica 0 and --steady ones on the others,
// all watching --jobs jobs at --rate events per job per second. Mid-run replica 0 is drained
// (SIGTERM); its watchers reconnect to the survivors with Last-Event-ID after the `retry:` they
// were sent, as EventSource does. Reports how their reconnects landed on the survivors (peak per
// second, in 100 ms bins, and over how long), the p99 of what the steady watchers got during the
// drain (what a stampede costs everyone else), and the drained watchers' own p99 (what the
// spread costs them). Run it with --spread-ms 0 and 5000 for before and after. Bounded: it ends
// after --seconds of publishing plus at most two minutes; loopback only; exits 1 on any loss.

const { values: args } = parseArgs({
  options: {
    watchers: { type: 'string', default: '10000' },
    steady: { type: 'string', default: '2000' },
    jobs: { type: 'string', default: '1000' },
    rate: { type: 'string', default: '1' },
    seconds: { type: 'string', default: '30' },
    replicas: { type: 'string', default: '3' },
    'spread-ms': { type: 'string', default: '5000' },
    'retry-ms': { type: 'string', default: '1000' },
  },
});
const [W, S, J, rate, seconds, R] = ['watchers', 'steady', 'jobs', 'rate', 'seconds', 'replicas'].map((name) =>
  Number(args[name as keyof typeof args]),
) as [number, number, number, number, number, number];
const spreadMs = Number(args['spread-ms']);
const retryMs = Number(args['retry-ms']);
const E = Math.max(2, Math.round(rate * seconds));
const PER_PROCESS = 6000;

const next = <T>(child: Parameters<typeof nextMessage>[0], type: string): Promise<T> => nextMessage<T>(child, type, (seconds + 180) * 1000);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const system = await startHerald({
  replicas: R,
  env: { SSE_RETRY_MS: String(retryMs), DRAIN_SPREAD_MS: String(spreadMs), MAX_SSE_CLIENTS: String(W + S + 1000) },
});
const bases = Array.from({ length: R }, (_, i) => new URL(system.subscribeUrl('x', i)).origin);
const survivors = bases.slice(1);
const drainedGroup = Array.from({ length: Math.ceil(W / PER_PROCESS) }, () => forkLoad('subscriber.ts'));
const steadyGroup = Array.from({ length: Math.ceil(S / PER_PROCESS) }, () => forkLoad('subscriber.ts'));
const everyone = [...drainedGroup, ...steadyGroup];

try {
  const [warmupChannel, ...channels] = await system.createChannels(J + 1);
  const share = (count: number, processes: number, replicaOf: (i: number) => number) => {
    const shares = Array.from({ length: processes }, () => [] as { url: string; channel: number }[]);
    for (let i = 0; i < count; i += 1)
      shares[i % processes]!.push({ url: system.subscribeUrl(channels[i % J]!, replicaOf(i)), channel: i % J });
    return shares;
  };
  const drainedShares = share(W, drainedGroup.length, () => 0);
  const steadyShares = share(S, steadyGroup.length, (i) => 1 + (i % (R - 1)));
  const connected = everyone.map((child) => next(child, 'connected'));
  const complete = everyone.map((child) => next(child, 'complete'));
  const subscribe = (child: (typeof everyone)[number], connections: { url: string; channel: number }[]) =>
    child.send({ type: 'subscribe', connections, events: E, closeOnComplete: true, resumeVia: survivors, honourRetry: true });
  for (const [i, child] of drainedGroup.entries()) subscribe(child, drainedShares[i]!);
  for (const [i, child] of steadyGroup.entries()) subscribe(child, steadyShares[i]!);
  await Promise.all(connected);

  const { published } = await startHeraldPublisher(
    { redisUrl: system.redisUrl, channels, warmupChannel: warmupChannel!, events: E, rate },
    (seconds + 180) * 1000,
  );

  // A third of the way in: the drain, with the window open from just before it until every
  // drained watcher should be back (its longest retry:) and a little more.
  await sleep((seconds * 1000) / 3);
  for (const child of everyone) child.send({ type: 'window', open: true });
  const drainedAt = Date.now();
  const restarted = system.restartReplica(0, 'SIGTERM');
  await sleep(retryMs + spreadMs + 2000);
  for (const child of everyone) child.send({ type: 'window', open: false });
  await restarted;
  await published;
  const finished = await Promise.race([Promise.all(complete).then(() => true), sleep(120_000).then(() => false)]);

  const collect = (group: typeof everyone) =>
    Promise.all(
      group.map((child) => {
        const reply = next<SubscriberStats>(child, 'stats');
        child.send({ type: 'collect' });
        return reply;
      }),
    );
  const [drainedStats, steadyStats] = [await collect(drainedGroup), await collect(steadyGroup)];
  const merged = (stats: readonly SubscriberStats[], key: 'histogram' | 'windowHistogram') => {
    const histogram = new Histogram();
    for (const s of stats) histogram.merge(s[key].counts, s[key].max);
    return histogram;
  };
  const ms = (histogram: Histogram, q: number) => Math.round(histogram.quantile(q)) / 1000;
  // The drained watchers' reconnects, in 100 ms bins from the drain: the survivors' arrival rate.
  const times = drainedStats.flatMap((s) => s.reconnectTimes).map((t) => t - drainedAt);
  const bins = new Map<number, number>();
  for (const t of times) bins.set(Math.floor(t / 100), (bins.get(Math.floor(t / 100)) ?? 0) + 1);
  const all = [...drainedStats, ...steadyStats];
  const total = (key: 'delivered' | 'expected' | 'dup' | 'reordered') => all.reduce((sum, s) => sum + s[key], 0);
  const steadyWindow = merged(steadyStats, 'windowHistogram');
  const drainedAll = merged(drainedStats, 'histogram');
  const result = {
    drain: true,
    watchers: W,
    steady: S,
    J,
    E,
    rate,
    replicas: R,
    retryMs,
    spreadMs,
    allComplete: finished,
    delivered: total('delivered'),
    expected: total('expected'),
    lost: total('expected') - total('delivered'),
    dup: total('dup'),
    reordered: total('reordered'),
    reconnects: times.length,
    firstReconnectMs: Math.min(...times),
    lastReconnectMs: Math.max(...times),
    peakReconnectsPerSec: Math.max(0, ...bins.values()) * 10,
    steadyDuringDrain_p50_ms: ms(steadyWindow, 0.5),
    steadyDuringDrain_p99_ms: ms(steadyWindow, 0.99),
    steadyDuringDrain_max_ms: Math.round(steadyWindow.max) / 1000,
    drained_p99_ms: ms(drainedAll, 0.99),
    drained_max_ms: Math.round(drainedAll.max) / 1000,
  };
  console.log(JSON.stringify(result));
  process.exitCode = result.lost || result.dup || result.reordered || !finished ? 1 : 0;
} finally {
  for (const child of everyone) if (child.connected) child.send({ type: 'stop' });
  await system.stop();
}
process.exit();
