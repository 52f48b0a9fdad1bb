import { execFile, spawnSync } from 'node:child_process';
import { Redis } from 'ioredis';
import { mkdtempSync } from 'node:fs';
import { startPrivateRedis } from '@herald/shared/dev';
import { freePort } from './free-port.ts';

export const REDIS_IMAGE = process.env.HERALD_REDIS_IMAGE ?? 'herald-redis:local';

export interface TestRedis {
  readonly url: string;
  readonly port: number;
  /** 'container' (testcontainers) or 'process' (a private redis-server, when there is no Docker). */
  readonly kind: 'container' | 'process';
  /** Kills Redis (SIGKILL), as a crash would (fault tests). */
  kill(): Promise<void>;
  /** Starts it again after kill(), on the same port, with the data its AOF kept. */
  start(): Promise<void>;
  stop(): Promise<void>;
}

export interface TestRedisOptions {
  /** Append-only file on (fsync on every write), so acknowledged data survives kill(). */
  readonly appendOnly?: boolean;
  /** A chosen port, e.g. one a process was told to use before Redis existed. */
  readonly port?: number;
  /** More redis-server arguments (a Cluster node's, a password). */
  readonly extraArgs?: readonly string[];
}

/** For the container, whose entrypoint is redis-server. */
const redisArgs = (port: number, options: TestRedisOptions): string[] => [
  '--port',
  String(port),
  '--bind',
  '127.0.0.1',
  '--save',
  '',
  ...(options.appendOnly ? ['--appendonly', 'yes', '--appendfsync', 'always', '--dir', '/data'] : ['--appendonly', 'no']),
  ...(options.extraArgs ?? []),
];

/** The password a `--requirepass` in extraArgs sets, if any. */
const passwordOf = (options: TestRedisOptions): string | undefined => {
  const args = options.extraArgs ?? [];
  const at = args.indexOf('--requirepass');
  return at === -1 ? undefined : args[at + 1];
};

const dockerImageExists = (): boolean => spawnSync('docker', ['image', 'inspect', REDIS_IMAGE], { stdio: 'ignore' }).status === 0;

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
  const port = options.port ?? (await freePort());
  const container = await new GenericContainer(REDIS_IMAGE)
    .withNetworkMode('host')
    .withCommand(redisArgs(port, options))
    .withWaitStrategy(Wait.forLogMessage('Ready to accept connections'))
    .start();
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    kind: 'container',
    kill: async () => {
      await docker('kill', container.getId());
    },
    start: async () => {
      await docker('start', container.getId());
      await waitForPing(port, passwordOf(options));
    },
    stop: async () => {
      await container.stop();
    },
  };
}

async function startProcess(options: TestRedisOptions): Promise<TestRedis> {
  const port = options.port ?? (await freePort());
  const persistence = options.appendOnly
    ? ['--appendonly', 'yes', '--appendfsync', 'always', '--dir', mkdtempSync('/tmp/herald-redis-')]
    : [];
  const redis = await startPrivateRedis(port, [...persistence, ...(options.extraArgs ?? [])]);
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    kind: 'process',
    kill: () => redis.kill(),
    start: () => redis.start(),
    stop: () => redis.stop(),
  };
}

function docker(...args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile('docker', args, (error) => (error ? reject(error) : resolve()));
  });
}

async function waitForPing(port: number, password?: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const probe = new Redis({
      port,
      host: '127.0.0.1',
      lazyConnect: true,
      retryStrategy: () => null,
      maxRetriesPerRequest: 0,
      ...(password === undefined ? {} : { password }),
    });
    probe.on('error', () => {});
    const ok = await probe
      .connect()
      .then(() => probe.ping())
      .then(
        () => true,
        () => false,
      );
    probe.disconnect();
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`Redis on ${port} did not come back`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
