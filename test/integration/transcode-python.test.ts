import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectExactHistory } from '../support/assertions.ts';
import { request } from '../support/http.ts';
import { canRun } from '../support/requirements.ts';
import { SseClient } from '../support/sse-client.ts';
import { startSystem, type TestSystem } from '../support/system.ts';

// examples/transcode-python/transcode.py, the producer outside Node, run as a user would run it:
// it publishes through one replica while the test watches from the other.
const SCRIPT = 'examples/transcode-python/transcode.py';
const haveTools = canRun('the Python producer test (examples/transcode-python)', [
  spawnSync('python3', ['--version'], { stdio: 'ignore' }).status !== 0 && 'no python3 on the PATH (apt-get install python3)',
  spawnSync('ffmpeg', ['-version'], { stdio: 'ignore' }).status !== 0 && 'no ffmpeg on the PATH (apt-get install ffmpeg)',
]);

interface Run {
  /** The script's first stdout line: the job and where to watch it. */
  readonly started: Promise<{ jobId: string; watch: string }>;
  readonly exited: Promise<{ code: number | null; stderr: string }>;
}

function runScript(url: string, args: readonly string[]): Run {
  const child = spawn('python3', [SCRIPT, '--url', url, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString('utf8');
  });
  const started = new Promise<{ jobId: string; watch: string }>((resolve, reject) => {
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString('utf8');
      const newline = stdout.indexOf('\n');
      if (newline !== -1) resolve(JSON.parse(stdout.slice(0, newline)));
    });
    child.on('exit', () => reject(new Error(`the script exited before naming its job: ${stderr}`)));
  });
  const exited = new Promise<{ code: number | null; stderr: string }>((resolve) => {
    child.on('exit', (code) => resolve({ code, stderr }));
  });
  return { started, exited };
}

describe.skipIf(!haveTools)('a Python producer transcoding with ffmpeg', () => {
  let system: TestSystem;
  let a: string;
  let b: string;
  const dir = mkdtempSync(join(tmpdir(), 'herald-transcode-'));
  beforeAll(async () => {
    system = await startSystem({});
    [a, b] = system.apis.map((api) => api.url) as [string, string];
  });
  afterAll(() => system.close());

  it('publishes real progress from ffmpeg, then the output’s size and duration, watched from the other replica', async () => {
    const output = join(dir, 'out.mp4');
    const run = runScript(a, ['--seconds', '15', '--output', output]);
    const { jobId, watch } = await run.started;
    expect(watch).toBe(`${a}/v1/jobs/${jobId}/events`);
    const watcher = SseClient.open(`${b}/v1/jobs/${jobId}/events`);
    await watcher.finished(60_000);
    const { code, stderr } = await run.exited;
    expect({ code, stderr }).toEqual({ code: 0, stderr: '' });

    const events = watcher.events.map((event) => event.json);
    expect(events[0]).toMatchObject({ status: 'queued' });
    expect(events.at(-1)).toMatchObject({ status: 'done', progress: 100, stage: 'done' });
    // Real progress, read from ffmpeg: several distinct steps while encoding, each "Encoded x s of 15.0 s".
    const encoding = events.filter((event) => event.stage === 'encoding');
    expect(encoding.length).toBeGreaterThanOrEqual(3);
    for (const event of encoding) expect(event.message).toMatch(/^Encoded \d+\.\d s of 15\.0 s$/);
    expect(new Set(encoding.map((event) => event.progress)).size).toBe(encoding.length);
    await expectExactHistory(system.redis, jobId, watcher.events);

    // The result is the file the script wrote, as ffprobe measures it: a JSON object, not a string holding one.
    const result = events.at(-1)!.result as { output: string; bytes: number; durationSeconds: number };
    expect(result).toEqual({ output, bytes: statSync(output).size, durationSeconds: expect.any(Number) });
    expect(result.durationSeconds).toBeGreaterThan(14.8);
    expect(result.durationSeconds).toBeLessThan(15.2);
    const snapshot = await request(`${b}/v1/jobs/${jobId}`);
    expect(snapshot.body).toMatchObject({
      kind: 'external',
      title: 'Transcode a 15 s test clip',
      status: 'done',
      result,
      metadata: { width: 640 },
    });
  }, 90_000);

  it('stops ffmpeg and exits 3 when the job is cancelled while it runs', async () => {
    const output = join(dir, 'cancelled.mp4');
    const run = runScript(a, ['--seconds', '30', '--realtime', '--output', output]);
    const { jobId } = await run.started;
    const watcher = SseClient.open(`${b}/v1/jobs/${jobId}/events`);
    await watcher.waitFor((client) => client.events.some((event) => event.json.stage === 'encoding'), 60_000);
    expect((await request(`${b}/v1/jobs/${jobId}`, { method: 'DELETE' })).status).toBe(202);
    const { code, stderr } = await run.exited;
    expect(code).toBe(3);
    expect(stderr).toMatch(/the job has ended/);
    expect(existsSync(output)).toBe(false);
    await watcher.finished();
    expect(watcher.events.at(-1)!.json.status).toBe('cancelled');
  }, 90_000);
});
