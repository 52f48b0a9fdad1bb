import { startApi, type RunningApi } from '@herald/api';
import { connectRedis, createLogger, loadConfig, type Config, type RedisClient } from '@herald/shared';
import { startWorker, type RunningWorker, type Summarizer } from '@herald/worker-process';
import { flushAll, redisEnv } from './redis-target.ts';

export interface TestSystem {
  readonly apis: RunningApi[];
  readonly workers: RunningWorker[];
  readonly config: Config;
  /** A command connection for assertions on Redis itself (a Cluster connection on a cluster). */
  readonly redis: RedisClient;
  close(): Promise<void>;
}

export interface SystemOptions {
  /** A Redis of the test's own (fault tests); by default the run's (test/support/redis-target.ts). */
  readonly redisUrl?: string;
  /** Or the environment that points at one (a Cluster or Sentinels of the test's own). */
  readonly redisEnv?: Record<string, string>;
  readonly replicas?: number;
  readonly workers?: number;
  readonly env?: Record<string, string>;
  readonly summarizer?: Summarizer;
}

/**
 * API replicas and workers in this process, on one Redis, each with its own connections — as
 * separate processes would have. The Redis is flushed first (every master of a Cluster): each
 * file owns the queue.
 */
export async function startSystem(options: SystemOptions): Promise<TestSystem> {
  const config = loadConfig({
    ...(options.redisUrl !== undefined ? { REDIS_URL: options.redisUrl } : (options.redisEnv ?? redisEnv())),
    PORT: '0',
    HOST: '127.0.0.1',
    METRICS_PORT: '0', // each in-process worker serves its own /metrics (RunningWorker.metricsServer)
    STAGE_DELAY_MS: '0',
    JOB_BACKOFF_MS: '50',
    LOG_LEVEL: process.env.HERALD_TEST_LOG_LEVEL ?? 'silent',
    // Tests poll snapshots from one address far faster than a client should; limits.test.ts sets it.
    READ_RATE_PER_IP: '0',
    // scripts/ci/node-matrix.sh runs files again with the bare head reader off.
    ...(process.env.STREAM_READER ? { STREAM_READER: process.env.STREAM_READER } : {}),
    ...options.env,
  });
  const redis = connectRedis(config, { name: 'test:system' });
  redis.on('error', () => {}); // fault tests kill Redis; this connection reconnects by itself
  await flushAll(redis);
  const workers: RunningWorker[] = [];
  for (let i = 0; i < (options.workers ?? 1); i += 1) {
    const logger = createLogger(`worker-${i}`, config.LOG_LEVEL);
    workers.push(await startWorker({ config, logger, ...(options.summarizer ? { summarizer: options.summarizer } : {}) }));
  }
  const apis: RunningApi[] = [];
  for (let i = 0; i < (options.replicas ?? 2); i += 1) {
    apis.push(await startApi({ config, logger: createLogger(`api-${i}`, config.LOG_LEVEL) }));
  }
  return {
    apis,
    workers,
    config,
    redis,
    async close() {
      await Promise.all(apis.map((api) => api.close()));
      await Promise.all(workers.map((worker) => worker.close()));
      redis.disconnect();
    },
  };
}
