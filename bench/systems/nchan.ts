import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import {
  accessSync,
  chmodSync,
  constants,
  createWriteStream,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  writeFileSync,
} from 'node:fs';
import { request } from 'node:http';
import { connect } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** nginx + Nchan (Redis-backed), started on loopback for the benchmark. */
export interface NchanSystem {
  /** SSE URL of a channel: GET with `Accept: text/event-stream`. */
  readonly subUrl: (chan: string) => string;
  /** Publish URL of a channel: POST the message as the body. */
  readonly pubUrl: (chan: string) => string;
  readonly redisUrl: string;
  /** nginx master + workers, for CPU/RSS sampling (not the Redis server). */
  readonly pids: () => number[];
  stop(): Promise<void>;
}

export interface NchanOptions {
  readonly httpPort: number;
  readonly redisPort: number;
  /** An existing, empty directory (e.g. from mkdtemp under os.tmpdir()); it becomes nginx's prefix. */
  readonly workDir: string;
  /** nginx worker processes, as Herald has API replicas: each may hold up to 19,000 connections. */
  readonly workers: number;
}

const NCHAN_MODULE = '/usr/lib/nginx/modules/ngx_nchan_module.so';
const TEMPLATE = fileURLToPath(new URL('./nginx-nchan.conf.template', import.meta.url));
const INSTALL_HINT = 'apt-get install -y nginx libnginx-mod-nchan';
const STARTUP_TIMEOUT_MS = 15_000;
const STOP_GRACE_MS = 5_000;

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

function findExecutable(name: string): string | undefined {
  const dirs = [...(process.env.PATH ?? '').split(path.delimiter), '/usr/sbin', '/usr/bin', '/sbin', '/usr/local/sbin'];
  for (const dir of dirs) {
    if (!dir) continue;
    const candidate = path.join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

/** True when the nginx binary and the Nchan dynamic module are installed. */
export function nchanAvailable(): boolean {
  return findExecutable('nginx') !== undefined && existsSync(NCHAN_MODULE);
}

/** Parent pid and command name from /proc/<pid>/stat, or undefined if the process is gone. */
function procStat(pid: number): { ppid: number; comm: string } | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const open = stat.indexOf('(');
    const close = stat.lastIndexOf(')');
    const rest = stat.slice(close + 2).split(' ');
    return { comm: stat.slice(open + 1, close), ppid: Number(rest[1]) };
  } catch {
    return undefined;
  }
}

function cmdline(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ').trim();
  } catch {
    return '';
  }
}

function childrenOf(parent: number): number[] {
  const children: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    if (procStat(pid)?.ppid === parent) children.push(pid);
  }
  return children.sort((a, b) => a - b);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function tail(file: string, lines = 20): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}

function portInUse(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

function healthy(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port, path: '/healthz', agent: false, timeout: 1_000 }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.once('timeout', () => req.destroy());
    req.once('error', () => resolve(false));
    req.end();
  });
}

async function startRedis(port: number, workDir: string): Promise<ChildProcess> {
  const logFile = path.join(workDir, 'redis.log');
  const log = createWriteStream(logFile);
  const child = spawn(
    'redis-server',
    ['--bind', '127.0.0.1', '--port', String(port), '--save', '', '--appendonly', 'no', '--maxclients', '30000'],
    { cwd: workDir, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`redis-server did not become ready in ${STARTUP_TIMEOUT_MS} ms`)),
        STARTUP_TIMEOUT_MS,
      );
      const onData = (chunk: Buffer): void => {
        output += chunk.toString('utf8');
        if (output.includes('Ready to accept connections')) {
          clearTimeout(timer);
          resolve();
        }
      };
      child.stdout?.on('data', onData);
      child.stderr?.on('data', onData);
      child.once('error', (error: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        reject(error.code === 'ENOENT' ? new Error('redis-server not found; run: apt-get install -y redis-server') : error);
      });
      child.once('exit', (code, signal) => {
        clearTimeout(timer);
        reject(new Error(`redis-server exited early (${signal ?? code})`));
      });
    });
  } catch (error) {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    throw new Error(`${(error as Error).message}\n${output.trimEnd().split('\n').slice(-15).join('\n')}`, { cause: error });
  } finally {
    // Keep draining its output (into redis.log) so a full pipe never blocks Redis.
    child.stdout?.removeAllListeners('data');
    child.stderr?.removeAllListeners('data');
    log.write(output);
    child.stdout?.pipe(log, { end: false });
    child.stderr?.pipe(log, { end: false });
  }
  return child;
}

async function stopRedis(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
  await exited;
  clearTimeout(timer);
}

/** Stops the nginx master and workers, verifying by cmdline that each pid is still ours. */
async function stopNginx(master: number, known: readonly number[]): Promise<void> {
  const ours = (pid: number): boolean => alive(pid) && /^nginx: (master|worker|cache)/.test(cmdline(pid));
  const targets = [...new Set([master, ...known, ...(ours(master) ? childrenOf(master) : [])])].filter(ours);
  if (targets.length === 0) return;
  // TERM to the master is nginx's fast shutdown: it tells the workers to exit, then exits.
  if (targets.includes(master)) process.kill(master, 'SIGTERM');
  else for (const pid of targets) process.kill(pid, 'SIGTERM');
  const deadline = Date.now() + STOP_GRACE_MS;
  while (Date.now() < deadline && targets.some(alive)) await sleep(50);
  for (const pid of targets) {
    if (ours(pid)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }
  const killDeadline = Date.now() + STOP_GRACE_MS;
  while (Date.now() < killDeadline && targets.some(alive)) await sleep(50);
}

function render(options: NchanOptions, prefix: string, asRoot: boolean): string {
  const values: Record<string, string> = {
    HTTP_PORT: String(options.httpPort),
    WORKER_PROCESSES: String(options.workers),
    REDIS_URL: `redis://127.0.0.1:${options.redisPort}`,
    PREFIX: prefix,
    USER_DIRECTIVE: asRoot ? 'user www-data;' : '',
  };
  const text = readFileSync(TEMPLATE, 'utf8').replace(/\{\{([A-Z_]+)\}\}/g, (match, key: string) => {
    const value = values[key];
    if (value === undefined) throw new Error(`nginx-nchan.conf.template: unknown placeholder ${match}`);
    return value;
  });
  return text;
}

/** Starts a private redis-server and nginx + Nchan on 127.0.0.1. Stop it with `stop()`. */
export async function startNchan(options: NchanOptions): Promise<NchanSystem> {
  const nginx = findExecutable('nginx');
  if (nginx === undefined) throw new Error(`nginx is not installed; run: ${INSTALL_HINT}`);
  if (!existsSync(NCHAN_MODULE)) throw new Error(`the Nchan nginx module (${NCHAN_MODULE}) is not installed; run: ${INSTALL_HINT}`);
  const { httpPort, redisPort } = options;
  const workDir = path.resolve(options.workDir);
  const prefix = `${workDir}/`;
  const confFile = path.join(workDir, 'nginx.conf');
  const errorLog = path.join(workDir, 'error.log');
  const pidFile = path.join(workDir, 'nginx.pid');
  const asRoot = process.getuid?.() === 0;

  for (const port of [httpPort, redisPort]) {
    if (await portInUse(port)) throw new Error(`127.0.0.1:${port} is already in use`);
  }

  mkdirSync(path.join(workDir, 'tmp'), { recursive: true, mode: 0o755 });
  // Workers run as www-data when started as root; they must reach tmp/ for request bodies.
  if (asRoot) {
    chmodSync(workDir, 0o755);
    chmodSync(path.join(workDir, 'tmp'), 0o755);
  }
  writeFileSync(confFile, render({ ...options, workDir }, prefix, asRoot));

  const redis = await startRedis(redisPort, workDir);
  let master = 0;
  let workers: number[] = [];
  const killOnExit = (): void => {
    for (const pid of [master, ...workers]) {
      if (pid > 0 && /^nginx: /.test(cmdline(pid))) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // gone
        }
      }
    }
    if (redis.exitCode === null && redis.signalCode === null) redis.kill('SIGKILL');
  };
  process.once('exit', killOnExit);

  try {
    // nginx daemonizes: this process exits once the master is running (or with an error).
    const launcher = spawn(nginx, ['-p', prefix, '-c', confFile, '-e', errorLog], { stdio: ['ignore', 'pipe', 'pipe'] });
    let launcherOutput = '';
    launcher.stdout.on('data', (chunk: Buffer) => (launcherOutput += chunk.toString('utf8')));
    launcher.stderr.on('data', (chunk: Buffer) => (launcherOutput += chunk.toString('utf8')));
    const [code] = (await once(launcher, 'exit')) as [number | null, NodeJS.Signals | null];
    if (code !== 0) throw new Error(`nginx failed to start (exit ${code}):\n${launcherOutput.trim()}\n${tail(errorLog)}`);

    const deadline = Date.now() + STARTUP_TIMEOUT_MS;
    while (master === 0) {
      const text = existsSync(pidFile) ? readFileSync(pidFile, 'utf8').trim() : '';
      if (/^\d+$/.test(text)) master = Number(text);
      else if (Date.now() > deadline) throw new Error(`nginx wrote no pid file ${pidFile}\n${tail(errorLog)}`);
      else await sleep(50);
    }
    while (!(await healthy(httpPort))) {
      if (!alive(master)) throw new Error(`nginx master ${master} exited\n${tail(errorLog)}`);
      if (Date.now() > deadline) throw new Error(`nginx did not answer /healthz on 127.0.0.1:${httpPort}\n${tail(errorLog)}`);
      await sleep(100);
    }
    for (workers = childrenOf(master); workers.length < options.workers; workers = childrenOf(master)) {
      if (Date.now() > deadline) throw new Error(`nginx started ${workers.length} of ${options.workers} workers\n${tail(errorLog)}`);
      await sleep(50);
    }
  } catch (error) {
    process.removeListener('exit', killOnExit);
    if (master > 0) await stopNginx(master, workers);
    await stopRedis(redis);
    throw error;
  }

  let stopped: Promise<void> | undefined;
  const base = `http://127.0.0.1:${httpPort}`;
  return {
    subUrl: (chan) => `${base}/sub/${encodeURIComponent(chan)}`,
    pubUrl: (chan) => `${base}/pub?id=${encodeURIComponent(chan)}`,
    redisUrl: `redis://127.0.0.1:${redisPort}`,
    pids: () => {
      if (!alive(master)) return [];
      // Re-scanned on every call, so a respawned worker is still sampled.
      const current = childrenOf(master);
      workers = [...new Set([...workers, ...current])];
      return [master, ...current];
    },
    stop() {
      stopped ??= (async () => {
        await stopNginx(master, workers);
        await stopRedis(redis);
        process.removeListener('exit', killOnExit);
      })();
      return stopped;
    },
  };
}
