import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import semver from 'semver';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { batchEventSchema, batchSnapshotSchema, jobEventSchema, jobSnapshotSchema } from '@herald/contract';
import { EventReader, type RedisClient } from '@herald/shared';
import { canRun } from '../support/requirements.ts';
import { connectTestRedis, flushAll } from '../support/redis-target.ts';
import { findServingReplica, startTestStack, type TestStack } from '../support/stack.ts';

// @herald/client as a consumer gets it: built, packed, installed from its tarball into an empty
// project, and run by plain Node 20 — nothing of this repository beside it — against a Herald
// behind nginx, watching a job to its end across a killed replica.
const ROOT = new URL('../../', import.meta.url).pathname;
const NODE_20 = '/usr/bin/node';
const node20 = spawnSync(NODE_20, ['--version'], { encoding: 'utf8' }).stdout?.trim() ?? '';
const haveAll = canRun('client package tests', [
  !node20.startsWith('v20.') && `no Node 20 at ${NODE_20} (found ${node20 || 'nothing'})`,
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

describe.skipIf(!haveAll)('@herald/client from its tarball, on Node 20', () => {
  let stack: TestStack;
  let redis: RedisClient;
  let project: string;

  beforeAll(async () => {
    redis = connectTestRedis();
    await flushAll(redis);
    [stack] = await Promise.all([
      startTestStack({ apiReplicas: 2, workers: 1, env: { STAGE_DELAY_MS: '700', SSE_RETRY_MS: '200' } }),
      (async () => {
        // Build and pack, then install the tarball alone into an empty project.
        execFileSync('npm', ['run', 'build', '-w', 'packages/client'], { cwd: ROOT, stdio: 'ignore' });
        const packs = mkdtempSync(join(tmpdir(), 'herald-pack-'));
        execFileSync('npm', ['pack', '-w', 'packages/client', '--pack-destination', packs], { cwd: ROOT, stdio: 'ignore' });
        const tarball = join(packs, readdirSync(packs).find((file) => file.endsWith('.tgz'))!);
        project = mkdtempSync(join(tmpdir(), 'herald-consumer-'));
        writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }));
        writeFileSync(join(project, 'watch.mjs'), CONSUMER);
        execFileSync('npm', ['install', '--no-audit', '--no-fund', tarball], { cwd: project, stdio: 'ignore' });
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
    const installed = readdirSync(join(project, 'node_modules', '@herald'));
    expect(installed).toEqual(['client']);
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
    const stored = await new EventReader(redis).eventsAfter(jobId, null);
    expect(events.map((entry) => entry.id)).toEqual(stored.map((event) => event.id));
    expect(events.map((entry) => entry.data)).toEqual(stored.map((event) => JSON.parse(event.data)));
    expect(events.at(-1)!.data.status).toBe('done');
    expect(lines.at(-1)).toEqual({ end: true, node: node20 });
  }, 60_000);
});
