import { fork, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';

/** Starts one of the load processes (bench/load/*.ts), with an IPC channel to report back. */
export const forkLoad = (file: string): ChildProcess =>
  fork(new URL(`../load/${file}`, import.meta.url), {
    execArgv: ['--disable-warning=ExperimentalWarning'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });

/** The next IPC message of `type` from a load process; rejects after `timeoutMs`. */
export function nextMessage<T>(process: ChildProcess, type: string, timeoutMs: number): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      process.off('message', onMessage);
      reject(new Error(`timed out waiting for ${type}`));
    }, timeoutMs);
    const onMessage = (message: { type: string }): void => {
      if (message.type !== type) return;
      clearTimeout(timer);
      process.off('message', onMessage);
      resolve(message as T);
    };
    process.on('message', onMessage);
  });
}

/** SIGTERMs each server process still running and waits for every one to exit. */
export async function stopProcesses(children: readonly ChildProcess[]): Promise<void> {
  await Promise.all(
    children.map(async (child) => {
      if (child.exitCode !== null) return;
      const exited = once(child, 'exit');
      child.kill('SIGTERM');
      await exited;
    }),
  );
}
