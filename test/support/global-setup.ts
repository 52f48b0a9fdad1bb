import type { TestProject } from 'vitest/node';
import { ensureClientBundle } from '../../scripts/build/client-bundle.ts';
import { startTestRedisCluster } from './redis-cluster.ts';
import { startTestRedis } from './redis.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    /** What points Herald at the run's Redis (test/support/redis-target.ts). */
    redisEnv: Record<string, string>;
  }
}

/**
 * One Redis for the run (a container in CI), handed to every file: for the `integration-cluster`
 * project a Redis Cluster (3 masters, a replica each), for the others one Redis. And the page's
 * client bundle, built when it is missing or older than its sources.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  // The replicas the tests start serve the page's client from its prebuilt bundle.
  if (await ensureClientBundle()) console.log('[herald tests] built the page’s client bundle (apps/api/dist/herald-client.js)');
  if (project.name === 'integration-cluster') {
    const cluster = await startTestRedisCluster();
    console.log(`[herald tests] Redis Cluster of ${cluster.nodes.length} ${cluster.kind} nodes on ${cluster.env.REDIS_CLUSTER_NODES}`);
    project.provide('redisEnv', cluster.env);
    return () => cluster.stop();
  }
  const redis = await startTestRedis();
  console.log(`[herald tests] Redis ${redis.kind} on ${redis.url}`);
  project.provide('redisEnv', { REDIS_URL: redis.url });
  return () => redis.stop();
}
