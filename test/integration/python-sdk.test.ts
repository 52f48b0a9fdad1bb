import { spawn, spawnSync } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { startApi, type RunningApi } from '@herald/api';
import { createLogger } from '@herald/shared';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { canRun } from '../support/requirements.ts';
import { startSystem, type TestSystem } from '../support/system.ts';

// sdk/python's own unittest suite, run against a live Herald with two API replicas: publishing
// with retries (a lost answer, a 503) without doubling an event, a cancel seen by the producer,
// a watch resumed on the other replica with Last-Event-ID after its first one went away (a
// proxy of the Python tests' own cuts it, or a third replica, C, shuts down for real when the
// Python test asks this file to), the 204 at the end. The SDK is read from PYTHONPATH:
// nothing is installed. Once with auth off, once with auth on (API key, watch tokens).
const haveTools = canRun('the Python SDK tests (sdk/python)', [
  spawnSync('python3', ['--version'], { stdio: 'ignore' }).status !== 0 && 'no python3 on the PATH (apt-get install python3)',
]);

/** Short, so the resume test sees the SDK wait exactly the server's `retry:` (its default is 3000). */
const SSE_RETRY_MS = '400';
const KEY = 'python-sdk-test-key';

function runPythonTests(env: Record<string, string>): Promise<{ code: number | null; output: string }> {
  const child = spawn('python3', ['-m', 'unittest', 'discover', '-s', 'sdk/python/tests', '-v'], {
    // Async, not spawnSync: the replicas answering the tests live in this process.
    env: { ...process.env, PYTHONPATH: 'sdk/python', PYTHONDONTWRITEBYTECODE: '1', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => {
    output += chunk.toString('utf8');
  });
  child.stderr.on('data', (chunk: Buffer) => {
    output += chunk.toString('utf8');
  });
  return new Promise((resolve) => {
    child.on('exit', (code) => resolve({ code, output }));
  });
}

const modes = [
  { name: 'auth off', env: {}, apiKey: undefined },
  { name: 'auth on', env: { API_KEYS: KEY, WATCH_TOKEN_SECRET: 'python-sdk-test-secret-of-32-chars!' }, apiKey: KEY },
] as const;

describe.skipIf(!haveTools).each(modes)('the Python SDK against two replicas, $name', ({ env, apiKey }) => {
  let system: TestSystem;
  let replicaC: RunningApi;
  let shutDownC: Promise<void> | undefined;
  let control: Server;
  beforeAll(async () => {
    // DRAIN_SPREAD_MS 0: a replica shutting down tells its watchers `retry: SSE_RETRY_MS` exactly.
    system = await startSystem({ replicas: 2, env: { ...env, SSE_RETRY_MS, DRAIN_SPREAD_MS: '0', SHUTDOWN_GRACE_MS: '2000' } });
    replicaC = await startApi({ config: system.config, logger: createLogger('api-c', system.config.LOG_LEVEL) });
    // POST / shuts replica C down (drains its streams and stops), answering once it has.
    control = createServer((req, res) => {
      if (req.method !== 'POST') return void res.writeHead(405).end();
      shutDownC ??= replicaC.close();
      void shutDownC.then(() => res.writeHead(204).end());
    });
    await new Promise<void>((resolve) => control.listen(0, '127.0.0.1', resolve));
  });
  afterAll(async () => {
    await (shutDownC ?? replicaC.close());
    await new Promise((resolve) => control.close(resolve));
    await system.close();
  });

  it('passes its unittest suite: retries without doubles, Cancelled, resume with Last-Event-ID on another replica, the 204', async () => {
    const [a, b] = system.apis.map((api) => api.url) as [string, string];
    const { code, output } = await runPythonTests({
      HERALD_URL_A: a,
      HERALD_URL_B: b,
      HERALD_URL_C: replicaC.url,
      HERALD_SHUT_DOWN_C_URL: `http://127.0.0.1:${(control.address() as AddressInfo).port}/`,
      HERALD_SSE_RETRY_MS: SSE_RETRY_MS,
      ...(apiKey ? { HERALD_API_KEY: apiKey } : {}),
    });
    // The whole output on failure: which Python test failed, and its traceback.
    expect(code, `python3 -m unittest exited ${code}:\n${output}`).toBe(0);
    expect(output).toMatch(/^OK$/m);
    expect(output).not.toMatch(/skipped/); // a live test skipped for want of a URL would look green
    expect(output).toMatch(/^Ran (1[0-9]|[2-9][0-9]) tests/m);
  }, 120_000);
});
