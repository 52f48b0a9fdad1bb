import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import type { IncomingHttpHeaders } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_CREDENTIAL_CHARS } from '@herald/contract';
import { extractiveBackend, extractiveSummarizer, type Summarizer } from '@herald/worker-process';
import { WatchTokens } from '../../apps/api/src/auth/watch-tokens.ts';
import { createServer } from 'node:http';
import { freePort } from '../support/free-port.ts';
import { request, submit } from '../support/http.ts';
import { startSystem, type TestSystem } from '../support/system.ts';
import { BEES } from '../support/texts.ts';
import { CuttingProxy } from '../support/cutting-proxy.ts';

// The real `herald` CLI, as a child process, against a real in-process system.
const BIN = 'apps/cli/bin/herald.js';
const STAGES = ['queued', 'received', 'analyzing', 'summarizing', 'polishing', 'done'];

interface Cli {
  readonly child: ChildProcess;
  stdout: string;
  stderr: string;
  /** Resolves with the exit code once the process ended and its output is all read. */
  readonly exited: Promise<number | null>;
  /** Resolves when stderr matches. */
  waitForStderr(pattern: RegExp, timeoutMs?: number): Promise<void>;
}

function startCli(args: string[], stdin?: string, env: Record<string, string> = {}): Cli {
  const child = spawn(process.execPath, [BIN, ...args], {
    // Neither TTY nor HERALD_URL nor a key from the outside: plain lines, and what each test gives.
    env: { ...process.env, HERALD_URL: '', HERALD_API_KEY: '', ...env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const cli: Cli = {
    child,
    stdout: '',
    stderr: '',
    exited: once(child, 'close').then(([code]) => code as number | null),
    async waitForStderr(pattern, timeoutMs = 10_000) {
      const deadline = Date.now() + timeoutMs;
      while (!pattern.test(cli.stderr)) {
        if (Date.now() > deadline) throw new Error(`stderr never matched ${pattern}:\n${cli.stderr}`);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    },
  };
  child.stdout!.on('data', (chunk: Buffer) => (cli.stdout += chunk.toString('utf8')));
  child.stderr!.on('data', (chunk: Buffer) => (cli.stderr += chunk.toString('utf8')));
  child.stdin!.end(stdin);
  return cli;
}

async function runCli(
  args: string[],
  stdin?: string,
  env?: Record<string, string>,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const cli = startCli(args, stdin, env);
  const code = await cli.exited;
  return { code, stdout: cli.stdout, stderr: cli.stderr };
}

/** The labels of the plain `[ 30%] analyzing: …` lines, in order. */
const stagesShown = (stderr: string): string[] => [...stderr.matchAll(/^\[ *\d+%\] (\w+): /gm)].map((m) => m[1]!);

// Texts containing FAIL make the summarizer throw on every attempt.
const summarizer: Summarizer = {
  name: 'test-cli',
  async summarize(run) {
    if (run.text.includes('FAIL')) throw new Error('the model is on fire');
    return extractiveBackend(0).summarize(run);
  },
};

describe('herald against a running system', () => {
  let system: TestSystem;
  let api: string;
  let dir: string;
  let beesFile: string;

  beforeAll(async () => {
    // Stages paced so a watch sees the job live; a short retry: so reconnects are quick.
    system = await startSystem({
      replicas: 1,
      summarizer,
      env: { STAGE_DELAY_MS: '40', SSE_RETRY_MS: '150', JOB_ATTEMPTS: '2', JOB_BACKOFF_MS: '20' },
    });
    api = system.apis[0]!.url;
    dir = await mkdtemp(join(tmpdir(), 'herald-cli-'));
    beesFile = join(dir, 'bees.txt');
    await writeFile(beesFile, BEES);
  });
  afterAll(async () => {
    await system.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('submit prints only the job id, which the API knows', async () => {
    const { code, stdout, stderr } = await runCli(['submit', beesFile, '--url', api]);
    expect(code).toBe(0);
    expect(stderr).toBe('');
    expect(stdout).toMatch(/^[A-Za-z0-9_-]{22}\n$/);
    const snapshot = await request(`${api}/v1/jobs/${stdout.trim()}`);
    expect(snapshot.status).toBe(200);
    expect(snapshot.body.jobId).toBe(stdout.trim());
  });

  it('submit - reads the text from stdin', async () => {
    const { code, stdout } = await runCli(['submit', '-', '--url', api, '--max-sentences', '1'], BEES);
    expect(code).toBe(0);
    const jobId = stdout.trim();
    await runCli(['watch', jobId, '--url', api]);
    const snapshot = await request(`${api}/v1/jobs/${jobId}`);
    expect(snapshot.body.result).toBe(extractiveSummarizer.summarize(BEES, { maxSentences: 1 }).text);
  });

  it('watch --tag follows every job of the tag, one line per event (job id, status, progress, message), until Ctrl-C: exit 130', async () => {
    const tag = `cli:${Date.now()}`;
    const cli = startCli(['watch', '--tag', tag, '--url', api]);
    // External jobs, which stay open until published into: each is on the stream whenever the
    // CLI's stream opens (a job not ended then is replayed from its first event; a later one comes live).
    const jobs: { jobId: string; publishToken: string }[] = [];
    for (let i = 0; i < 2; i += 1) {
      const created = await request(`${api}/v1/jobs`, { json: { kind: 'external', tags: [tag] } });
      expect(created.status).toBe(202);
      jobs.push(created.body);
    }
    const waitFor = async (pattern: (jobId: string) => RegExp): Promise<void> => {
      const deadline = Date.now() + 20_000;
      while (!jobs.every(({ jobId }) => pattern(jobId).test(cli.stdout)) && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    };
    await waitFor((jobId) => new RegExp(`^${jobId}\\tqueued\\t0%`, 'm'));
    for (const job of jobs) {
      const headers = { Authorization: `Bearer ${job.publishToken}` };
      expect(
        (await request(`${api}/v1/jobs/${job.jobId}/events`, { json: { status: 'processing', progress: 40, message: 'Forty' }, headers }))
          .status,
      ).toBe(201);
      expect((await request(`${api}/v1/jobs/${job.jobId}/events`, { json: { status: 'done', result: 'ok' }, headers })).status).toBe(201);
    }
    await waitFor((jobId) => new RegExp(`^${jobId}\\tdone\\t100%`, 'm'));
    cli.child.kill('SIGINT');
    expect(await cli.exited).toBe(130);
    for (const { jobId } of jobs) {
      const lines = cli.stdout.split('\n').filter((line) => line.startsWith(`${jobId}\t`));
      expect(lines).toEqual([
        `${jobId}\tqueued\t0%\tWaiting for the producer`,
        `${jobId}\tprocessing\t40%\tForty`,
        expect.stringMatching(new RegExp(`^${jobId}\\tdone\\t100%`)),
      ]);
    }
  });

  it('submit --watch shows every stage as a plain line and prints the real summary on stdout, exit 0', async () => {
    const { code, stdout, stderr } = await runCli(['submit', '--watch', beesFile, '--url', api]);
    expect(code).toBe(0);
    expect(stagesShown(stderr)).toEqual(STAGES);
    expect(stderr).toMatch(/^\[ 30%\] analyzing: Analyzing 6 sentences$/m);
    const jobId = /submitted job (\S+)/.exec(stderr)![1]!;
    const snapshot = await request(`${api}/v1/jobs/${jobId}`);
    expect(snapshot.body.status).toBe('done');
    expect(stdout).toBe(`${snapshot.body.result}\n`);
    expect(snapshot.body.result).toBe(extractiveSummarizer.summarize(BEES, { maxSentences: 3 }).text);
  });

  it('an open server ignores --api-key: submit --watch with one still works, exit 0', async () => {
    const { code, stdout, stderr } = await runCli(['submit', '--watch', beesFile, '--url', api, '--api-key', 'any-key-0123456789abcdef']);
    expect(code, stderr).toBe(0);
    expect(stdout).toBe(`${extractiveSummarizer.summarize(BEES, { maxSentences: 3 }).text}\n`);
    expect(stderr).not.toContain('any-key-0123456789abcdef');
  });

  it('submit --watch - takes stdin too', async () => {
    const { code, stdout } = await runCli(['submit', '-w', '-', '--url', api, '--max-sentences', '2'], BEES);
    expect(code).toBe(0);
    expect(stdout).toBe(`${extractiveSummarizer.summarize(BEES, { maxSentences: 2 }).text}\n`);
  });

  it('watch of a job that fails exits 1 with the error message', async () => {
    const { body } = await submit(api, `${BEES} FAIL`);
    const { code, stdout, stderr } = await runCli(['watch', body.jobId, '--url', api]);
    expect(code).toBe(1);
    expect(stdout).toBe('');
    expect(stderr).toContain(`job ${body.jobId} failed: the model is on fire (summarize_failed)`);
    expect(stagesShown(stderr).at(-1)).toBe('error');
  });

  it('watch of an external job prints its result on stdout: a string as it is, any other JSON value as one line of JSON', async () => {
    for (const [result, printed] of [
      [{ rows: 12, files: ['a.csv', 'b.csv'], ok: true }, '{"rows":12,"files":["a.csv","b.csv"],"ok":true}'],
      [null, 'null'],
    ] as const) {
      const created = await request(`${api}/v1/jobs`, { json: { kind: 'external' } });
      const published = await request(`${api}/v1/jobs/${created.body.jobId}/events`, {
        json: { status: 'done', result },
        headers: { Authorization: `Bearer ${created.body.publishToken}` },
      });
      expect(published.status).toBe(201);
      const { code, stdout } = await runCli(['watch', created.body.jobId, '--url', api]);
      expect({ code, stdout }).toEqual({ code: 0, stdout: `${printed}\n` });
    }
  });

  it("watch of an unknown job exits 4 with the server's message", async () => {
    const answer = await request(`${api}/v1/jobs/no-such-job`);
    expect(answer.status).toBe(404);
    const { code, stdout, stderr } = await runCli(['watch', 'no-such-job', '--url', api]);
    expect(code).toBe(4);
    expect(stdout).toBe('');
    expect(stderr).toContain(answer.body.error.message);
  });

  it("an empty text gets the server's 400 message and exit 4", async () => {
    const answer = await submit(api, '  \n ');
    expect(answer.status).toBe(400);
    const { code, stdout, stderr } = await runCli(['submit', '-', '--url', api], '  \n ');
    expect(code).toBe(4);
    expect(stdout).toBe('');
    expect(stderr).toContain(answer.body.error.message);
    expect(stderr).toContain(answer.body.error.details[0].message);
  });

  it('usage errors exit 2: an unknown option, a missing argument, an unreadable file', async () => {
    expect((await runCli(['watch', 'x', '--bogus'])).code).toBe(2);
    expect((await runCli(['submit'])).code).toBe(2);
    expect((await runCli(['submit', beesFile, '--max-sentences', '0', '--url', api])).code).toBe(2);
    const missing = await runCli(['submit', join(dir, 'missing.txt'), '--url', api]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('ENOENT');
  });

  it('--help documents the exit codes', async () => {
    const { code, stdout } = await runCli(['--help']);
    expect(code).toBe(0);
    expect(stdout).toMatch(/Exit codes:[\s\S]*0 +the job finished[\s\S]*1 +the job failed[\s\S]*3 +the job was cancelled[\s\S]*4 /);
  });

  it('no server there: submit exits 4 at once, watch after its retries', async () => {
    const nowhere = `http://127.0.0.1:${await freePort()}`;
    const submitted = await runCli(['submit', beesFile, '--url', nowhere]);
    expect(submitted.code).toBe(4);
    expect(submitted.stderr).toContain(`cannot reach ${nowhere}: ECONNREFUSED`);
    const watched = await runCli(['watch', 'x', '--url', nowhere, '--retries', '1']);
    expect(watched.code).toBe(4);
    expect(watched.stderr).toContain('reconnecting in 1.0 s (attempt 1 of 1)');
    expect(watched.stderr).toContain('gave up after 2 failed attempts in a row');
  });

  it('resumes after a dropped connection with Last-Event-ID: every stage exactly once, exit 0', async () => {
    const proxy = new CuttingProxy(api, (n) => (n === 0 ? 2 : Infinity));
    const url = await proxy.listen();
    try {
      const { code, stdout, stderr } = await runCli(['submit', '--watch', beesFile, '--url', url]);
      expect(code, stderr).toBe(0);
      expect(stagesShown(stderr)).toEqual(STAGES);
      expect(stderr).toMatch(/connection lost: .*; reconnecting in 150 ms \(attempt 1 of 5\)/);
      // The first request had no cursor; the second resumed after the last event the first got.
      expect(proxy.eventRequests).toHaveLength(2);
      expect(proxy.eventRequests[0]!['last-event-id']).toBeUndefined();
      expect(proxy.forwardedIds[0]).toHaveLength(2);
      expect(proxy.eventRequests[1]!['last-event-id']).toBe(proxy.forwardedIds[0]![1]);
      const jobId = /submitted job (\S+)/.exec(stderr)![1]!;
      const snapshot = await request(`${api}/v1/jobs/${jobId}`);
      expect(stdout).toBe(`${snapshot.body.result}\n`);
      expect([...proxy.forwardedIds[0]!, ...proxy.forwardedIds[1]!].at(-1)).toBe(snapshot.body.lastEventId);
    } finally {
      await proxy.close();
    }
  });

  it('resumes through several drops, one event each time', async () => {
    const proxy = new CuttingProxy(api, () => 1);
    const url = await proxy.listen();
    try {
      const { code, stderr } = await runCli(['submit', '--watch', beesFile, '--url', url]);
      expect(code, stderr).toBe(0);
      expect(stagesShown(stderr)).toEqual(STAGES);
      // Each request picked up right after the previous one's event: no gap, no repeat.
      for (let i = 1; i < proxy.eventRequests.length; i += 1) {
        expect(proxy.eventRequests[i]!['last-event-id']).toBe(proxy.forwardedIds[i - 1]!.at(-1));
      }
    } finally {
      await proxy.close();
    }
  });

  it('gives up with exit 4 when every connection drops before an event', async () => {
    const proxy = new CuttingProxy(api, () => 0);
    const url = await proxy.listen();
    try {
      const { body } = await submit(api, BEES);
      const { code, stdout, stderr } = await runCli(['watch', body.jobId, '--url', url, '--retries', '2']);
      expect(code).toBe(4);
      expect(stdout).toBe('');
      expect(stderr).toContain('gave up after 3 failed attempts in a row');
      expect(proxy.eventRequests).toHaveLength(3);
      // The server's retry: (150 ms) then doubling.
      expect(stderr).toContain('reconnecting in 150 ms (attempt 1 of 2)');
      expect(stderr).toContain('reconnecting in 300 ms (attempt 2 of 2)');
    } finally {
      await proxy.close();
    }
  });
});

describe('herald publish, jobs and watch --batch', () => {
  let system: TestSystem;
  let api: string;

  beforeAll(async () => {
    system = await startSystem({ replicas: 1, env: { STAGE_DELAY_MS: '20' } });
    api = system.apis[0]!.url;
  });
  afterAll(() => system.close());

  const external = async (body: Record<string, unknown> = {}) => {
    const created = await request(`${api}/v1/jobs`, { json: { kind: 'external', ...body } });
    expect(created.status).toBe(202);
    return created.body as { jobId: string; publishToken: string };
  };

  it("publish sends an event with $HERALD_PUBLISH_TOKEN and prints its id; the end with --result; after it, the server's 409 and exit 4", async () => {
    const { jobId, publishToken } = await external();
    const env = { HERALD_PUBLISH_TOKEN: publishToken };
    const halfway = await runCli(
      ['publish', jobId, '--progress', '40', '--message', 'Halfway', '--stage', 'encode', '--url', api],
      '',
      env,
    );
    expect(halfway.code, halfway.stderr).toBe(0);
    expect(halfway.stdout).toMatch(/^\d+-\d+\n$/);
    const snapshot = (await request(`${api}/v1/jobs/${jobId}`)).body;
    expect(snapshot).toMatchObject({ status: 'processing', progress: 40, message: 'Halfway', stage: 'encode' });
    expect(snapshot.lastEventId).toBe(halfway.stdout.trim());
    const done = await runCli(['publish', jobId, '--result', 'all rows', '--url', api, '--publish-token', publishToken]);
    expect(done.code, done.stderr).toBe(0);
    expect((await request(`${api}/v1/jobs/${jobId}`)).body).toMatchObject({ status: 'done', progress: 100, result: 'all rows' });
    const after = await runCli(['publish', jobId, '--progress', '50', '--url', api], '', env);
    expect(after.code).toBe(4);
    expect(after.stderr).toMatch(/already ended.*\[HTTP 409\]/);
    expect(after.stderr).not.toContain(publishToken);
    const none = await runCli(['publish', (await external()).jobId, '--progress', '1', '--url', api]);
    expect(none.code).toBe(4);
    expect(none.stderr).toMatch(/\[HTTP 401\].*HERALD_PUBLISH_TOKEN/);
    const failed = await runCli(
      ['publish', (await external()).jobId, '--error-code', 'disk_full', '--message', 'No room', '--url', api],
      '',
      {
        HERALD_PUBLISH_TOKEN: 'x',
      },
    );
    expect(failed.code).toBe(4); // another job's token: refused
    const help = await runCli(['publish', '--help'], '', { HERALD_PUBLISH_TOKEN: 'pt-very-secret-value' });
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('HERALD_PUBLISH_TOKEN');
    expect(help.stdout).not.toContain('pt-very-secret-value');
  });

  it('publish --metadata sends the JSON object as given, beside the other fields, as a bearer-authorized POST', async () => {
    // A loopback stand-in for Herald that records what the CLI sent (the server's own support
    // for `metadata` is another change's: this checks the CLI's half).
    let seen: { method?: string; url?: string; authorization?: string; body?: string } = {};
    const stand = createServer((req, res) => {
      let body = '';
      req.on('data', (chunk: Buffer) => (body += chunk.toString('utf8')));
      req.on('end', () => {
        seen = { method: req.method!, url: req.url!, authorization: req.headers.authorization!, body };
        res.writeHead(201, { 'content-type': 'application/json' }).end('{"eventId":"5-0"}');
      });
    });
    stand.listen(0, '127.0.0.1');
    await once(stand, 'listening');
    const port = (stand.address() as { port: number }).port;
    try {
      const metadata = '{"rows":{"done":400,"of":1000},"errors":3}';
      const sent = await runCli(
        ['publish', 'job1234567890123456789', '--progress', '40', '--metadata', metadata, '--url', `http://127.0.0.1:${port}`],
        '',
        { HERALD_PUBLISH_TOKEN: 'pt-secret' },
      );
      expect(sent.code, sent.stderr).toBe(0);
      expect(sent.stdout).toBe('5-0\n');
      expect(seen).toMatchObject({ method: 'POST', url: '/v1/jobs/job1234567890123456789/events', authorization: 'Bearer pt-secret' });
      expect(JSON.parse(seen.body!)).toEqual({ status: 'processing', progress: 40, metadata: JSON.parse(metadata) });
    } finally {
      stand.close();
    }
    for (const bad of ['{not json', '[1, 2]', '"text"']) {
      const refused = await runCli(['publish', 'job1234567890123456789', '--metadata', bad, '--url', api], '', {
        HERALD_PUBLISH_TOKEN: 'x',
      });
      expect(refused.code, bad).toBe(2);
      expect(refused.stderr).toMatch(/--metadata/);
    }
  });

  it('jobs lists by tag and status, newest first, one line each, following nextCursor; --json gives the items', async () => {
    const tag = `cli:${Date.now()}`;
    const made = [
      await external({ tags: [tag], title: 'first' }),
      await external({ tags: [tag, 'x'], title: 'second' }),
      await external({ tags: [tag] }),
    ];
    expect((await request(`${api}/v1/jobs/${made[1]!.jobId}`, { method: 'DELETE' })).status).toBe(202);
    const listed = await runCli(['jobs', '--tag', tag, '--page', '1', '--url', api]);
    expect(listed.code, listed.stderr).toBe(0);
    const lines = listed.stdout
      .trim()
      .split('\n')
      .map((line) => line.split('\t'));
    expect(lines.map((line) => line[0])).toEqual(made.map((job) => job.jobId).reverse());
    expect(lines[1]).toEqual([made[1]!.jobId, 'cancelled', '0%', expect.stringMatching(/^\d{4}-\d\d-\d\dT/), `${tag},x`, 'second']);
    expect(lines[0]![5]).toBe('Waiting for the producer'); // no title: its latest message
    const two = await runCli(['jobs', '--tag', tag, '--page', '1', '--limit', '2', '--url', api]);
    expect(two.stdout.trim().split('\n')).toHaveLength(2);
    const cancelled = await runCli(['jobs', '--tag', tag, '--status', 'cancelled', '--url', api, '--json']);
    const items = cancelled.stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line));
    expect(items).toEqual([(await request(`${api}/v1/jobs?tag=${tag}&status=cancelled`)).body.jobs[0]]);
    expect((await runCli(['jobs', '--tag', 'a b', '--url', api])).code).toBe(2);
    expect((await runCli(['jobs', '--status', 'running', '--url', api])).code).toBe(2);
  });

  it('watch --batch prints a line per job event and per batch event, to the batch’s end, exit 0', async () => {
    const created = await request(`${api}/v1/batches`, { json: { items: [{ text: BEES }, { text: BEES }] } });
    expect(created.status).toBe(202);
    const { batchId, jobIds } = created.body as { batchId: string; jobIds: string[] };
    const watched = await runCli(['watch', '--batch', batchId, '--url', api]);
    expect(watched.code, watched.stderr).toBe(0);
    const lines = watched.stdout
      .trim()
      .split('\n')
      .map((line) => line.split('\t'));
    for (const jobId of jobIds) {
      const own = lines.filter((line) => line[0] === jobId).map((line) => line[1]);
      expect(own[0]).toBe('queued');
      expect(own.at(-1)).toBe('done');
    }
    expect(lines.at(-1)).toEqual(['batch', 'done', '100%', '2/2']);
    expect(lines.filter((line) => line[0] === 'batch').length).toBeGreaterThan(1);
    expect((await runCli(['watch', '--url', api])).code).toBe(2);
    expect((await runCli(['watch', jobIds[0]!, '--batch', batchId, '--url', api])).code).toBe(2);
  });
});

describe('herald watching a job that no worker takes', () => {
  let system: TestSystem;
  let api: string;

  beforeAll(async () => {
    system = await startSystem({ replicas: 1, workers: 0 });
    api = system.apis[0]!.url;
  });
  afterAll(() => system.close());

  it('exits 3 when the job is cancelled', async () => {
    const { body } = await submit(api, BEES);
    const cli = startCli(['watch', body.jobId, '--url', api]);
    await cli.waitForStderr(/queued: Waiting for a worker/);
    expect((await request(`${api}/v1/jobs/${body.jobId}`, { method: 'DELETE' })).status).toBe(202);
    expect(await cli.exited).toBe(3);
    expect(stagesShown(cli.stderr)).toEqual(['queued', 'cancelled']);
    expect(cli.stderr).toContain(`job ${body.jobId} was cancelled`);
    expect(cli.stdout).toBe('');
  });

  it('exits 130 on Ctrl-C, leaving the job alone', async () => {
    const { body } = await submit(api, BEES);
    const cli = startCli(['watch', body.jobId, '--url', api]);
    await cli.waitForStderr(/queued: Waiting for a worker/);
    cli.child.kill('SIGINT');
    expect(await cli.exited).toBe(130);
    expect(cli.stderr).toContain('interrupted; the job goes on');
    expect((await request(`${api}/v1/jobs/${body.jobId}`)).body.status).toBe('queued');
  });
});

describe('herald against a system with auth on', () => {
  const KEY = 'cli-test-key-0123456789abcdef';
  const SECRET = 'a-watch-token-secret-for-the-cli-tests-012345';
  const bearer = (credential: string) => ({ Authorization: `Bearer ${credential}` });
  let system: TestSystem;
  let api: string;
  let dir: string;
  let beesFile: string;

  beforeAll(async () => {
    system = await startSystem({
      replicas: 1,
      env: { API_KEYS: KEY, WATCH_TOKEN_SECRET: SECRET, STAGE_DELAY_MS: '40', SSE_RETRY_MS: '150' },
    });
    api = system.apis[0]!.url;
    dir = await mkdtemp(join(tmpdir(), 'herald-cli-auth-'));
    beesFile = join(dir, 'bees.txt');
    await writeFile(beesFile, BEES);
  });
  afterAll(async () => {
    await system.close();
    await rm(dir, { recursive: true, force: true });
  });

  /** Submitted with the key, straight to the API: the job id and its watch token. */
  async function submitted(): Promise<{ jobId: string; watchToken: string }> {
    const answer = await submit(api, BEES, undefined, bearer(KEY));
    expect(answer.status).toBe(202);
    return answer.body;
  }

  /** The key shows up nowhere in what the CLI wrote. */
  const expectNoKey = (...outputs: string[]) => {
    for (const output of outputs) expect(output).not.toContain(KEY);
  };

  it("submit without a key exits 4 with the server's message and how to pass one; a wrong key too, unprinted", async () => {
    const refused = await submit(api, BEES);
    expect(refused.status).toBe(401);
    const none = await runCli(['submit', beesFile, '--url', api]);
    expect(none.code).toBe(4);
    expect(none.stdout).toBe('');
    expect(none.stderr).toContain(refused.body.error.message);
    expect(none.stderr).toContain('[HTTP 401]');
    expect(none.stderr).toContain('pass --api-key <key> or set HERALD_API_KEY');

    const wrongKey = 'cli-wrong-key-0123456789abcdef';
    const wrong = await runCli(['submit', '--watch', beesFile, '--url', api, '--api-key', wrongKey]);
    expect(wrong.code).toBe(4);
    expect(wrong.stderr).toContain('The API key is not valid [HTTP 401]');
    expect(wrong.stderr).not.toContain(wrongKey);
    expect(wrong.stderr).not.toContain('pass --api-key');
    // A key no Authorization header can carry is a usage error that does not repeat it.
    const spaced = await runCli(['submit', beesFile, '--url', api], undefined, { HERALD_API_KEY: 'not a key ü' });
    expect(spaced.code).toBe(2);
    expect(spaced.stderr).toContain('HERALD_API_KEY: expected printable ASCII');
    expect(spaced.stderr).not.toContain('not a key');
  });

  it('submit --watch --api-key: the key submits, the job’s watch token watches; the summary on stdout, exit 0', async () => {
    const proxy = new CuttingProxy(api, () => Infinity);
    const url = await proxy.listen();
    try {
      const { code, stdout, stderr } = await runCli(['submit', '--watch', beesFile, '--url', url, '--api-key', KEY]);
      expect(code, stderr).toBe(0);
      expect(stagesShown(stderr)).toEqual(STAGES);
      const jobId = /submitted job (\S+)/.exec(stderr)![1]!;
      const snapshot = await request(`${api}/v1/jobs/${jobId}`, { headers: bearer(KEY) });
      expect(snapshot.body.status).toBe('done');
      expect(stdout).toBe(`${snapshot.body.result}\n`);
      // The stream carried the job's token as a bearer (not the key, and not in the URL).
      expect(proxy.eventRequests).toHaveLength(1);
      expect(proxy.eventRequests[0]!.authorization).toMatch(new RegExp(`^Bearer ${jobId}\\.[0-9a-z]+\\.[A-Za-z0-9_-]{43}$`));
      expectNoKey(stdout, stderr);
    } finally {
      await proxy.close();
    }
  });

  it('submit with $HERALD_API_KEY prints the job id; watch <id> with $HERALD_API_KEY follows it, exit 0', async () => {
    const env = { HERALD_API_KEY: KEY };
    const sent = await runCli(['submit', beesFile, '--url', api], undefined, env);
    expect(sent.code, sent.stderr).toBe(0);
    expect(sent.stderr).toBe('');
    const jobId = sent.stdout.trim();
    expect(jobId).toMatch(/^[A-Za-z0-9_-]{22}$/);
    const { code, stdout, stderr } = await runCli(['watch', jobId, '--url', api], undefined, env);
    expect(code, stderr).toBe(0);
    expect(stagesShown(stderr).at(-1)).toBe('done');
    const snapshot = await request(`${api}/v1/jobs/${jobId}`, { headers: bearer(KEY) });
    expect(stdout).toBe(`${snapshot.body.result}\n`);
    expectNoKey(sent.stdout, sent.stderr, stdout, stderr);
  });

  it('watch <id> --token follows the job with its watch token alone, exit 0', async () => {
    const { jobId, watchToken } = await submitted();
    const { code, stdout, stderr } = await runCli(['watch', jobId, '--url', api, '--token', watchToken]);
    expect(code, stderr).toBe(0);
    expect(stagesShown(stderr)).toEqual(STAGES);
    const snapshot = await request(`${api}/v1/jobs/${jobId}?token=${watchToken}`);
    expect(stdout).toBe(`${snapshot.body.result}\n`);
  });

  it('sends a --token of MAX_CREDENTIAL_CHARS (a watch JWT may be that long); one character more is a usage error that does not repeat it', async () => {
    const { jobId } = await submitted();
    const long = 'x'.repeat(MAX_CREDENTIAL_CHARS);
    const sent = await runCli(['watch', jobId, '--url', api, '--token', long]);
    // The server read it (as a bearer no key matches): the CLI let it through.
    expect({ code: sent.code, stderr: sent.stderr }).toEqual({
      code: 4,
      stderr: expect.stringMatching(/The API key is not valid \[HTTP 401\]/),
    });
    const refused = await runCli(['watch', jobId, '--url', api, '--token', `${long}x`]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain(`--token: expected printable ASCII without spaces, at most ${MAX_CREDENTIAL_CHARS} characters`);
    expect(refused.stderr).not.toContain('xxxxxxxx');
  });

  it("a missing, wrong, expired or another job's token exits 4 at once with the server's message, without retrying", async () => {
    const { jobId, watchToken } = await submitted();
    const other = await submitted();
    const [jobPart, expiry, signature] = watchToken.split('.') as [string, string, string];
    const tampered = `${jobPart}.${expiry}.${signature[0] === 'A' ? 'B' : 'A'}${signature.slice(1)}`;
    const expired = new WatchTokens(SECRET, 10).mint(jobId, Date.now() - 60_000);
    const cases: [string[], number, RegExp][] = [
      [[], 401, /A watch token is required.*\[HTTP 401\]; pass --token <watchToken> or --api-key <key>/],
      [['--token', tampered], 401, /The watch token is not valid \[HTTP 401\]$/m],
      [['--token', expired], 401, /The watch token has expired \[HTTP 401\]$/m],
      [['--token', other.watchToken], 403, /This watch token is for another job \[HTTP 403\]$/m],
      [['--api-key', 'cli-wrong-key-0123456789abcdef'], 401, /The API key is not valid \[HTTP 401\]$/m],
    ];
    for (const [credential, status, message] of cases) {
      const proxy = new CuttingProxy(api, () => Infinity);
      const url = await proxy.listen();
      try {
        const { code, stdout, stderr } = await runCli(['watch', jobId, '--url', url, ...credential]);
        expect({ credential, code }).toEqual({ credential, code: 4 });
        expect(stdout).toBe('');
        expect(stderr).toMatch(message);
        expect(stderr).not.toContain('reconnecting');
        expect(proxy.eventRequests).toHaveLength(1);
        const direct = await request(`${api}/v1/jobs/${jobId}/events`, {
          headers: { Accept: 'text/event-stream', ...(credential[1] ? bearer(credential[1]) : {}) },
        });
        expect(direct.status).toBe(status);
        expect(stderr).toContain(direct.body.error.message);
      } finally {
        await proxy.close();
      }
    }
  });

  it('resumes after a dropped connection with the same token and Last-Event-ID: every stage exactly once, exit 0', async () => {
    const proxy = new CuttingProxy(api, (n) => (n === 0 ? 2 : Infinity));
    const url = await proxy.listen();
    try {
      const { code, stdout, stderr } = await runCli(['submit', '--watch', beesFile, '--url', url], undefined, { HERALD_API_KEY: KEY });
      expect(code, stderr).toBe(0);
      expect(stagesShown(stderr)).toEqual(STAGES);
      expect(stderr).toMatch(/connection lost: .*; reconnecting in 150 ms \(attempt 1 of 5\)/);
      expect(proxy.eventRequests).toHaveLength(2);
      const jobId = /submitted job (\S+)/.exec(stderr)![1]!;
      // The reconnect carried the credential the first request had: the job's token.
      const [first, second] = proxy.eventRequests as [IncomingHttpHeaders, IncomingHttpHeaders];
      expect(first.authorization).toMatch(new RegExp(`^Bearer ${jobId}\\.`));
      expect(second.authorization).toBe(first.authorization);
      expect(first['last-event-id']).toBeUndefined();
      expect(second['last-event-id']).toBe(proxy.forwardedIds[0]![1]);
      const snapshot = await request(`${api}/v1/jobs/${jobId}`, { headers: bearer(KEY) });
      expect(stdout).toBe(`${snapshot.body.result}\n`);
      expectNoKey(stdout, stderr);
    } finally {
      await proxy.close();
    }
  });

  it('--help explains the key and the token without showing $HERALD_API_KEY', async () => {
    const { code, stdout } = await runCli(['watch', '--help'], undefined, { HERALD_API_KEY: KEY });
    expect(code).toBe(0);
    expect(stdout).toMatch(/--api-key <key>[\s\S]*HERALD_API_KEY/);
    expect(stdout).toContain('--token <watchToken>');
    expect(stdout).toMatch(/Auth \(a server with API_KEYS set\)/);
    expectNoKey(stdout);
  });
});
