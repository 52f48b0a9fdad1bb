import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KindRegistry } from '@herald/shared';
import { expectError } from '../support/assertions.ts';
import { runEntry, type Child } from '../support/child.ts';
import { request } from '../support/http.ts';
import { redisEnv } from '../support/redis-target.ts';
import { SseClient } from '../support/sse-client.ts';
import { startSystem, type TestSystem } from '../support/system.ts';

// @herald/worker as a team outside Herald gets it: packed (which builds it), installed from its
// tarball into an empty project, and run by that project's own script, which defines a kind
// `resize` and starts two worker processes against a running Herald (two API replicas, none of
// Herald's own workers). The script writes what its runs saw (started, aborted) to a marks file.
// Submitting a registered kind is the API's (POST /v1/jobs {"kind", "input"}, docs/api.md "Kinds").
const ROOT = new URL('../../', import.meta.url).pathname;

const WORKER_SCRIPT = `
import { appendFileSync } from 'node:fs';
import { z } from 'zod';
import { defineKind, startWorker } from '@herald/worker';

const mark = (line) => appendFileSync(process.argv[2], JSON.stringify({ pid: process.pid, ...line }) + '\\n');
const resize = defineKind({
  name: 'resize',
  input: z.object({ width: z.number().int().positive(), height: z.number().int().positive(), holdMs: z.number().int().min(0).default(0) }),
  async run({ width, height, holdMs }, ctx) {
    mark({ event: 'started', jobId: ctx.jobId });
    ctx.signal.addEventListener('abort', () => mark({ event: 'aborted', jobId: ctx.jobId }));
    await ctx.progress(30, 'Resizing to ' + width + 'x' + height, 'resizing');
    await new Promise((resolve) => {
      const timer = setTimeout(resolve, holdMs);
      ctx.signal.addEventListener('abort', () => { clearTimeout(timer); resolve(); });
    });
    ctx.signal.throwIfAborted();
    await ctx.progress(90, 'Almost there');
    return { width: Math.round(width / 2), height: Math.round(height / 2), pid: process.pid };
  },
});
// Herald's Redis as Herald is told (a URL, or a Cluster's or Sentinels' REDIS_* settings).
const redis = Object.fromEntries(Object.entries(process.env).filter(([name]) => name.startsWith('REDIS_')));
const worker = await startWorker({ kinds: [resize], redis, concurrency: 2 });
console.log('ready');
process.once('SIGTERM', () => worker.close().then(() => process.exit(0)));
`;

/** `npm pack` of one workspace (its prepack builds it) into `into`: the tarball's path. */
function pack(workspace: string, into: string): string {
  const before = new Set(readdirSync(into));
  execFileSync('npm', ['pack', '-w', workspace, '--pack-destination', into], { cwd: ROOT, stdio: 'ignore' });
  return join(into, readdirSync(into).find((file) => !before.has(file))!);
}

interface Mark {
  readonly pid: number;
  readonly event: 'started' | 'aborted';
  readonly jobId: string;
}

async function until<T>(what: string, probe: () => T | undefined | Promise<T | undefined>, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe('@herald/worker from its tarball, in a project of its own', () => {
  let system: TestSystem;
  let project: string;
  let marksFile: string;
  const workers: Child[] = [];
  let a: string;
  let b: string;

  const marks = (): Mark[] =>
    existsSync(marksFile)
      ? readFileSync(marksFile, 'utf8')
          .split('\n')
          .filter(Boolean)
          .map((line) => JSON.parse(line) as Mark)
      : [];
  const startWorkerProcess = (): Child => {
    // The script is in the project: Node resolves @herald/worker and zod from its node_modules.
    const child = runEntry(join(project, 'worker.mjs'), {
      ...redisEnv(),
      JOB_LOCK_MS: '2000',
      JOB_BACKOFF_MS: '50',
      KIND_TTL_SECONDS: '30',
      LOG_LEVEL: 'warn',
    });
    return child;
  };
  const submit = (input: unknown) => request(`${a}/v1/jobs`, { json: { kind: 'resize', input } });
  const snapshot = async (jobId: string) => (await request(`${b}/v1/jobs/${jobId}`)).body;

  beforeAll(async () => {
    system = await startSystem({ replicas: 2, workers: 0 });
    [a, b] = system.apis.map((api) => api.url) as [string, string];
    const packs = mkdtempSync(join(tmpdir(), 'herald-pack-'));
    const tarball = pack('packages/worker', packs);
    project = mkdtempSync(join(tmpdir(), 'herald-kind-worker-'));
    marksFile = join(project, 'marks.jsonl');
    writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'resizer', private: true, type: 'module' }));
    writeFileSync(join(project, 'worker.mjs'), WORKER_SCRIPT.replace('process.argv[2]', JSON.stringify(marksFile)));
    // Its dependencies (bullmq, ioredis, zod…) from npm's cache, as the repository's install left them.
    execFileSync('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', tarball, 'zod@^4'], { cwd: project, stdio: 'ignore' });
    for (let i = 0; i < 2; i += 1) workers.push(startWorkerProcess());
    await Promise.all(workers.map((worker) => until('a worker ready', () => (worker.output().includes('ready') ? true : undefined))));
  }, 120_000);

  afterAll(async () => {
    for (const worker of workers) worker.process.kill('SIGTERM');
    await Promise.all(workers.map((worker) => worker.exited()));
    await system?.close();
  });

  it('installs alone and registers its kind with the input’s JSON Schema', async () => {
    const manifest = JSON.parse(readFileSync(join(project, 'node_modules/@herald/worker/package.json'), 'utf8')) as {
      dependencies: Record<string, string>;
    };
    expect(Object.keys(manifest.dependencies).filter((name) => name.startsWith('@herald/'))).toEqual([]);
    expect(readdirSync(join(project, 'node_modules/@herald'))).toEqual(['worker']);
    const kind = await new KindRegistry(system.redis).get('resize');
    expect(kind).toMatchObject({ name: 'resize', builtIn: false });
    expect(kind!.expiresAt! - Date.now()).toBeGreaterThan(20_000);
    expect(kind!.inputSchema).toMatchObject({
      type: 'object',
      properties: { width: { type: 'integer' }, height: { type: 'integer' }, holdMs: { type: 'integer' } },
      required: ['width', 'height'],
    });
    // Its command, built: `herald-worker bridge` is the BullMQ bridge (bullmq-bridge.test.ts runs it).
    const help = execFileSync(join(project, 'node_modules/.bin/herald-worker'), ['--help'], { encoding: 'utf8' });
    expect(help).toContain('herald-worker bridge --queue NAME');
  });

  it('runs a job submitted on one replica to done, watched on another, with the run’s result and progress', async () => {
    const submitted = await submit({ width: 640, height: 480 });
    expect(submitted.status, JSON.stringify(submitted.body)).toBe(202);
    const { jobId } = submitted.body as { jobId: string };
    const watch = SseClient.open(`${b}/v1/jobs/${jobId}/events`);
    await watch.waitFor((client) => client.events.some((event) => event.json.status === 'done'), 15_000);
    watch.close();
    const done = watch.events.find((event) => event.json.status === 'done')!.json as any;
    const pids = workers.map((worker) => worker.process.pid);
    expect(done.result).toMatchObject({ width: 320, height: 240 });
    expect(pids).toContain(done.result.pid);
    expect(watch.events.some((event) => event.json.stage === 'resizing' && event.json.progress === 30)).toBe(true);
  });

  it('answers input that does not fit the schema with 400 invalid_request', async () => {
    // Refused for its input, not its kind: each mismatch is a `details` entry under input.
    for (const input of [{ width: 'wide', height: 480 }, { width: 640 }]) {
      const refused = await submit(input);
      expectError(refused, 400, 'invalid_request');
      const paths = (refused.body.error.details as { path: string }[]).map((detail) => detail.path);
      expect(paths.length).toBeGreaterThan(0);
      expect(
        paths.filter((path) => !path.startsWith('input')),
        JSON.stringify(refused.body),
      ).toEqual([]);
    }
  });

  it('aborts the run’s ctx.signal when the job is cancelled on another replica', async () => {
    const { jobId } = (await submit({ width: 10, height: 10, holdMs: 30_000 })).body as { jobId: string };
    await until('the run to start', () => marks().find((mark) => mark.event === 'started' && mark.jobId === jobId));
    expect((await request(`${b}/v1/jobs/${jobId}`, { method: 'DELETE' })).status).toBeLessThan(300);
    await until('the run to see the abort', () => marks().find((mark) => mark.event === 'aborted' && mark.jobId === jobId), 5000);
    expect((await snapshot(jobId)).status).toBe('cancelled');
  });

  it('retries the job of a SIGKILLed worker on the other one, after JOB_LOCK_MS', async () => {
    const { jobId } = (await submit({ width: 100, height: 50, holdMs: 1500 })).body as { jobId: string };
    const first = await until('the run to start', () => marks().find((mark) => mark.event === 'started' && mark.jobId === jobId));
    const doomed = workers.find((worker) => worker.process.pid === first.pid)!;
    doomed.process.kill('SIGKILL');
    await doomed.exited();
    const survivor = workers.find((worker) => worker !== doomed)!;
    const done = await until(
      'the job to end',
      async () => {
        const job = await snapshot(jobId);
        return job.status === 'done' || job.status === 'error' ? job : undefined;
      },
      20_000,
    );
    expect(done).toMatchObject({ status: 'done', result: { width: 50, height: 25, pid: survivor.process.pid } });
    expect(
      marks()
        .filter((mark) => mark.event === 'started' && mark.jobId === jobId)
        .map((mark) => mark.pid),
    ).toEqual([first.pid, survivor.process.pid]);
  }, 30_000);
});
