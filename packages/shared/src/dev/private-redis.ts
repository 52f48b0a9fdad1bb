import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface PrivateRedis {
  readonly port: number;
  readonly pid: number;
  /** Kills it (SIGKILL), as a crash would. */
  kill(): Promise<void>;
  /** Starts it again after kill(), with the same arguments on the same port. */
  start(): Promise<void>;
  stop(): Promise<void>;
}

const READY = 'Ready to accept connections';

async function launch(args: readonly string[]): Promise<ChildProcess> {
  const child = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'inherit'] });
  let output = '';
  const collect = (chunk: string): void => {
    output += chunk;
  };
  child.stdout?.setEncoding('utf8').on('data', collect);
  const deadline = Date.now() + 10_000;
  while (!output.includes(READY)) {
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`redis-server did not start:\n${output}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  child.stdout?.off('data', collect);
  child.stdout?.resume();
  return child;
}

/**
 * A redis-server child process on 127.0.0.1 (for `npm start` on a bare machine, tests without
 * Docker, and the benchmark). In memory only unless `extraArgs` turn persistence on. Its files go
 * to a directory of its own: a replica's full sync writes dump.rdb even without persistence, and
 * in the working directory every later redis-server would load it.
 */
export async function startPrivateRedis(port: number, extraArgs: readonly string[] = []): Promise<PrivateRedis> {
  const dir = mkdtempSync(join(tmpdir(), 'herald-redis-'));
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, ...extraArgs];
  let child = await launch(args);
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = once(child, 'exit');
      child.kill('SIGTERM');
      await exited;
    }
    rmSync(dir, { recursive: true, force: true });
  };
  return {
    port,
    get pid() {
      return child.pid ?? 0;
    },
    kill: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = once(child, 'exit');
      child.kill('SIGKILL');
      await exited;
    },
    start: async () => {
      mkdirSync(dir, { recursive: true }); // gone if it was stopped rather than killed
      child = await launch(args);
    },
    stop,
  };
}
