import { spawnSync } from 'node:child_process';
import { Redis } from 'ioredis';
import { redactUrl, type Logger } from '@herald/shared';
import { startPrivateRedis } from '@herald/shared/dev';

async function answers(url: string): Promise<boolean> {
  const probe = new Redis(url, { lazyConnect: true, retryStrategy: () => null, connectTimeout: 1000, maxRetriesPerRequest: 0 });
  probe.on('error', () => {});
  try {
    await probe.connect();
    return (await probe.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    probe.disconnect();
  }
}

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]', '::1']);

/**
 * `npm start` on a bare machine: when nothing answers at REDIS_URL, the URL points at this
 * machine and `redis-server` is installed, run a private one (in memory only) for the process's
 * lifetime. Returns a stop function, or null when Redis was already there.
 */
export async function ensureRedis(url: string, logger: Logger): Promise<(() => Promise<void>) | null> {
  // The first thing `npm start` says: which Redis it is using, found or started.
  if (await answers(url)) {
    logger.info({ redis: redactUrl(url) }, `using the Redis at ${redactUrl(url)} (REDIS_URL)`);
    return null;
  }
  const { hostname, port } = new URL(url);
  const hasBinary = spawnSync('redis-server', ['--version']).status === 0;
  if (!LOOPBACK.has(hostname) || !hasBinary) {
    logger.warn(
      { redis: redactUrl(url) },
      `nothing answers at ${redactUrl(url)} (REDIS_URL); waiting for it (install redis-server to have one started)`,
    );
    return null;
  }
  const redis = await startPrivateRedis(Number(port || 6379));
  logger.info(
    { redis: redactUrl(url), port: redis.port, pid: redis.pid },
    `nothing answered at ${redactUrl(url)}: started a private redis-server on port ${redis.port} (data kept in memory only, gone when Herald stops)`,
  );
  return () => redis.stop();
}
