import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import semver from 'semver';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { batchEventSchema, batchSnapshotSchema, jobEventSchema, jobSnapshotSchema } from '@herald/contract';
import { EventReader, type RedisClient } from '@herald/shared';
import { canRun } from '../support/requirements.ts';
import { BEES } from '../support/texts.ts';
import { WHOLE_HISTORY } from '../support/assertions.ts';
import { connectTestRedis, flushAll } from '../support/redis-target.ts';
import { findServingReplica, startTestStack, type TestStack } from '../support/stack.ts';

// @herald/client, @herald/react and @herald/cli as a consumer gets them: packed (which builds
// them), installed from their tarballs into an empty project, and run by plain Node 20 — nothing
// of this repository beside them — against a Herald behind nginx: the client watches a job to
// its end across a killed replica; the hooks import, render on a server and type-check; the CLI
// runs with npx from its tarball, and from a global install.
const ROOT = new URL('../../', import.meta.url).pathname;
const NODE_20 = '/usr/bin/node';
/** A machine with only Node 20: its node, npm and npx, and nothing of the checkout's Node 24. */
const ONLY_NODE_20 = { ...process.env, PATH: '/usr/bin:/bin' };
const node20 = spawnSync(NODE_20, ['--version'], { encoding: 'utf8' }).stdout?.trim() ?? '';
const haveAll = canRun('published package tests', [
  !node20.startsWith('v20.') && `no Node 20 at ${NODE_20} (found ${node20 || 'nothing'})`,
  spawnSync('/usr/bin/npx', ['--version'], { stdio: 'ignore', env: ONLY_NODE_20 }).status !== 0 && 'no npx beside Node 20 in /usr/bin',
  spawnSync('nginx', ['-v'], { stdio: 'ignore' }).status !== 0 && 'no nginx on the PATH (apt-get install nginx-light)',
]);

const CONSUMER = `
import { createClient, isTerminal } from '@herald/client';
const client = createClient({ baseUrl: process.argv[2] });
const { jobId } = await client.submit({ text: 'Bees live in colonies. Worker bees collect nectar. Bees turn nectar into honey. A hive can hold fifty thousand bees.', options: { maxSentences: 2 } });
console.log(JSON.stringify({ jobId }));
for await (const { id, event, partial } of client.watch(jobId, { initialRetryMs: 100 })) {
  console.log(JSON.stringify({ id, data: event, partial }));
}
console.log(JSON.stringify({ end: true, node: process.version }));
`;

// The hooks as an app's server renders them: every one idle, and nothing fetched.
const SERVER_RENDER = `
import { createElement } from 'react';
import { renderToString } from 'react-dom/server';
import { createClient } from '@herald/client';
import { useBatch, useJob, useJobs } from '@herald/react';
globalThis.fetch = () => { throw new Error('a server render fetched'); };
function App() {
  const job = useJob('job-1', { baseUrl: 'http://127.0.0.1:9' });
  const batch = useBatch('batch-1', { client: createClient({ baseUrl: 'http://127.0.0.1:9' }) });
  const jobs = useJobs(['job-1', 'job-2'], { baseUrl: 'http://127.0.0.1:9', getToken: async () => 't' });
  return createElement('p', null, [job.connection, batch.connection, jobs.connection, Object.keys(jobs.jobs).join('+')].join(' '));
}
console.log(renderToString(createElement(App)));
`;

// The hooks' types as an app's TypeScript resolves them from the installed packages: a wrong
// call is an error (so the types are there, not `any`), a right one is typed through.
const TYPED_APP = `
import { createClient, HeraldError } from '@herald/client';
import { useBatch, useJob, useJobs, type Connection, type JobState } from '@herald/react';
export function check(): void {
  const job: JobState = useJob('job-1', { baseUrl: 'http://127.0.0.1:9' });
  const connection: Connection = job.connection;
  const text: string = job.partial;
  const failed: boolean = job.error instanceof HeraldError;
  const words: number | undefined = useJob<{ words: number }>('job-1', { client: createClient({ baseUrl: 'http://x' }), typed: true }).result?.words;
  const counts: number = useBatch('b', { baseUrl: 'http://x' }).counts.done;
  const parsed: unknown = useJob('job-1', { baseUrl: 'http://x', typed: true }).result;
  const length: number | null = useJob('job-1', { baseUrl: 'http://x', typed: (text) => text.length }).result;
  // @ts-expect-error typed: true parses JSON: unknown, not a string, unless the hook is told
  const text2: string | null = useJob('job-1', { baseUrl: 'http://x', typed: true }).result;
  const cursor: string | null = useJobs(['a'], { baseUrl: 'http://x' }).jobs.a?.lastEventId ?? null;
  // @ts-expect-error a job id is a string
  useJob(42, { baseUrl: 'http://x' });
  // @ts-expect-error options say where Herald is
  useJob('job-1', {});
  void [connection, text, failed, words, counts, cursor, parsed, length, text2];
}
`;

const VERSION = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;

/** `npm pack` of one workspace (its prepack builds it) into `into`: the tarball's path. */
function pack(workspace: string, into: string): string {
  const before = new Set(readdirSync(into));
  execFileSync('npm', ['pack', '-w', workspace, '--pack-destination', into], { cwd: ROOT, stdio: 'ignore' });
  return join(into, readdirSync(into).find((file) => !before.has(file))!);
}

/** Runs a command as Node 20 alone would, to its end. */
function run20(command: string, args: string[], cwd: string, env: Record<string, string> = {}) {
  return new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    const child = spawn(command, args, { cwd, env: { ...ONLY_NODE_20, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}

describe.skipIf(!haveAll)('@herald/client, @herald/react and @herald/cli from their tarballs, on Node 20', () => {
  let stack: TestStack;
  let redis: RedisClient;
  let project: string;
  let cliTarball: string;
  let reactTarball: string;
  /** A fresh npm cache and global prefix: nothing from an earlier run or from the machine. */
  let npmHome: string;

  beforeAll(async () => {
    redis = connectTestRedis();
    await flushAll(redis);
    [stack] = await Promise.all([
      startTestStack({ apiReplicas: 2, workers: 1, env: { STAGE_DELAY_MS: '700', SSE_RETRY_MS: '200' } }),
      (async () => {
        // Pack both, then install the two tarballs alone into an empty project, with Node 20's npm.
        const packs = mkdtempSync(join(tmpdir(), 'herald-pack-'));
        const clientTarball = pack('packages/client', packs);
        cliTarball = pack('apps/cli', packs);
        reactTarball = pack('packages/react', packs);
        npmHome = mkdtempSync(join(tmpdir(), 'herald-npm-'));
        project = mkdtempSync(join(tmpdir(), 'herald-consumer-'));
        writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }));
        writeFileSync(join(project, 'watch.mjs'), CONSUMER);
        writeFileSync(join(project, 'notes.txt'), BEES);
        writeFileSync(join(project, 'render.mjs'), SERVER_RENDER);
        writeFileSync(join(project, 'app.ts'), TYPED_APP);
        // React itself from the registry, as an app has it (the hooks' peer, with its types).
        const react = ['react@^19', 'react-dom@^19', '@types/react@^19', '@types/react-dom@^19'];
        execFileSync('/usr/bin/npm', ['install', '--no-audit', '--no-fund', clientTarball, cliTarball, reactTarball, ...react], {
          cwd: project,
          stdio: 'ignore',
          env: { ...ONLY_NODE_20, npm_config_cache: join(npmHome, 'cache') },
        });
      })(),
    ]);
  }, 180_000);

  afterAll(async () => {
    await stack?.stop();
    redis?.disconnect();
  });

  it('carries the server’s own schemas: the built events and snapshots are the contract’s, field for field', async () => {
    const built = (await import(`${ROOT}packages/client/dist/client/src/index.js`)) as Record<string, z.ZodType>;
    for (const [name, schema] of Object.entries({ jobEventSchema, jobSnapshotSchema, batchEventSchema, batchSnapshotSchema })) {
      expect(JSON.stringify(z.toJSONSchema(built[name]!)), name).toBe(JSON.stringify(z.toJSONSchema(schema)));
    }
  });

  it('installs with nothing else of this repository, and watches a job exactly across a killed replica', async () => {
    // Each tarball stands alone: no @herald/* dependency (the CLI has the client compiled in).
    const installed = readdirSync(join(project, 'node_modules', '@herald'));
    expect(installed.sort()).toEqual(['cli', 'client', 'react']);
    for (const name of installed) {
      const manifest = JSON.parse(readFileSync(join(project, 'node_modules', '@herald', name, 'package.json'), 'utf8')) as {
        version: string;
        dependencies?: Record<string, string>;
      };
      expect(
        Object.keys(manifest.dependencies ?? {}).filter((dependency) => dependency.startsWith('@herald/')),
        name,
      ).toEqual([]);
      expect(manifest.version, name).toBe(VERSION);
    }
    // Node 20 is what it promises: nothing it installs asks for more.
    const modules = join(project, 'node_modules');
    const packages = readdirSync(modules).flatMap((name) =>
      name.startsWith('@') ? readdirSync(join(modules, name)).map((scoped) => `${name}/${scoped}`) : name.startsWith('.') ? [] : [name],
    );
    for (const name of packages) {
      const wanted = (JSON.parse(readFileSync(join(modules, name, 'package.json'), 'utf8')) as { engines?: { node?: string } }).engines
        ?.node;
      if (wanted !== undefined) expect(semver.satisfies(node20, wanted), `${name} wants Node ${wanted}`).toBe(true);
    }
    const child = spawn(NODE_20, ['watch.mjs', stack.url], { cwd: project, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk;
    });
    const lines: Record<string, any>[] = [];
    let killed = false;
    for await (const line of createInterface({ input: child.stdout })) {
      lines.push(JSON.parse(line));
      // After the second event, the replica serving the stream dies; the client goes on through nginx.
      if (!killed && lines.filter((entry) => entry.id).length === 2) {
        killed = true;
        const serving = await findServingReplica(stack);
        await serving.kill();
        setTimeout(() => void serving.start(), 1000);
      }
    }
    const [exit] = await new Promise<[number | null]>((resolve) => child.once('close', (code) => resolve([code])));
    expect(exit, stderr).toBe(0);
    const { jobId } = lines[0]!;
    const events = lines.filter((entry) => entry.id);
    expect(killed).toBe(true);
    // Exactly the job's Stream, each event once, in order (the client re-parses each: compared as JSON).
    const stored = await new EventReader(redis).eventsAfter(jobId, null, WHOLE_HISTORY);
    expect(events.map((entry) => entry.id)).toEqual(stored.map((event) => event.id));
    expect(events.map((entry) => entry.data)).toEqual(stored.map((event) => JSON.parse(event.data)));
    expect(events.at(-1)!.data.status).toBe('done');
    expect(lines.at(-1)).toEqual({ end: true, node: node20 });
  }, 60_000);

  it('@herald/react, beside the client: imports on Node 20, renders idle on a server fetching nothing, and its types resolve', async () => {
    const manifest = JSON.parse(readFileSync(join(project, 'node_modules', '@herald', 'react', 'package.json'), 'utf8')) as {
      peerDependencies: Record<string, string>;
    };
    expect(manifest.peerDependencies).toEqual({ '@herald/client': `^${VERSION}`, react: '>=18' });
    const rendered = await run20(NODE_20, ['render.mjs'], project);
    expect(rendered, rendered.stderr).toMatchObject({ code: 0, stdout: '<p>idle idle idle job-1+job-2</p>\n' });

    writeFileSync(
      join(project, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          target: 'es2022',
          lib: ['es2022', 'dom'],
          module: 'nodenext',
          moduleResolution: 'nodenext',
          strict: true,
          noEmit: true,
          types: [],
          // The installed .d.ts files are checked too: the hooks' and the client's.
          skipLibCheck: false,
        },
        files: ['app.ts'],
      }),
    );
    // This repository's TypeScript, on the consumer's project: what resolves is only what was installed.
    const checked = spawnSync(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', project], { encoding: 'utf8' });
    expect(checked.stdout + checked.stderr).toBe('');
    expect(checked.status).toBe(0);
  }, 60_000);

  it('examples/react-progress builds from the installed tarballs: its bundle holds the packages’ dist, none of this repository’s sources', () => {
    // The example as its README builds it in an app of its own: its files copied beside the
    // installed tarballs, `build.ts --from-packages`. esbuild is this repository's (linked, not
    // fetched again); @herald/react and @herald/client resolve from the project's node_modules.
    const example = join(project, 'react-progress');
    cpSync(join(ROOT, 'examples/react-progress/src'), join(example, 'src'), { recursive: true });
    cpSync(join(ROOT, 'examples/react-progress/index.html'), join(example, 'index.html'));
    cpSync(join(ROOT, 'examples/react-progress/build.ts'), join(example, 'build.ts'));
    writeFileSync(join(example, 'package.json'), JSON.stringify({ name: 'react-progress', private: true, type: 'module' }));
    symlinkSync(join(ROOT, 'node_modules/esbuild'), join(project, 'node_modules/esbuild'), 'dir');
    const built = spawnSync(process.execPath, ['build.ts', 'out', '--from-packages'], { cwd: example, encoding: 'utf8' });
    expect(built.status, built.stderr).toBe(0);
    expect(readdirSync(join(example, 'out')).sort()).toEqual(['app.js', 'app.js.map', 'index.html']);
    const { sources } = JSON.parse(readFileSync(join(example, 'out/app.js.map'), 'utf8')) as { sources: string[] };
    const herald = sources.filter((source) => source.includes('@herald/') || source.includes('packages/'));
    expect(herald.some((source) => source.includes('node_modules/@herald/react/dist/'))).toBe(true);
    expect(herald.some((source) => source.includes('node_modules/@herald/client/dist/'))).toBe(true);
    expect(herald.filter((source) => !source.includes('node_modules/@herald/'))).toEqual([]);
  }, 60_000);

  it('npx runs the CLI from its tarball: submit --watch prints the job’s summary, exit 0', async () => {
    const { code, stdout, stderr } = await run20(
      '/usr/bin/npx',
      ['--yes', '--package', cliTarball, 'herald', 'submit', '--watch', 'notes.txt', '--url', stack.url, '--plain'],
      project,
      // The run's one fresh cache: npx finds the dependencies the install fetched, and fetches nothing twice.
      { npm_config_cache: join(npmHome, 'cache') },
    );
    expect(code, stderr).toBe(0);
    const jobId = /submitted job (\S+)/.exec(stderr)![1]!;
    const job = (await (await fetch(`${stack.url}/v1/jobs/${jobId}`)).json()) as { status: string; result: string };
    expect(job.status).toBe('done');
    expect(stdout).toBe(`${job.result}\n`);
    expect(stderr).toContain('[100%] done: ');
  }, 120_000);

  it('installs globally: herald --version prints the package’s version, and herald watch follows a job', async () => {
    const prefix = join(npmHome, 'global');
    const installed = await run20('/usr/bin/npm', ['install', '-g', '--no-audit', '--no-fund', '--prefix', prefix, cliTarball], project, {
      npm_config_cache: join(npmHome, 'cache'),
    });
    expect(installed.code, installed.stderr).toBe(0);
    const herald = join(prefix, 'bin', 'herald');
    const version = await run20(herald, ['--version'], project);
    expect(version).toMatchObject({ code: 0, stdout: `${VERSION}\n` });

    const jobId = (await run20(herald, ['submit', 'notes.txt', '--url', stack.url], project)).stdout.trim();
    const watched = await run20(herald, ['watch', jobId, '--url', stack.url, '--plain'], project);
    expect(watched.code, watched.stderr).toBe(0);
    const job = (await (await fetch(`${stack.url}/v1/jobs/${jobId}`)).json()) as { status: string; result: string };
    expect(watched.stdout).toBe(`${job.result}\n`);
  }, 120_000);
});
