import { inject } from 'vitest';
import { connectRedis, isCluster, loadConfig, type RedisClient, type RedisSettings } from '@herald/shared';

// The run's Redis, whichever it is: one Redis (the `integration` project) or a Redis Cluster
// (`integration-cluster`), handed over by the global setup as the environment that points
// Herald at it. Tests reach it only through these, so the same file runs on both.

/** REDIS_URL, or REDIS_CLUSTER_NODES and REDIS_PASSWORD. */
export const redisEnv = (): Record<string, string> => inject('redisEnv');

export const onCluster = (): boolean => 'REDIS_CLUSTER_NODES' in redisEnv();

/** The run's Redis as Herald's settings. */
export const redisSettings = (): RedisSettings => loadConfig({ ...redisEnv(), LOG_LEVEL: 'silent' });

/** A command connection to the run's Redis, for a test's own reads and writes (callers disconnect it). */
export function connectTestRedis(name = 'test'): RedisClient {
  const redis = connectRedis(redisSettings(), { name });
  redis.on('error', () => {}); // fault tests break Redis on purpose; the connection heals itself
  return redis;
}

/** The nodes of a Cluster once it knows them (before 'ready' it knows none), or the one Redis. */
export async function nodesOf(redis: RedisClient, role: 'master' | 'all'): Promise<RedisClient[]> {
  if (!isCluster(redis)) return [redis];
  if (redis.status !== 'ready') await new Promise((resolve) => redis.once('ready', resolve));
  return redis.nodes(role);
}

/** Every key that matches `pattern`, on every master (KEYS on a Cluster asks one node only). */
export async function keysMatching(redis: RedisClient, pattern: string): Promise<string[]> {
  const nodes = await nodesOf(redis, 'master');
  const found = await Promise.all(
    nodes.map(async (node) => {
      const names: string[] = [];
      let cursor = '0';
      do {
        const [next, batch] = await node.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
        cursor = next;
        names.push(...batch);
      } while (cursor !== '0');
      return names;
    }),
  );
  return found.flat().sort();
}

/** Empties the run's Redis, every master of it. */
export async function flushAll(redis: RedisClient): Promise<void> {
  const nodes = await nodesOf(redis, 'master');
  await Promise.all(nodes.map((node) => node.flushall()));
}

/** SSUBSCRIBErs of a sharded channel (on a Cluster: on the master that owns its slot, the only one that counts). */
export async function shardSubscribers(redis: RedisClient, channel: string): Promise<number> {
  const counts = await Promise.all(
    (await nodesOf(redis, 'master')).map(async (node) => {
      const reply = (await node.call('PUBSUB', 'SHARDNUMSUB', channel)) as [string, number];
      return Number(reply[1]);
    }),
  );
  return counts.reduce((sum, count) => sum + count, 0);
}

/** Connection names of every client connected to the run's Redis, on every node. */
export async function clientNames(redis: RedisClient): Promise<string[]> {
  const lists = await Promise.all((await nodesOf(redis, 'all')).map((node) => node.call('CLIENT', 'LIST') as Promise<string>));
  return lists.flatMap((list) => list.split('\n').map((line) => / name=(\S*)/.exec(line)?.[1] ?? '')).filter((name) => name !== '');
}

/** Calls of one command (lower case, e.g. `xrange`) so far, summed over every master (INFO commandstats). */
export async function commandCalls(redis: RedisClient, command: string): Promise<number> {
  const counts = await Promise.all(
    (await nodesOf(redis, 'master')).map(async (node) => {
      const info = (await node.info('commandstats')) as string;
      return Number(new RegExp(`^cmdstat_${command}:calls=(\\d+)`, 'm').exec(info)?.[1] ?? 0);
    }),
  );
  return counts.reduce((sum, count) => sum + count, 0);
}
