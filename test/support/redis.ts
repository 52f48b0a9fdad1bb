import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { freePort } from './free-port.ts';

export const REDIS_IMAGE = process.env.HERALD_REDIS_IMAGE ?? 'herald-redis:local';

export interface TestRedis {
  readonly url: string;
  readonly port: number;
  /** 'container' (testcontainers) or 'process' (a private redis-server, when there is no Docker). */
  readonly kind: 'container' | 'process';
  /** Kills Redis and starts it again on the same port (fault tests). */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

export interface TestRedisOptions {
  /** Append-only file on, so data survives restart(). */
  readonly appendOnly?: boolean;
}

const redisArgs = (port: number, options: TestRedisOptions): string[] => [
  '--port', String(port), '--bind', '127.0.0.1', '--save', '',
  ...(options.appendOnly ? ['--appendonly', 'yes', '--dir', '/data'] : ['--appendonly', 'no']),
];

const dockerImageExists = (): boolean =>
  spawnSync('docker', ['image', 'inspect', REDIS_IMAGE], { stdio: 'ignore' }).status === 0;

/**
 * HERALD_TEST_REDIS picks how: `container` (required; CI), `process`, or unset: a container when
 * Docker and the local image are there (scripts/docker/build-redis-image.sh), else a process.
 */
export async function startTestRedis(options: TestRedisOptions = {}): Promise<TestRedis> {
  const mode = process.env.HERALD_TEST_REDIS ?? 'auto';
  if (mode === 'container' || (mode === 'auto' && dockerImageExists())) return startContainer(options);
  if (mode === 'auto') {
    console.warn('[herald tests] no Docker engine or image: using a private redis-server instead of a container');
  }
  return startProcess(options);
}

async function startContainer(options: TestRedisOptions): Promise<TestRedis> {
  // No registry is reachable: no Ryuk reaper image, and host networking (no bridge exists).
  process.env.TESTCONTAINERS_RYUK_DISABLED = 'true';
  process.env.TESTCONTAINERS_HOST_OVERRIDE = '127.0.0.1';
  const { GenericContainer, Wait } = await import('testcontainers');
  const port = await freePort();
  const container = await new GenericContainer(REDIS_IMAGE)
    .withNetworkMode('host')
    .withCommand(redisArgs(port, options))
    .withWaitStrategy(Wait.forLogMessage('Ready to accept connections'))
    .start();
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    kind: 'container',
    restart: async () => {
      await container.restart();
    },
    stop: async () => {
      await container.stop();
    },
  };
}

async function startProcess(options: TestRedisOptions): Promise<TestRedis> {
  const port = await freePort();
  const dir = options.appendOnly ? (await import('node:fs')).mkdtempSync('/tmp/herald-redis-') : undefined;
  const args = redisArgs(port, options).map((arg) => (arg === '/data' && dir ? dir : arg));
  let child = await launch(args);
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    kind: 'process',
    restart: async () => {
      child.kill('SIGKILL');
      await once(child, 'exit');
      child = await launch(args);
    },
    stop: async () => {
      if (child.exitCode !== null) return;
      child.kill('SIGTERM');
      await once(child, 'exit');
    },
  };
}

async function launch(args: string[]): Promise<ChildProcess> {
  const child = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'inherit'] });
  let output = '';
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
    output += chunk;
  });
  const deadline = Date.now() + 10_000;
  while (!output.includes('Ready to accept connections')) {
    if (child.exitCode !== null || Date.now() > deadline) throw new Error(`redis-server did not start:\n${output}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  child.stdout?.removeAllListeners('data').resume();
  return child;
}
