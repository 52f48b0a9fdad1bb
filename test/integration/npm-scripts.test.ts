import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { waitForOk } from '../support/child.ts';
import { freePort } from '../support/free-port.ts';
import { redisEnv } from '../support/redis-target.ts';

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
