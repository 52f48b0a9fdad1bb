import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { startPrivateRedis, type PrivateRedis } from './private-redis.ts';

export interface PrivateRedisCluster {
  readonly nodes: readonly PrivateRedis[];
  /** Every node as host:port, comma-separated: REDIS_CLUSTER_NODES. */
  readonly seeds: string;
  stop(): Promise<void>;
}

export interface ClusterShape {
  /** Replicas per master (each master gets this many). */
  readonly replicas?: number;
  /** Every node asks this password, and replicas give it to their master. */
  readonly password?: string;
}

/** redis-server arguments of a Cluster node on `port` (its node table in a temp file). */
export function clusterNodeArgs(port: number, shape: ClusterShape = {}): string[] {
  const run = randomBytes(4).toString('hex');
  return [
    '--cluster-enabled',
    'yes',
    '--cluster-config-file',
    join(tmpdir(), `herald-cluster-${run}-${port}.conf`),
    '--cluster-node-timeout',
    '1000',
    ...(shape.password === undefined ? [] : ['--requirepass', shape.password, '--masterauth', shape.password]),
  ];
}

/**
 * Joins running Cluster nodes (`redis-cli --cluster create`, slots spread over the masters, the
 * rest their replicas) and waits until every node says `cluster_state:ok`.
 */
export async function joinRedisCluster(addresses: readonly string[], shape: ClusterShape = {}): Promise<void> {
  const auth = shape.password === undefined ? [] : ['-a', shape.password, '--no-auth-warning'];
  await new Promise<void>((resolve, reject) => {
    execFile(
      'redis-cli',
      [...auth, '--cluster', 'create', ...addresses, '--cluster-replicas', String(shape.replicas ?? 0), '--cluster-yes'],
      { timeout: 60_000 },
      (error, stdout, stderr) =>
        error ? reject(new Error(`redis-cli --cluster create: ${stderr || stdout || error.message}`)) : resolve(),
    );
  });
  const deadline = Date.now() + 30_000;
  for (const address of addresses) {
    const at = address.lastIndexOf(':');
    const redis = new Redis({
      host: address.slice(0, at),
      port: Number(address.slice(at + 1)),
      retryStrategy: () => 100,
      ...(shape.password === undefined ? {} : { password: shape.password }),
    });
    redis.on('error', () => {});
    try {
      while (!((await redis.call('CLUSTER', 'INFO')) as string).includes('cluster_state:ok')) {
        if (Date.now() > deadline) throw new Error(`${address} did not join the cluster`);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    } finally {
      redis.disconnect();
    }
  }
}

/**
 * A private Redis Cluster of redis-server processes on 127.0.0.1 (`npm run stack -- --redis
 * cluster`, the benchmark's `--redis cluster`): one node per port, `shape.replicas` replicas per
 * master, in memory only.
 */
export async function startPrivateRedisCluster(ports: readonly number[], shape: ClusterShape = {}): Promise<PrivateRedisCluster> {
  const nodes = await Promise.all(ports.map((port) => startPrivateRedis(port, ['--maxclients', '30000', ...clusterNodeArgs(port, shape)])));
  const addresses = ports.map((port) => `127.0.0.1:${port}`);
  try {
    await joinRedisCluster(addresses, shape);
  } catch (error) {
    await Promise.all(nodes.map((node) => node.stop()));
    throw error;
  }
  return {
    nodes,
    seeds: addresses.join(','),
    stop: async () => {
      await Promise.all(nodes.map((node) => node.stop()));
    },
  };
}
