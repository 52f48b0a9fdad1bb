import { fork, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { randomBytes } from 'node:crypto';
import { freePort } from '../../test/support/free-port.ts';
import { stopProcesses } from '../lib/children.ts';
import type { SystemUnderTest } from './system.ts';

/**
 * The floor (floor-server.ts), as many processes as Herald has replicas: the publisher sends
 * each event to every one of them, as Redis pub/sub sends it to every replica.
 */
export async function startFloor(replicas: number): Promise<SystemUnderTest> {
  const servers: { port: number; child: ChildProcess }[] = [];
  for (let i = 0; i < replicas; i += 1) {
    const port = await freePort();
    const child = fork(new URL('./floor-server.ts', import.meta.url), {
      execArgv: ['--disable-warning=ExperimentalWarning'],
      env: { ...process.env, PORT: String(port) },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    await once(child, 'message');
    servers.push({ port, child });
  }
  return {
    name: 'floor',
    redisUrl: '',
    redisEnv: {},
    redisMasters: [],
    serverPids: () => servers.map(({ child }) => child.pid ?? 0),
    createChannels: async (count) => Array.from({ length: count }, () => randomBytes(8).toString('hex')),
    subscribeUrl: (channel, replica) => `http://127.0.0.1:${servers[replica % servers.length]!.port}/v1/jobs/${channel}/events`,
    floorAddresses: servers.map(({ port }) => `127.0.0.1:${port}`),
    redisConnectionsPerReplica: () => 0,
    async stop() {
      await stopProcesses(servers.map(({ child }) => child));
    },
  };
}
