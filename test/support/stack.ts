import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startStack, type Stack } from '../../scripts/stack/stack.ts';
import { freePort } from './free-port.ts';
import { redisEnv } from './redis-target.ts';

export interface StackReplica {
  readonly name: string;
  /** The replica itself, bypassing nginx. */
  readonly url: string;
  /** SIGKILL by default; resolves once it has exited. */
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** Brings it back on the same port and waits until it is ready. */
  start(): Promise<void>;
}

export interface TestStack {
  /** nginx: every request of a test goes through the load balancer. */
  readonly url: string;
  /** nginx over HTTP/2 and TLS (self-signed for localhost). */
  readonly tlsUrl: string;
  /** nginx's operations listener: /metrics, /readyz and /admin (its public port refuses them). */
  readonly opsUrl: string;
  readonly replicas: readonly StackReplica[];
  readonly stack: Stack;
  stop(): Promise<void>;
}

export interface TestStackOptions {
  /** The processes' Redis; by default the run's (test/support/redis-target.ts). */
  readonly redis?: Record<string, string>;
  readonly apiReplicas?: number;
  readonly workers?: number;
  readonly env?: Record<string, string>;
}

/**
 * `npm run stack`'s topology on free ports: real processes behind Debian's nginx running
 * deploy/nginx/nginx.conf. Process logs go to files in a temp dir (printed if start-up fails).
 */
export async function startTestStack(options: TestStackOptions): Promise<TestStack> {
  const apiReplicas = options.apiReplicas ?? 3;
  const workers = options.workers ?? 2;
  const ports = async (n: number): Promise<number[]> => Promise.all(Array.from({ length: n }, () => freePort()));
  const runtimeDir = mkdtempSync(join(tmpdir(), 'herald-test-stack-'));
  const stack = await startStack({
    apiReplicas,
    workers,
    port: await freePort(),
    tlsPort: await freePort(),
    opsPort: await freePort(),
    apiPorts: await ports(apiReplicas),
    workerMetricsPorts: await ports(workers),
    redis: options.redis ?? redisEnv(),
    env: { LOG_LEVEL: process.env.HERALD_TEST_LOG_LEVEL ?? 'warn', JOB_BACKOFF_MS: '50', ...options.env },
    runtimeDir,
    output: 'files',
  }).catch((error: unknown) => {
    throw new Error(`stack did not start (logs in ${runtimeDir}): ${error instanceof Error ? error.message : String(error)}`);
  });
  return { url: stack.url, tlsUrl: stack.tlsUrl, opsUrl: stack.opsUrl, replicas: stack.apis, stack, stop: () => stack.stop() };
}

async function watchers(replica: StackReplica): Promise<number> {
  const text = await fetch(`${replica.url}/metrics`).then(
    (r) => (r.ok ? r.text() : ''),
    () => '',
  );
  const line = /^herald_sse_watchers(?:\{[^}]*\})? (\d+)/m.exec(text);
  return line ? Number(line[1]) : 0;
}

/** The replica whose /metrics shows an SSE watcher (polls until exactly one does). */
export async function findServingReplica(stack: TestStack, timeoutMs = 10_000): Promise<StackReplica> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const counts = await Promise.all(stack.replicas.map(watchers));
    const serving = stack.replicas.filter((_, i) => (counts[i] ?? 0) > 0);
    if (serving.length === 1 && serving[0]) return serving[0];
    if (Date.now() > deadline) throw new Error(`expected one replica with a watcher, saw ${JSON.stringify(counts)}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
