import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../../test/support/free-port.ts';
import { startNchan } from './nchan.ts';
import type { SystemUnderTest } from './system.ts';

/** nginx + Nchan on its own Redis, driven like Herald: channels instead of jobs; a worker per Herald replica. */
export async function startNchanSystem(workers: number): Promise<SystemUnderTest> {
  const httpPort = await freePort();
  const nchan = await startNchan({
    httpPort,
    redisPort: await freePort(),
    workDir: mkdtempSync(join(tmpdir(), 'herald-bench-nchan-')),
    workers,
  });
  return {
    name: 'nchan',
    redisUrl: nchan.redisUrl,
    redisEnv: { REDIS_URL: nchan.redisUrl },
    redisMasters: [nchan.redisUrl.replace('redis://', '')],
    serverPids: () => nchan.pids(),
    createChannels: async (count) => Array.from({ length: count }, () => randomBytes(8).toString('hex')),
    subscribeUrl: (channel) => nchan.subUrl(channel),
    pubUrl: `http://127.0.0.1:${httpPort}/pub?id={chan}`,
    // Nchan has one server; every Redis client but the bench's own is its.
    redisConnectionsPerReplica: (clientList) => clientList.split('\n').filter((line) => line.startsWith('id=')).length - 1,
    stop: () => nchan.stop(),
  };
}
