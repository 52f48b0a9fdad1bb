import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readdirSync, readFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { Cluster, Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { keys } from '@herald/shared';
import { waitForOk } from '../support/child.ts';
import { freePort } from '../support/free-port.ts';
import { submit } from '../support/http.ts';
import { redisEnv } from '../support/redis-target.ts';
import { canRun } from '../support/requirements.ts';
import { SseClient } from '../support/sse-client.ts';
import { BEES } from '../support/texts.ts';

// The README's commands as a process manager runs them: `npm start` (and the split commands),
// then SIGTERM to npm. The signal must reach the server, which drains and exits: nothing may be
// left running once npm has gone.

const root = new URL('../../', import.meta.url).pathname;

/** Every process descended from `pid`, read from /proc. */
function descendants(pid: number): number[] {
  const parents = new Map<number, number[]>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
    } catch {
      continue; // gone meanwhile
    }
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    parents.set(ppid, [...(parents.get(ppid) ?? []), Number(entry)]);
  }
  const found: number[] = [];
  const walk = (parent: number): void => {
    for (const child of parents.get(parent) ?? []) {
      found.push(child);
      walk(child);
    }
  };
  walk(pid);
  return found;
}

const alive = (pid: number): boolean => {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
};

async function waitUntil(check: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return true;
}

describe('the npm scripts, stopped with SIGTERM sent to npm (what a process manager does)', () => {
  // The line each logs once it is up (the worker's /healthz answers earlier, while it connects).
  for (const [script, health, up] of [
    ['start', 'PORT', 'Herald is up'],
    ['start:api', 'PORT', 'api listening'],
    ['start:worker', 'METRICS_PORT', 'worker started'],
  ] as const) {
    it(`npm run ${script}: the server gets the signal, drains and exits, and nothing is left behind`, async () => {
      const ports = { PORT: String(await freePort()), METRICS_PORT: String(await freePort()) };
      const npm = spawn('npm', ['run', '-s', script], {
        cwd: root,
        env: { ...process.env, ...ports, ...redisEnv(), HOST: '127.0.0.1', LOG_LEVEL: 'info', SHUTDOWN_GRACE_MS: '5000' },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let output = '';
      npm.stdout.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
      npm.stderr.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
      const npmExited = once(npm, 'exit');
      try {
        await waitForOk(`http://127.0.0.1:${ports[health]}/healthz`, 30_000);
        expect(await waitUntil(() => output.includes(`"msg":"${up}`), 15_000), output).toBe(true);
        const running = descendants(npm.pid!);
        expect(running.length).toBeGreaterThan(0);

        npm.kill('SIGTERM');
        await npmExited;
        const leftOver = () => running.filter(alive);
        expect(await waitUntil(() => leftOver().length === 0, 10_000), `still running: ${leftOver().join(', ')}\n${output}`).toBe(true);
        // It drained rather than dying: the server said so on its way out.
        expect(output).toMatch(/"msg":"shutting down"/);
        expect(output).toMatch(/"msg":"(api|worker) stopped"/);
      } finally {
        for (const pid of descendants(npm.pid!)) process.kill(pid, 'SIGKILL');
        npm.kill('SIGKILL');
      }
    }, 60_000);
  }

  it('npm start says first which Redis it is using', async () => {
    const port = String(await freePort());
    const npm = spawn('npm', ['start', '-s'], {
      cwd: root,
      env: { ...process.env, PORT: port, ...redisEnv(), HOST: '127.0.0.1', LOG_LEVEL: 'info' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    npm.stdout.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
    try {
      await waitForOk(`http://127.0.0.1:${port}/healthz`, 30_000);
      const first = JSON.parse(output.split('\n')[0]!) as { msg: string; redis: string };
      expect(first.msg).toBe(`using the Redis at ${redisEnv().REDIS_URL} (REDIS_URL)`);
      expect(first.redis).toBe(redisEnv().REDIS_URL);
    } finally {
      npm.kill('SIGTERM');
      await once(npm, 'exit');
    }
  }, 60_000);
});

/** The environment without any Redis setting: what a bare machine's shell has. */
const withoutRedis = (): Record<string, string | undefined> =>
  Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('REDIS_')));

/** Whether something accepts connections on 127.0.0.1:`port`. */
const listening = (port: number): Promise<boolean> =>
  new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });

const bindable = (port: number): Promise<boolean> =>
  new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });

/** `n` consecutive ports free on 127.0.0.1, and (a Redis Cluster's bus) the same `n` 10000 above them. */
async function freeRange(n: number, withBus = false): Promise<number> {
  for (;;) {
    const base = 20_000 + Math.floor(Math.random() * 30_000);
    const ports = Array.from({ length: n }, (_, i) => base + i);
    const all = withBus ? [...ports, ...ports.map((port) => port + 10_000)] : ports;
    if ((await Promise.all(all.map(bindable))).every(Boolean)) return base;
  }
}

/** Spawns an npm script with its output collected; `stop` sends npm SIGTERM and waits until every process under it has gone. */
function runScript(
  args: string[],
  env: Record<string, string | undefined>,
): { npm: ChildProcess; output: () => string; stop(): Promise<void> } {
  const npm = spawn('npm', args, { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  npm.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
  npm.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
  const exited = once(npm, 'exit');
  return {
    npm,
    output: () => output,
    async stop() {
      const running = descendants(npm.pid!);
      npm.kill('SIGTERM');
      try {
        await exited;
        const leftOver = () => running.filter(alive);
        expect(await waitUntil(() => leftOver().length === 0, 20_000), `still running: ${leftOver().join(', ')}\n${output}`).toBe(true);
      } finally {
        // Whatever is left, even what outlived npm (no longer its descendant), is killed.
        for (const pid of new Set([...running.filter(alive), ...descendants(npm.pid!)])) process.kill(pid, 'SIGKILL');
        npm.kill('SIGKILL');
      }
    },
  };
}

/** Submits a job through `url` and watches it there to its end. */
async function runJob(url: string): Promise<string> {
  const { status, body } = await submit(url, BEES);
  expect(status).toBe(202);
  const watcher = await SseClient.open(`${url}/v1/jobs/${body.jobId}/events`).finished(20_000);
  expect(watcher.events.at(-1)!.json.status).toBe('done');
  return body.jobId as string;
}

const haveRedisServer = spawnSync('redis-server', ['--version'], { stdio: 'ignore' }).status === 0;
const haveNginx = spawnSync('nginx', ['-v'], { stdio: 'ignore' }).status === 0;

describe('the npm scripts that start their own Redis', () => {
  it.runIf(canRun('npm start with its own Redis', [!haveRedisServer && 'no redis-server on the PATH']))(
    'npm start with nothing at REDIS_URL starts a private redis-server, runs jobs on it, and stops it on SIGTERM',
    async () => {
      const [port, redisPort] = [await freePort(), await freePort()];
      const redisUrl = `redis://127.0.0.1:${redisPort}`;
      expect(await listening(redisPort)).toBe(false);
      const script = runScript(['start', '-s'], {
        ...withoutRedis(),
        PORT: String(port),
        REDIS_URL: redisUrl,
        HOST: '127.0.0.1',
        LOG_LEVEL: 'info',
        STAGE_DELAY_MS: '0',
      });
      try {
        await waitForOk(`http://127.0.0.1:${port}/healthz`, 30_000);
        // The first thing it says: the Redis it started, and that process is its own.
        const first = JSON.parse(script.output().split('\n')[0]!) as { msg: string; port: number; pid: number };
        expect(first.msg).toBe(
          `nothing answered at ${redisUrl}: started a private redis-server on port ${redisPort} (data kept in memory only, gone when Herald stops)`,
        );
        expect(descendants(script.npm.pid!)).toContain(first.pid);
        const jobId = await runJob(`http://127.0.0.1:${port}`);
        // The job is in that Redis.
        const redis = new Redis(redisPort, '127.0.0.1', { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
        try {
          expect(await redis.exists(keys.events(jobId))).toBe(1);
        } finally {
          redis.disconnect();
        }
        await script.stop();
        expect(alive(first.pid)).toBe(false);
        expect(await listening(redisPort)).toBe(false);
      } finally {
        await script.stop();
      }
    },
    60_000,
  );

  it.runIf(
    canRun('npm run stack -- --redis cluster', [!haveRedisServer && 'no redis-server on the PATH', !haveNginx && 'no nginx on the PATH']),
  )(
    'npm run stack -- --redis cluster: a private Redis Cluster (3 masters, a replica each) under the stack; jobs run through nginx; SIGTERM stops everything',
    async () => {
      const port = await freeRange(2); // nginx, then the one replica
      const redisPort = await freeRange(6, true);
      const script = runScript(
        [
          'run',
          '-s',
          'stack',
          '--',
          '--redis',
          'cluster',
          '--redis-port',
          String(redisPort),
          '--apis',
          '1',
          '--workers',
          '1',
          '--port',
          String(port),
          '--tls-port',
          String(await freePort()),
          '--ops-port',
          String(await freePort()),
          '--metrics-port',
          String(await freePort()),
        ],
        { ...withoutRedis(), LOG_LEVEL: 'warn', STAGE_DELAY_MS: '0' },
      );
      try {
        expect(await waitUntil(() => script.output().includes('Herald stack is up'), 60_000), script.output()).toBe(true);
        const info = await new Promise<string>((resolve, reject) => {
          const redis = new Redis(redisPort, '127.0.0.1', { maxRetriesPerRequest: 0, retryStrategy: () => null });
          redis.on('error', reject);
          redis
            .call('CLUSTER', 'INFO')
            .then((text) => resolve(String(text)), reject)
            .finally(() => redis.disconnect());
        });
        expect(info).toContain('cluster_state:ok');
        expect(info).toContain('cluster_known_nodes:6');
        expect(info).toContain('cluster_size:3');
        const jobId = await runJob(`http://127.0.0.1:${port}`);
        const cluster = new Cluster([{ host: '127.0.0.1', port: redisPort }], { lazyConnect: true });
        cluster.on('error', () => {});
        try {
          expect(await cluster.exists(keys.events(jobId))).toBe(1);
        } finally {
          cluster.disconnect();
        }
        await script.stop();
        for (let i = 0; i < 6; i += 1) expect(await listening(redisPort + i)).toBe(false);
        expect(await listening(port)).toBe(false);
      } finally {
        await script.stop();
      }
    },
    120_000,
  );
});
