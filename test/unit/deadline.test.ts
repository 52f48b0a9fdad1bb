import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';

// scripts/deadline.ts, the wall-clock guard `npm test` runs under (package.json).

const SCRIPT = new URL('../../scripts/deadline.ts', import.meta.url).pathname;

const run = (seconds: string, ...args: string[]): Promise<{ code: number | null; stderr: string; ms: number }> =>
  new Promise((resolve) => {
    const started = Date.now();
    const child = spawn(process.execPath, ['--disable-warning=ExperimentalWarning', SCRIPT, seconds, ...args]);
    let stderr = '';
    child.stderr.on('data', (chunk) => {
      stderr += chunk;
    });
    child.on('exit', (code) => resolve({ code, stderr, ms: Date.now() - started }));
  });

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe('the test run’s deadline', () => {
  it('stops a run that outlives it, and all it started, with exit 124 and a message saying why', async () => {
    // The program starts a grandchild that would outlive it (as vitest's workers and spawned replicas would).
    const program =
      "const c=require('node:child_process').spawn(process.execPath,['-e','setInterval(()=>{},1000)']);" +
      "console.error('grandchild '+c.pid);setInterval(()=>{},1000)";
    const { code, stderr, ms } = await run('1', '-e', program);
    expect(code).toBe(124);
    expect(stderr).toContain('[deadline] still running after 1 s');
    expect(ms).toBeLessThan(10_000);
    const grandchild = Number(/grandchild (\d+)/.exec(stderr)?.[1]);
    expect(grandchild).toBeGreaterThan(0);
    await expect.poll(() => alive(grandchild), { timeout: 2_000 }).toBe(false);
  });

  it('passes on the exit code of a run that ends in time, and says nothing', async () => {
    const { code, stderr } = await run('30', '-e', 'process.exit(3)');
    expect(code).toBe(3);
    expect(stderr).not.toContain('[deadline]');
  });

  it('refuses a deadline that is not a positive number', async () => {
    const { code, stderr } = await run('soon', '-e', '0');
    expect(code).toBe(2);
    expect(stderr).toContain('usage:');
  });
});
