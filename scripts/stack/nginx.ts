import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { appendFileSync, chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ensureLocalCert } from '../tls/local-cert.ts';

/** The load balancer's config: the very file docker-compose mounts. */
export const NGINX_CONFIG = new URL('../../deploy/nginx/nginx.conf', import.meta.url).pathname;

export interface NginxLayout {
  readonly listenPort: number;
  /** HTTP/2 over TLS, with the certificate in `tlsDir` (cert.pem, key.pem). */
  readonly tlsPort: number;
  readonly tlsDir: string;
  /** The operations listener (/metrics, /readyz, /admin), on loopback like the rest. */
  readonly opsPort: number;
  readonly upstreamPorts: readonly number[];
  /** Where pid, temp files and the access log go (per stack, so several can run at once). */
  readonly runtimeDir: string;
}

/**
 * Rewrites only the lines the compose config marks `# stack:` — ports and runtime paths —
 * so everything that makes SSE work through the proxy is exactly what production runs.
 */
export function renderNginxConfig(source: string, layout: NginxLayout): string {
  const lines = source.split('\n');
  const out: string[] = [];
  let upstreamWritten = false;
  for (const line of lines) {
    const mark = /# stack: ([a-z-]+)\s*$/.exec(line)?.[1];
    const indent = /^\s*/.exec(line)?.[0] ?? '';
    if (mark === undefined) out.push(line);
    else if (mark === 'runtime') out.push(line.replaceAll('/tmp/herald-nginx', join(layout.runtimeDir, 'nginx')));
    else if (mark === 'access-log') out.push(`${indent}access_log ${join(layout.runtimeDir, 'nginx-access.log')} herald; # stack: ${mark}`);
    else if (mark === 'listen') out.push(`${indent}listen 127.0.0.1:${layout.listenPort}; # stack: ${mark}`);
    else if (mark === 'listen-tls') out.push(`${indent}listen 127.0.0.1:${layout.tlsPort} ssl http2; # stack: ${mark}`);
    else if (mark === 'listen-ops') out.push(`${indent}listen 127.0.0.1:${layout.opsPort}; # stack: ${mark}`);
    else if (mark === 'tls') out.push(line.replace('/etc/herald/tls', layout.tlsDir));
    else if (mark === 'upstream') {
      if (upstreamWritten) continue;
      upstreamWritten = true;
      const rest = line.trim().replace(/^server \S+ /, '');
      for (const port of layout.upstreamPorts) out.push(`${indent}server 127.0.0.1:${port} ${rest}`);
    } else throw new Error(`unknown "# stack:" mark in ${NGINX_CONFIG}: ${mark}`);
  }
  return out.join('\n');
}

export interface RunningNginx {
  readonly process: ChildProcess;
  stop(): Promise<void>;
}

/**
 * Debian's nginx in the foreground, as a child of this process, on the rendered config, with a
 * self-signed certificate for its TLS port unless `tlsDir` holds one. Its error log goes to
 * this terminal, or to `errorLog` when given.
 */
export async function startNginx(layout: NginxLayout, errorLog?: string, binary = 'nginx'): Promise<RunningNginx> {
  mkdirSync(layout.runtimeDir, { recursive: true });
  // Started as root, nginx's workers run as nobody: they must get through to their temp files
  // (a request body over HTTP/2 goes there), though not list or read the rest.
  chmodSync(layout.runtimeDir, 0o711);
  ensureLocalCert(layout.tlsDir);
  const configPath = join(layout.runtimeDir, 'nginx.conf');
  writeFileSync(configPath, renderNginxConfig(readFileSync(NGINX_CONFIG, 'utf8'), layout));
  const child = spawn(binary, ['-p', layout.runtimeDir, '-c', configPath, '-g', 'daemon off;'], {
    stdio: ['ignore', 'inherit', 'pipe'],
  });
  let errors = '';
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    errors = (errors + chunk).slice(-4096); // only read to explain a failed start
    if (errorLog) appendFileSync(errorLog, chunk);
    else process.stderr.write(chunk);
  });
  const spawned = once(child, 'spawn').then(
    () => null,
    (error: Error) => error,
  );
  const failure = await spawned;
  if (failure) throw new Error(`cannot run ${binary} (apt-get install nginx): ${failure.message}`);
  await waitForListen(layout.listenPort, child, () => errors);
  return {
    process: child,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = once(child, 'exit');
      child.kill('SIGQUIT'); // graceful: open streams are cut, which clients treat as a drop
      const timer = setTimeout(() => child.kill('SIGKILL'), 3_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

async function waitForListen(port: number, child: ChildProcess, errors: () => string): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`nginx exited with ${child.exitCode}: ${errors()}`);
    const up = await fetch(`http://127.0.0.1:${port}/`, { method: 'HEAD' }).then(
      () => true,
      () => false,
    );
    if (up) return;
    if (Date.now() > deadline) throw new Error(`nginx did not listen on ${port}: ${errors()}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
