import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { openSync } from 'node:fs';

const ROOT = new URL('../../', import.meta.url).pathname;

export interface ServiceSpec {
  readonly name: string;
  /** Entry point relative to the checkout, e.g. apps/api/src/main.ts. */
  readonly entry: string;
  readonly nodeArgs?: readonly string[];
  readonly env: Record<string, string>;
  /** Answers 200 once the process is ready to serve. */
  readonly readyUrl: string;
  /** 'inherit' prints to this terminal; a path appends to that file. */
  readonly output: 'inherit' | string;
}

/** One of the stack's Node processes; it can be killed and brought back on the same port. */
export interface ServiceProcess {
  readonly name: string;
  readonly pid: number;
  readonly running: boolean;
  /** SIGKILL by default — a crash; resolves when the process has exited. */
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** Starts it again (after kill) and waits until it is ready. */
  start(): Promise<void>;
  /** SIGTERM, as an orchestrator stops it: it drains, then exits. */
  stop(): Promise<void>;
}

export async function startService(spec: ServiceSpec): Promise<ServiceProcess> {
  let child = await launch(spec);
  const alive = (): boolean => child.exitCode === null && child.signalCode === null;
  const signal = async (name: NodeJS.Signals): Promise<void> => {
    if (!alive()) return;
    const exited = once(child, 'exit');
    child.kill(name);
    await exited;
  };
  return {
    name: spec.name,
    get pid() {
      return child.pid ?? 0;
    },
    get running() {
      return alive();
    },
    kill: (name = 'SIGKILL') => signal(name),
    async start() {
      if (alive()) throw new Error(`${spec.name} is already running`);
      child = await launch(spec);
    },
    stop: () => signal('SIGTERM'),
  };
}

async function launch(spec: ServiceSpec): Promise<ChildProcess> {
  const out = spec.output === 'inherit' ? 'inherit' : openSync(spec.output, 'a');
  const child = spawn(process.execPath, ['--disable-warning=ExperimentalWarning', ...(spec.nodeArgs ?? []), spec.entry], {
    cwd: ROOT,
    env: { ...process.env, ...spec.env },
    stdio: ['ignore', out, out],
  });
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${spec.name} exited with ${child.exitCode} while starting`);
    if (
      await fetch(spec.readyUrl).then(
        (r) => r.ok,
        () => false,
      )
    )
      return child;
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`${spec.name} was not ready at ${spec.readyUrl} within 20 s`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
