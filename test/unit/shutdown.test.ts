import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';

// onShutdownSignal (packages/shared/src/process/shutdown.ts), what every Herald process stops
// with, in a process of its own: docs/api.md, SHUTDOWN_GRACE_MS (0 once stopped; a stop given
// up after its deadline exits 1; a second signal exits 1 at once).

const ROOT = new URL('../../', import.meta.url).pathname;
const SHUTDOWN = new URL('../../packages/shared/src/process/shutdown.ts', import.meta.url).href;

/** A process whose stop takes `stopMs` (never, if null), given up after `deadlineMs`. */
function stopping(stopMs: number | null, deadlineMs: number) {
  const program = `
    import { pino } from 'pino';
    import { onShutdownSignal } from ${JSON.stringify(SHUTDOWN)};
    const stop = () => new Promise((resolve) => { ${stopMs === null ? '' : `setTimeout(resolve, ${stopMs});`} });
    onShutdownSignal(pino(), stop, ${deadlineMs});
    setInterval(() => {}, 1000);
    console.error('ready');`;
  const child = spawn(process.execPath, ['--disable-warning=ExperimentalWarning', '--input-type=module', '-e', program], { cwd: ROOT });
  let output = '';
  child.stdout.on('data', (chunk) => {
    output += chunk;
  });
  const ready = new Promise<void>((resolve) => child.stderr.on('data', (chunk) => String(chunk).includes('ready') && resolve()));
  let signalledAt = 0;
  const signal = (name: NodeJS.Signals): void => {
    signalledAt ||= Date.now();
    child.kill(name);
  };
  /** The exit code, and how long after the first signal it came. */
  const exited = new Promise<{ code: number | null; ms: number }>((resolve) =>
    child.on('exit', (code) => resolve({ code, ms: Date.now() - signalledAt })),
  );
  return { signal, ready, exited, output: () => output };
}

describe('onShutdownSignal', () => {
  it('exits 0 once the stop has finished', async () => {
    const run = stopping(100, 5_000);
    await run.ready;
    run.signal('SIGTERM');
    const { code, ms } = await run.exited;
    expect(code).toBe(0);
    expect(ms).toBeGreaterThanOrEqual(90);
    expect(run.output()).toContain('"msg":"shutting down"');
    expect(run.output()).not.toContain('stopping took too long');
  });

  it('gives up a stop that outlasts its deadline: exit 1, and says so', async () => {
    const run = stopping(null, 300);
    await run.ready;
    run.signal('SIGTERM');
    const { code, ms } = await run.exited;
    expect(code).toBe(1);
    expect(ms).toBeGreaterThanOrEqual(290);
    expect(ms).toBeLessThan(5_000);
    expect(run.output()).toContain('"msg":"stopping took too long; exiting without finishing"');
  });

  it('exits 1 at once on a second signal', async () => {
    const run = stopping(null, 60_000);
    await run.ready;
    run.signal('SIGTERM');
    await expect.poll(run.output).toContain('"msg":"shutting down"');
    run.signal('SIGINT');
    const { code } = await run.exited;
    expect(code).toBe(1);
    expect(run.output()).toContain('"msg":"second signal: exiting now"');
  });
});
