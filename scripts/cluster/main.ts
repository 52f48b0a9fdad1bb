import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { createLogger } from '@herald/shared';
import { ensureRedis } from '../../apps/standalone/src/private-redis.ts';
import { startCluster } from './cluster.ts';

// `npm run cluster -- --apis 3 --workers 2 --port 8080`: the compose topology without Docker.
const { values } = parseArgs({
  options: {
    apis: { type: 'string', default: '3' },
    workers: { type: 'string', default: '2' },
    port: { type: 'string', default: '8080' },
    'metrics-port': { type: 'string', default: '9091' },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (values.help) {
  console.log(`usage: npm run cluster -- [--apis N] [--workers M] [--port P] [--metrics-port Q]

Starts N API replicas on ports P+1…P+N, M workers (metrics on Q…, default 9091) and Debian's nginx on
127.0.0.1:P with deploy/nginx/nginx.conf, all on REDIS_URL (default redis://127.0.0.1:6379; a
private redis-server is started when nothing answers there). Other variables (STAGE_DELAY_MS,
LOG_LEVEL, …) reach every process. Ctrl-C stops everything.`);
  process.exit(0);
}

const count = (name: string, value: string, max: number): number => {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > max) {
    console.error(`cluster: --${name} must be an integer from 1 to ${max}, got ${JSON.stringify(value)}`);
    process.exit(2);
  }
  return n;
};
const apiReplicas = count('apis', values.apis, 32);
const workers = count('workers', values.workers, 32);
const port = count('port', values.port, 65535 - 32);
const metricsPort = count('metrics-port', values['metrics-port'], 65535 - 32);

const logger = createLogger('cluster', 'info');
const redisUrl = process.env.REDIS_URL || 'redis://127.0.0.1:6379';
const stopRedis = await ensureRedis(redisUrl, logger);
const runtimeDir = mkdtempSync(join(tmpdir(), 'herald-cluster-'));
const range = (n: number, from: number): number[] => Array.from({ length: n }, (_, i) => from + i);

const cluster = await startCluster({
  apiReplicas,
  workers,
  port,
  apiPorts: range(apiReplicas, port + 1),
  workerMetricsPorts: range(workers, metricsPort),
  redisUrl,
  runtimeDir,
  output: 'inherit',
}).catch(async (error: unknown) => {
  await stopRedis?.();
  console.error(`cluster: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});

logger.info(
  { apis: cluster.apis.map((api) => api.url), workerMetrics: cluster.workers.map((w) => w.metricsUrl), runtimeDir },
  `Herald cluster is up: open ${cluster.url}/ (nginx, round robin over ${apiReplicas} replicas; ${workers} workers)`,
);

let stopping = false;
const stop = async (): Promise<void> => {
  if (stopping) return;
  stopping = true;
  logger.info('stopping the cluster');
  await cluster.stop();
  await stopRedis?.();
  process.exit(0);
};
process.on('SIGINT', () => void stop());
process.on('SIGTERM', () => void stop());
