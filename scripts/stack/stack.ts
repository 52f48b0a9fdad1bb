import { mkdirSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { startNginx, type RunningNginx } from './nginx.ts';
import { startService, type ServiceProcess } from './processes.ts';

export interface StackOptions {
  readonly apiReplicas: number;
  readonly workers: number;
  /** nginx listens here; replicas take the ports after it, workers' metrics the ones after those. */
  readonly port: number;
  /** nginx's HTTP/2 over TLS port (a self-signed certificate for localhost, made in runtimeDir). */
  readonly tlsPort: number;
  /** nginx's operations listener: /metrics, /readyz and /admin, which its public port refuses. */
  readonly opsPort: number;
  readonly apiPorts: readonly number[];
  readonly workerMetricsPorts: readonly number[];
  /** What points every process at Redis: REDIS_URL, or REDIS_CLUSTER_NODES (and REDIS_PASSWORD), or REDIS_SENTINELS…. */
  readonly redis: Record<string, string>;
  /** Extra environment for every API replica and worker (e.g. STAGE_DELAY_MS). */
  readonly env?: Record<string, string>;
  readonly runtimeDir: string;
  /** 'inherit': every process logs to this terminal; 'files': to <runtimeDir>/<name>.log. */
  readonly output: 'inherit' | 'files';
}

export interface Stack {
  /** The load balancer: what users and browsers talk to. */
  readonly url: string;
  /** The same over HTTP/2 and TLS: https://localhost:<tlsPort>. */
  readonly tlsUrl: string;
  /** nginx's operations listener: /metrics, /readyz, /admin. */
  readonly opsUrl: string;
  readonly apis: readonly (ServiceProcess & { readonly url: string })[];
  readonly workers: readonly (ServiceProcess & { readonly metricsUrl: string })[];
  stop(): Promise<void>;
}

/**
 * The production topology on loopback, from the checkout: API replicas and workers as their
 * own processes (the same entry points the containers run), behind Debian's nginx running the
 * compose file's config. Used by `npm run stack` and by the browser tests.
 */
export async function startStack(options: StackOptions): Promise<Stack> {
  if (options.apiPorts.length !== options.apiReplicas || options.workerMetricsPorts.length !== options.workers) {
    throw new Error('one port per API replica and per worker');
  }
  const ports = [options.port, options.tlsPort, options.opsPort, ...options.apiPorts, ...options.workerMetricsPorts];
  const twice = ports.filter((port, i) => ports.indexOf(port) !== i);
  if (twice.length > 0) throw new Error(`port ${twice.join(', ')} given to two processes (move --port or --metrics-port)`);
  await assertPortsFree(ports);
  mkdirSync(options.runtimeDir, { recursive: true });
  const output = (name: string): string => (options.output === 'inherit' ? 'inherit' : join(options.runtimeDir, `${name}.log`));
  // nginx runs on this host: its X-Forwarded-For is the one the replicas believe.
  const base = { ...options.redis, HOST: '127.0.0.1', TRUSTED_PROXIES: 'loopback', ...options.env };

  const started: ServiceProcess[] = [];
  let nginx: RunningNginx | undefined;
  const stopAll = async (): Promise<void> => {
    await nginx?.stop();
    await Promise.all(started.map((service) => service.stop()));
  };
  try {
    const workers = [];
    for (const [i, port] of options.workerMetricsPorts.entries()) {
      const name = `worker-${i + 1}`;
      const metricsUrl = `http://127.0.0.1:${port}`;
      const service = await startService({
        name,
        entry: 'apps/worker/src/main.ts',
        env: { ...base, METRICS_PORT: String(port) },
        readyUrl: `${metricsUrl}/healthz`,
        output: output(name),
      });
      started.push(service);
      workers.push(Object.assign(service, { metricsUrl }));
    }
    const apis = [];
    for (const [i, port] of options.apiPorts.entries()) {
      const name = `api-${i + 1}`;
      const url = `http://127.0.0.1:${port}`;
      const service = await startService({
        name,
        entry: 'apps/api/src/main.ts',
        nodeArgs: ['--max-semi-space-size=8'],
        env: { ...base, PORT: String(port) },
        readyUrl: `${url}/readyz`,
        output: output(name),
      });
      started.push(service);
      apis.push(Object.assign(service, { url }));
    }
    nginx = await startNginx(
      {
        listenPort: options.port,
        tlsPort: options.tlsPort,
        opsPort: options.opsPort,
        tlsDir: join(options.runtimeDir, 'tls'),
        upstreamPorts: options.apiPorts,
        runtimeDir: options.runtimeDir,
      },
      options.output === 'files' ? join(options.runtimeDir, 'nginx-error.log') : undefined,
    );
    return {
      url: `http://127.0.0.1:${options.port}`,
      tlsUrl: `https://localhost:${options.tlsPort}`,
      opsUrl: `http://127.0.0.1:${options.opsPort}`,
      apis,
      workers,
      stop: stopAll,
    };
  } catch (error) {
    await stopAll();
    throw error;
  }
}

/** Fails fast and by name: otherwise a busy port shows up as a confusing half-started stack. */
async function assertPortsFree(ports: readonly number[]): Promise<void> {
  const busy: number[] = [];
  for (const port of ports) {
    const server = createServer();
    const free = await new Promise<boolean>((resolve) => {
      server.once('error', () => resolve(false));
      server.listen(port, '127.0.0.1', () => resolve(true));
    });
    if (free) await new Promise((resolve) => server.close(resolve));
    else busy.push(port);
  }
  if (busy.length > 0) throw new Error(`ports already in use: ${busy.join(', ')} (choose others with --port)`);
}
