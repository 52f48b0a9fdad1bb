// Runs a node program under a wall-clock deadline: `node scripts/deadline.ts <seconds> <args…>`
// runs `node <args…>` and, if it is still running after <seconds>, stops it and everything it
// started (its process group: vitest's workers, the replicas and workers the tests spawned) and
// exits 124, as timeout(1) does. `npm test` runs under it, at half CI's 90-minute limit, so a
// regression that turns failures into time-outs fails fast with a clear message instead of
// running until CI kills it without one.
import { spawn } from 'node:child_process';

const [secondsArg, ...args] = process.argv.slice(2);
const seconds = Number(secondsArg);
if (!Number.isFinite(seconds) || seconds <= 0 || args.length === 0) {
  console.error('usage: node scripts/deadline.ts <seconds> <node arguments…>');
  process.exit(2);
}

// detached: the child leads a process group of its own, which a signal to -pid reaches whole.
const child = spawn(process.execPath, [...process.execArgv, ...args], { stdio: 'inherit', detached: true });
const signalGroup = (signal: NodeJS.Signals): void => {
  try {
    process.kill(-(child.pid as number), signal);
  } catch {
    // the group is gone already
  }
};

let expired = false;
const deadline = setTimeout(() => {
  expired = true;
  const minutes = Math.round((seconds / 60) * 10) / 10;
  console.error(
    `\n[deadline] still running after ${seconds} s (${minutes} min): stopped. A run this long means tests are timing out ` +
      'rather than failing; run the slowest files alone to see which.',
  );
  signalGroup('SIGTERM');
  // What ignores SIGTERM for 10 s is killed.
  setTimeout(() => signalGroup('SIGKILL'), 10_000).unref();
}, seconds * 1000);

// Ctrl-C or a CI cancel reaches the whole group too, not only this process.
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => signalGroup(signal));

child.on('exit', (code, signal) => {
  clearTimeout(deadline);
  if (expired) {
    signalGroup('SIGKILL'); // what the leader left behind
    process.exit(124);
  }
  process.exit(code ?? (signal ? 128 + (signal === 'SIGKILL' ? 9 : signal === 'SIGINT' ? 2 : 15) : 1));
});
