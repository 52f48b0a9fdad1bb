import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import { EventPublisher, connectRedis, loadConfig } from '@herald/shared';
import { startPrivateRedis, startPrivateRedisCluster } from '@herald/shared/dev';
import { freePort } from '../test/support/free-port.ts';

// `sh scripts/node.sh bench/shard-ceiling.ts [--shards 1,3] [--secs 5]`: how many events a
// second one Redis shard takes with Herald's publish script, measured as events per second of
// that shard's CPU — the figure that stays true when each shard has a core of its own, which
// this 2-core machine cannot give three shards at once. Publishes through the real
// EventPublisher (the script, its Stream, snapshot and SPUBLISH) with nobody subscribed, so
// the fan-out is not measured here (npm run bench does that). Loopback only; bounded by --secs.

const { values: args } = parseArgs({
  options: {
    shards: { type: 'string', default: '1,3' },
    secs: { type: 'string', default: '5' },
    jobs: { type: 'string', default: '2000' },
    concurrency: { type: 'string', default: '256' },
  },
});

async function redisCpuSeconds(address: string): Promise<number> {
  const redis = new Redis(`redis://${address}`);
  try {
    const info = await redis.info('cpu');
    const read = (name: string) => Number(new RegExp(`^${name}:([\\d.]+)`, 'm').exec(info)?.[1] ?? 0);
    return read('used_cpu_user') + read('used_cpu_sys');
  } finally {
    redis.disconnect();
  }
}

async function measure(shards: number): Promise<void> {
  const ports = await Promise.all(Array.from({ length: shards }, () => freePort()));
  const cluster = shards > 1 ? await startPrivateRedisCluster(ports) : null;
  const single = cluster ? null : await startPrivateRedis(ports[0]!);
  const addresses = ports.map((port) => `127.0.0.1:${port}`);
  const env = cluster ? { REDIS_CLUSTER_NODES: cluster.seeds } : { REDIS_URL: `redis://${addresses[0]}` };
  const redis = connectRedis(loadConfig({ ...env, LOG_LEVEL: 'silent' }), { name: 'bench:ceiling' });
  const publisher = new EventPublisher(redis, { ttlSeconds: 600, streamMaxLen: 1000 });
  try {
    const jobs = Array.from({ length: Number(args.jobs) }, (_, i) => `ceiling-${shards}-${i}`);
    for (const jobId of jobs) await publisher.create(jobId, { status: 'queued', progress: 0, message: 'queued' }, { kind: 'bench' });
    const before = await Promise.all(addresses.map(redisCpuSeconds));
    const deadline = performance.now() + Number(args.secs) * 1000;
    let events = 0;
    const lane = async (lane: number): Promise<void> => {
      for (let n = lane; performance.now() < deadline; n += Number(args.concurrency)) {
        const jobId = jobs[n % jobs.length]!;
        await publisher.publish(jobId, {
          status: 'processing',
          stage: 'summarizing',
          progress: 50,
          message: `Step ${n}: a typical message`,
        });
        events += 1;
      }
    };
    const started = performance.now();
    await Promise.all(Array.from({ length: Number(args.concurrency) }, (_, i) => lane(i)));
    const seconds = (performance.now() - started) / 1000;
    const used = (await Promise.all(addresses.map(redisCpuSeconds))).map((after, i) => after - before[i]!);
    const total = used.reduce((a, b) => a + b, 0);
    console.log(
      JSON.stringify({
        shards,
        events,
        eventsPerSec: Math.round(events / seconds),
        redisCpuPctPerShard: used.map((cpu) => Math.round((cpu / seconds) * 100)),
        // One shard's ceiling: what a shard would take with a core to itself.
        eventsPerShardCpuSecond: Math.round(events / total),
        redisCpuMicrosPerEvent: Math.round((total / events) * 1e6 * 10) / 10,
      }),
    );
  } finally {
    redis.disconnect();
    await cluster?.stop();
    await single?.stop();
  }
}

for (const shards of args.shards!.split(',').map(Number)) await measure(shards);
