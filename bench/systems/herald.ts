import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { startPrivateRedis, startPrivateRedisCluster } from '@herald/shared/dev';
import { freePort } from '../../test/support/free-port.ts';
import { stopProcesses } from '../lib/children.ts';
import type { SystemUnderTest } from './system.ts';

export interface HeraldOptions {
  readonly replicas: number;
  /** Extra environment for the replicas (e.g. HEARTBEAT_MS). */
  readonly env?: Record<string, string>;
  /** Extra node flags for the replicas (--cpu-prof, --trace-gc, …). */
  readonly nodeArgs?: readonly string[];
  /** One Redis (default), or a Redis Cluster of `shards` masters without replicas. */
  readonly redis?: { readonly mode: 'single' } | { readonly mode: 'cluster'; readonly shards: number };
}

/** The flags `npm run start:api` gives a replica (see package.json). */
const API_NODE_FLAGS = ['--max-semi-space-size=8'];

async function waitReady(url: string, child: ChildProcess): Promise<void> {
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`API replica exited with ${child.exitCode}`);
    const ok = await fetch(`${url}/readyz`).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`API replica at ${url} did not become ready`);
}

/** Herald as deployed: a private Redis and R API replicas, each its own process (no workers:
 *  the bench publishes through the shared publisher, as workers do). */
export interface HeraldSystem extends SystemUnderTest {
  /** Stops replica `index` with `signal` and starts a new one on the same port (soak test). */
  restartReplica(index: number, signal: NodeJS.Signals): Promise<void>;
}

export async function startHerald(options: HeraldOptions): Promise<HeraldSystem> {
  const cluster =
    options.redis?.mode === 'cluster'
      ? await startPrivateRedisCluster(await Promise.all(Array.from({ length: options.redis.shards }, () => freePort())))
      : null;
  const redisPort = cluster ? cluster.nodes[0]!.port : await freePort();
  const redis = cluster ?? (await startPrivateRedis(redisPort, ['--maxclients', '30000']));
  const redisUrl = `redis://127.0.0.1:${redisPort}`;
  const redisEnv: Record<string, string> = cluster ? { REDIS_CLUSTER_NODES: cluster.seeds } : { REDIS_URL: redisUrl };
  const launch = (port: number): ChildProcess =>
    spawn(
      process.execPath,
      ['--disable-warning=ExperimentalWarning', ...API_NODE_FLAGS, ...(options.nodeArgs ?? []), 'apps/api/src/main.ts'],
      {
        env: {
          ...process.env,
          ...redisEnv,
          PORT: String(port),
          HOST: '127.0.0.1',
          LOG_LEVEL: 'warn',
          MAX_SSE_CLIENTS: '100000',
          // Every client of the benchmark is 127.0.0.1: the per-IP and per-key limits would
          // measure themselves rather than the fan-out.
          SUBMIT_RATE_PER_IP: '0',
          SUBMIT_RATE_PER_KEY: '0',
          MAX_SSE_CLIENTS_PER_IP: '0',
          ...options.env,
        },
        stdio: ['ignore', 'inherit', 'inherit'],
      },
    );
  const replicas: { url: string; port: number; child: ChildProcess }[] = [];
  for (let i = 0; i < options.replicas; i += 1) {
    const port = await freePort();
    replicas.push({ url: `http://127.0.0.1:${port}`, port, child: launch(port) });
  }
  await Promise.all(replicas.map(({ url, child }) => waitReady(url, child)));

  return {
    name: 'herald',
    redisUrl,
    redisEnv,
    redisMasters: cluster ? cluster.seeds.split(',') : [`127.0.0.1:${redisPort}`],
    serverPids: () => replicas.map(({ child }) => child.pid ?? 0),
    async createChannels(count) {
      const ids: string[] = [];
      for (let i = 0; i < count; i += 1) {
        const { url } = replicas[i % replicas.length]!;
        const response = await fetch(`${url}/v1/jobs`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ text: `Benchmark job ${i}. It only carries published events.` }),
        });
        if (response.status !== 202) throw new Error(`submit failed: ${response.status} ${await response.text()}`);
        ids.push(((await response.json()) as { jobId: string }).jobId);
      }
      return ids;
    },
    async createBatches(count, size) {
      const batches: { batchId: string; jobIds: string[] }[] = [];
      const items = Array.from({ length: size }, (_, i) => ({ text: `Benchmark batch item ${i}. It only carries published events.` }));
      for (let i = 0; i < count; i += 1) {
        const { url } = replicas[i % replicas.length]!;
        const response = await fetch(`${url}/v1/batches`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ items }),
        });
        if (response.status !== 202) throw new Error(`batch submit failed: ${response.status} ${await response.text()}`);
        batches.push((await response.json()) as { batchId: string; jobIds: string[] });
      }
      return batches;
    },
    async restartReplica(index, signal) {
      const replica = replicas[index % replicas.length]!;
      const exited = once(replica.child, 'exit');
      replica.child.kill(signal);
      await exited;
      replica.child = launch(replica.port);
      await waitReady(replica.url, replica.child);
    },
    subscribeUrl: (channel, replica) => `${replicas[replica % replicas.length]!.url}/v1/jobs/${channel}/events`,
    batchSubscribeUrl: (batchId, replica) => `${replicas[replica % replicas.length]!.url}/v1/batches/${batchId}/events`,
    redisConnectionsPerReplica: (clientList) =>
      clientList.split('\n').filter((line) => / name=herald:api:/.test(line)).length / replicas.length,
    async stop() {
      await stopProcesses(replicas.map(({ child }) => child));
      await redis.stop();
    },
  };
}
