import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import { forkLoad, nextMessage } from './lib/children.ts';
import { Histogram } from './lib/histogram.ts';
import { rssKB } from './lib/proc.ts';
import type { SubscriberStats } from './load/protocol.ts';
import { startHeraldPublisher } from './lib/herald-publisher.ts';
import { startHerald } from './systems/herald.ts';

// The soak test (not in CI): the `wide` shape for --minutes, with an API replica restarted every
// --restart-every seconds, alternately drained (SIGTERM) and killed (SIGKILL). Watchers resume
// with Last-Event-ID on the next replica, as EventSource does. Reports loss and RSS over time.
// Bounded: it stops by itself after --minutes plus a drain period; loopback only.

const { values: args } = parseArgs({
  options: {
    minutes: { type: 'string', default: '10' },
    C: { type: 'string', default: '5000' },
    J: { type: 'string', default: '500' },
    rate: { type: 'string', default: '2' },
    replicas: { type: 'string', short: 'R', default: '2' },
    'restart-every': { type: 'string', default: '60' },
  },
});
const [C, J, rate, R] = [Number(args.C), Number(args.J), Number(args.rate), Number(args.replicas)];
const seconds = Number(args.minutes) * 60;
const E = Math.max(2, Math.round(rate * seconds));

/** Every wait is bounded by the soak's own length plus a margin. */
const next = <T>(process: Parameters<typeof nextMessage>[0], type: string): Promise<T> =>
  nextMessage<T>(process, type, (seconds + 300) * 1000);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const system = await startHerald({ replicas: R });
const redis = new Redis(system.redisUrl);
const bases = Array.from({ length: R }, (_, i) => new URL(system.subscribeUrl('x', i)).origin);
const subscribers = Array.from({ length: Math.max(1, Math.ceil(C / 6000)) }, () => forkLoad('subscriber.ts'));
const timeline: { t: number; rssKB: number[]; redisUsedMB: number; event?: string }[] = [];
const started = performance.now();
const elapsed = () => Math.round((performance.now() - started) / 1000);
const sample = async (event?: string) => {
  const usedMemory = Number(/used_memory:(\d+)/.exec(await redis.info('memory'))?.[1] ?? 0);
  timeline.push({
    t: elapsed(),
    rssKB: system.serverPids().map(rssKB),
    redisUsedMB: Math.round(usedMemory / 1e5) / 10,
    ...(event ? { event } : {}),
  });
};

try {
  const [warmupChannel, ...channels] = await system.createChannels(J + 1);
  const shares = subscribers.map(() => [] as { url: string; channel: number }[]);
  for (let i = 0; i < C; i += 1) {
    shares[i % subscribers.length]!.push({ url: system.subscribeUrl(channels[i % J]!, Math.floor(i / J)), channel: i % J });
  }
  const connected = subscribers.map((s) => next(s, 'connected'));
  const complete = subscribers.map((s) => next(s, 'complete'));
  for (const [i, s] of subscribers.entries()) {
    s.send({ type: 'subscribe', connections: shares[i], events: E, closeOnComplete: false, resumeVia: bases });
  }
  await Promise.all(connected);
  await sample('connected');

  const { published } = await startHeraldPublisher(
    { redisUrl: system.redisUrl, channels, warmupChannel: warmupChannel!, events: E, rate },
    (seconds + 300) * 1000,
  );

  let restarts = 0;
  const sampler = setInterval(() => void sample(), 10_000);
  const restarter = setInterval(() => {
    const signal = restarts % 2 === 0 ? 'SIGTERM' : 'SIGKILL';
    const index = restarts % R;
    restarts += 1;
    void sample(`restart replica ${index} (${signal})`);
    system.restartReplica(index, signal).catch((error: unknown) => console.error('restart failed', error));
  }, Number(args['restart-every']) * 1000);
  await published;
  clearInterval(restarter);
  const finished = await Promise.race([Promise.all(complete).then(() => true), sleep(120_000).then(() => false)]);
  clearInterval(sampler);
  await sample('end');

  const stats = await Promise.all(
    subscribers.map((s) => {
      const reply = next<SubscriberStats>(s, 'stats');
      s.send({ type: 'collect' });
      return reply;
    }),
  );
  const histogram = new Histogram();
  for (const s of stats) histogram.merge(s.histogram.counts, s.histogram.max);
  const total = (key: 'delivered' | 'expected' | 'dup' | 'reordered' | 'reconnects') => stats.reduce((sum, s) => sum + s[key], 0);
  const result = {
    soak: true,
    minutes: Number(args.minutes),
    C,
    J,
    E,
    rate,
    replicas: R,
    restarts,
    allComplete: finished,
    delivered: total('delivered'),
    expected: total('expected'),
    lost: total('expected') - total('delivered'),
    dup: total('dup'),
    reordered: total('reordered'),
    reconnects: total('reconnects'),
    p50_ms: Math.round(histogram.quantile(0.5)) / 1000,
    p99_ms: Math.round(histogram.quantile(0.99)) / 1000,
    max_ms: Math.round(histogram.max) / 1000,
  };
  console.log(JSON.stringify(result));
  console.log('\n| t (s) | replica RSS (MB) | Redis used (MB) | event |\n|---|---|---|---|');
  for (const row of timeline) {
    console.log(`| ${row.t} | ${row.rssKB.map((kb) => (kb / 1024).toFixed(0)).join(' / ')} | ${row.redisUsedMB} | ${row.event ?? ''} |`);
  }
  process.exitCode = result.lost || result.dup || result.reordered || !finished ? 1 : 0;
} finally {
  for (const s of subscribers) {
    if (s.connected) s.send({ type: 'stop' });
  }
  redis.disconnect();
  await system.stop();
}
process.exit();
