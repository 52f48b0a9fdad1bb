import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { createLogger, describeRedis, loadConfig } from '@herald/shared';
import { startPrivateRedisCluster } from '@herald/shared/dev';
import { ensureRedis } from '../../apps/standalone/src/private-redis.ts';
import { ensureClientBundle } from '../build/client-bundle.ts';
import { startStack } from './stack.ts';

// `npm run stack -- --apis 3 --workers 2 --port 8080`: the compose topology without Docker.
const { values } = parseArgs({
  options: {
    apis: { type: 'string', default: '3' },
    workers: { type: 'string', default: '2' },
    port: { type: 'string', default: '8080' },
    'tls-port': { type: 'string', default: '8443' },
    'ops-port': { type: 'string', default: '8090' },
    'metrics-port': { type: 'string', default: '9091' },
    redis: { type: 'string', default: 'single' },
    'redis-port': { type: 'string', default: '7000' },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (values.help) {
  console.log(`usage: npm run stack -- [--apis N] [--workers M] [--port P] [--tls-port T] [--ops-port O] [--metrics-port Q] [--redis single|cluster] [--redis-port R]

Starts N API replicas on ports P+1…P+N, M workers (metrics on Q…, default 9091) and Debian's nginx on
127.0.0.1:P with deploy/nginx/nginx.conf (and HTTP/2 over TLS on T, default 8443, with a self-signed
certificate for localhost; /metrics, /readyz and /admin only on its operations port O, default
8090), all on one Redis: REDIS_URL (default redis://127.0.0.1:6379;
a private redis-server is started when nothing answers there), or the Redis Cluster or Sentinels
that REDIS_CLUSTER_NODES or REDIS_SENTINELS name. --redis cluster starts a private Redis Cluster
instead: 3 masters and a replica each on R…R+5 (default 7000), in memory only. Other variables
(STAGE_DELAY_MS, LOG_LEVEL, …) reach every process. Ctrl-C stops everything.`);
  process.exit(0);
}

const count = (name: string, value: string, max: number): number => {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > max) {
    console.error(`stack: --${name} must be an integer from 1 to ${max}, got ${JSON.stringify(value)}`);
    process.exit(2);
  }
  return n;
};
const apiReplicas = count('apis', values.apis, 32);
const workers = count('workers', values.workers, 32);
const port = count('port', values.port, 65535 - 32);
const tlsPort = count('tls-port', values['tls-port']!, 65535);
const opsPort = count('ops-port', values['ops-port']!, 65535);
const metricsPort = count('metrics-port', values['metrics-port'], 65535 - 32);

const logger = createLogger('stack', 'info');
// The replicas serve the page's client from its prebuilt bundle.
if (await ensureClientBundle()) logger.info('built the page’s client bundle (apps/api/dist/herald-client.js)');
if (values.redis !== 'single' && values.redis !== 'cluster') {
  console.error(`stack: --redis must be single or cluster, got ${JSON.stringify(values.redis)}`);
  process.exit(2);
}
const { redis, stopRedis } = await redisFor(values.redis, count('redis-port', values['redis-port']!, 65535 - 6));
const runtimeDir = mkdtempSync(join(tmpdir(), 'herald-stack-'));
const range = (n: number, from: number): number[] => Array.from({ length: n }, (_, i) => from + i);

const stack = await startStack({
  apiReplicas,
  workers,
  port,
  tlsPort,
  opsPort,
  apiPorts: range(apiReplicas, port + 1),
  workerMetricsPorts: range(workers, metricsPort),
  redis,
  runtimeDir,
  output: 'inherit',
}).catch(async (error: unknown) => {
  await stopRedis?.();
  console.error(`stack: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});

logger.info(
  { apis: stack.apis.map((api) => api.url), workerMetrics: stack.workers.map((w) => w.metricsUrl), runtimeDir },
  `Herald stack is up: open ${stack.url}/ or, over HTTP/2, ${stack.tlsUrl}/ (self-signed); /metrics, /readyz and /admin at ${stack.opsUrl}/ (nginx, round robin over ${apiReplicas} replicas; ${workers} workers)`,
);

let stopping = false;
const stop = async (): Promise<void> => {
  if (stopping) return;
  stopping = true;
  logger.info('stopping the stack');
  await stack.stop();
  await stopRedis?.();
  process.exit(0);
};
process.on('SIGINT', () => void stop());
process.on('SIGTERM', () => void stop());

/** Where the stack's processes find Redis, and how to stop the one started for them, if any. */
async function redisFor(
  mode: 'single' | 'cluster',
  clusterPort: number,
): Promise<{ redis: Record<string, string>; stopRedis: (() => Promise<void>) | null }> {
  if (mode === 'cluster') {
    const cluster = await startPrivateRedisCluster(
      Array.from({ length: 6 }, (_, i) => clusterPort + i),
      { replicas: 1 },
    );
    logger.info({ nodes: cluster.seeds }, `started a private Redis Cluster: 3 masters, a replica each, on ${cluster.seeds}`);
    // Every master has a replica: a job's end waits for it (docs/api.md, "Failover").
    return { redis: { REDIS_CLUSTER_NODES: cluster.seeds, REDIS_WAIT_REPLICAS: '1' }, stopRedis: () => cluster.stop() };
  }
  if (process.env.REDIS_CLUSTER_NODES || process.env.REDIS_SENTINELS) {
    logger.info(`using ${describeRedis(loadConfig(process.env))}`);
    return { redis: {}, stopRedis: null }; // the variables reach every process as they are
  }
  const redisUrl = process.env.REDIS_URL || 'redis://127.0.0.1:6379';
  return { redis: { REDIS_URL: redisUrl }, stopRedis: await ensureRedis(redisUrl, logger) };
}
