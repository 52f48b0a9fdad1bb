import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EventReader } from '@herald/shared';
import { createClient } from '../../packages/client/src/index.ts';
import { WHOLE_HISTORY } from '../support/assertions.ts';
import { CuttingProxy } from '../support/cutting-proxy.ts';
import { request } from '../support/http.ts';
import { startSystem, type TestSystem } from '../support/system.ts';

// The CLI and @herald/client across connections that die while a frame is on the wire: halfway
// through its `data:` line, or between the bytes of one UTF-8 character. Each resumes from the
// last whole event with Last-Event-ID and ends with the job's exact history: nothing torn,
// nothing twice, every character whole.

const BIN = 'apps/cli/bin/herald.js';
/** Events cut in the middle, one per connection, before a connection is let through. */
const CUTS = 6;

let system: TestSystem;
let url: string;

beforeAll(async () => {
  system = await startSystem({ replicas: 1, workers: 0, env: { SSE_RETRY_MS: '50', PUBLISH_RATE_PER_JOB: '0' } });
  url = system.apis[0]!.url;
});
afterAll(() => system.close());

interface Produced {
  readonly jobId: string;
  readonly messages: string[];
  readonly result: string;
}

/** An external job with multibyte text everywhere, published to its end before anyone watches. */
async function produce(): Promise<Produced> {
  const created = await request(`${url}/v1/jobs`, { json: { kind: 'external' } });
  expect(created.status).toBe(202);
  const { jobId, publishToken } = created.body as { jobId: string; publishToken: string };
  const publish = async (event: unknown): Promise<void> => {
    const answer = await request(`${url}/v1/jobs/${jobId}/events`, { json: event, headers: { Authorization: `Bearer ${publishToken}` } });
    expect(answer.status).toBe(201);
  };
  const messages: string[] = [];
  for (let i = 1; i <= 8; i += 1) {
    const message = `Étape ${i} — 日本語の段階 🐝 ${'é'.repeat(i)}`;
    messages.push(message);
    await publish({ status: 'processing', progress: i * 5, stage: `step${i}`, message });
  }
  let result = '';
  for (const piece of ['Les abeilles 🐝 ', 'dansent — ', '蜂は踊る, ', 'ünd fliegen. 🌼']) {
    await publish({ status: 'processing', progress: 60, delta: piece, offset: result.length });
    result += piece;
  }
  await publish({ status: 'done', result });
  return { jobId, messages, result };
}

/** A cut in every mode, in turn, and the connections after the last one let through. */
const cuttingProxy = () =>
  new CuttingProxy(
    url,
    (n) => (n < CUTS ? 1 : Infinity),
    (n) => (n % 2 === 0 ? 'data' : 'utf8'),
  );

/** Each cut was where it says: inside a data line, or after a character's lead byte alone. */
function expectCutsMidFrame(proxy: CuttingProxy): void {
  expect(proxy.midFrameCuts.map((cut) => cut.mode)).toEqual(Array.from({ length: CUTS }, (_, n) => (n % 2 === 0 ? 'data' : 'utf8')));
  for (const cut of proxy.midFrameCuts) {
    const lastLine = cut.sent.toString('latin1').split('\n').at(-1)!;
    expect(lastLine.startsWith('data: ')).toBe(true);
    if (cut.mode === 'utf8') expect(cut.sent.at(-1)!).toBeGreaterThanOrEqual(0xc0);
  }
  // Every reconnection resumed right after the last whole event the previous one got.
  expect(proxy.eventRequests.length).toBeGreaterThan(CUTS);
  expect(proxy.eventRequests[0]!['last-event-id']).toBeUndefined();
  for (let i = 1; i < proxy.eventRequests.length; i += 1) {
    expect(proxy.eventRequests[i]!['last-event-id']).toBe(proxy.forwardedIds[i - 1]!.at(-1));
  }
}

describe('a connection cut in the middle of a frame', () => {
  it('@herald/client resumes with the exact history: no torn or repeated event, every character whole', async () => {
    const job = await produce();
    const proxy = cuttingProxy();
    const client = createClient({ baseUrl: await proxy.listen() });
    try {
      const seen = [];
      for await (const item of client.watch(job.jobId, { initialRetryMs: 20 })) seen.push(item);
      expectCutsMidFrame(proxy);
      const stored = await new EventReader(system.redis).eventsAfter(job.jobId, null, WHOLE_HISTORY);
      expect(seen.map((item) => item.id)).toEqual(stored.map((event) => event.id));
      expect(seen.map((item) => item.event)).toEqual(stored.map((event) => JSON.parse(event.data)));
      expect(seen.filter((item) => item.event.stage?.startsWith('step')).map((item) => item.event.message)).toEqual(job.messages);
      expect(seen.at(-1)!.partial).toBe(job.result);
      expect(seen.at(-1)!.event).toMatchObject({ status: 'done', result: job.result });
    } finally {
      await proxy.close();
    }
  });

  it('the CLI resumes with the exact history: every line once, the summary whole, exit 0', async () => {
    const job = await produce();
    const proxy = cuttingProxy();
    const proxyUrl = await proxy.listen();
    try {
      const child = spawn(process.execPath, [BIN, 'watch', job.jobId, '--url', proxyUrl], {
        env: { ...process.env, HERALD_URL: '', HERALD_API_KEY: '' },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
      child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
      const [code] = await once(child, 'close');
      expect(code, stderr).toBe(0);
      expectCutsMidFrame(proxy);
      expect(stdout).toBe(`${job.result}\n`);
      expect(stderr).not.toContain('\uFFFD');
      // One line per event, in order, each once; then the summary as written, whole, once.
      const lines = stderr.split('\n').filter((line) => !line.startsWith('herald: '));
      const stepLines = lines.filter((line) => /\] step\d+: /.test(line));
      expect(stepLines.map((line) => line.slice(line.indexOf(': ') + 2))).toEqual(job.messages);
      expect(stderr.split(job.result)).toHaveLength(2);
      expect(stderr.match(/connection lost/g)).toHaveLength(CUTS);
    } finally {
      await proxy.close();
    }
  });
});
