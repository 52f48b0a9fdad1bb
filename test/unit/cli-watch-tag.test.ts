import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { JobEvent } from '../../apps/cli/src/client.ts';
import { createTagBoard } from '../../apps/cli/src/render/tag-board.ts';

// `herald watch --tag T`: the command itself against a stand-in for GET /v1/events?tag=T on
// 127.0.0.1 (not a TTY: one line per event), and the terminal board on its own, fed events and
// read back as the bytes a terminal would get.

const BIN = 'apps/cli/bin/herald.js';

let server: Server | undefined;
const seen: { url: string; authorization: string | undefined }[] = [];

async function standIn(answer: (req: IncomingMessage, res: ServerResponse) => void): Promise<string> {
  seen.length = 0;
  server = createServer((req, res) => {
    seen.push({ url: req.url ?? '', authorization: req.headers.authorization });
    answer(req, res);
  });
  await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}
afterEach(async () => {
  if (!server) return;
  server.closeAllConnections();
  await new Promise((resolve) => server!.close(resolve));
  server = undefined;
});

const frame = (id: string, name: string, data: Record<string, unknown>) =>
  `event: ${name}\nid: ${id}\ndata: ${JSON.stringify({ ts: 1, progress: 0, message: '', ...data })}\n\n`;

function startCli(args: string[]) {
  const child: ChildProcess = spawn(process.execPath, [BIN, ...args], {
    env: { ...process.env, HERALD_URL: '', HERALD_API_KEY: '' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const cli = { child, stdout: '', stderr: '', exited: once(child, 'close').then(([code]) => code as number | null) };
  child.stdout!.on('data', (chunk: Buffer) => (cli.stdout += chunk.toString('utf8')));
  child.stderr!.on('data', (chunk: Buffer) => (cli.stderr += chunk.toString('utf8')));
  return cli;
}

async function until(check: () => boolean, what: () => string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`never happened: ${what()}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe('herald watch --tag, not on a terminal', () => {
  // Real processes, one after another: a loaded CI machine takes seconds to start each.
  it('prints one line per event prefixed by the job id, producer text on one line, until Ctrl-C (exit 130)', {
    timeout: 30_000,
  }, async () => {
    const base = await standIn((_req, res) => {
      res.writeHead(200, { 'Content-Type': 'text/event-stream' });
      res.write(
        frame('c1', 'created', { jobId: 'a', status: 'queued', message: 'Queued' }) +
          frame('c2', 'created', { jobId: 'b', status: 'queued', message: 'Queued' }) +
          frame('c3', 'progress', { jobId: 'a', status: 'processing', progress: 40, message: 'Step\u001b[2J one\r\nnow' }) +
          `event: resync\nid: r4\ndata: ${JSON.stringify({ tag: 'user:1', resync: true, ts: 2 })}\n\n` +
          frame('c5', 'done', { jobId: 'a', status: 'done', progress: 100, message: 'Done', result: 'r' }),
      ); // and the stream stays open, as a tag's does
    });
    const cli = startCli(['watch', '--tag', 'user:1', '--url', base, '--api-key', 'k-1']);
    await until(
      () => cli.stdout.split('\n').length > 4,
      () => cli.stdout + cli.stderr,
    );
    cli.child.kill('SIGINT');
    expect(await cli.exited).toBe(130);
    expect(cli.stdout.split('\n')).toEqual([
      'a\tqueued\t0%\tQueued',
      'b\tqueued\t0%\tQueued',
      'a\tprocessing\t40%\tStep [2J one now',
      'a\tdone\t100%\tDone',
      '',
    ]);
    expect(cli.stderr).toContain('events of tag user:1 may have been missed');
    expect(cli.stderr).toContain("interrupted; the tag's jobs go on");
    expect(seen).toEqual([{ url: '/v1/events?tag=user%3A1&typed=1', authorization: 'Bearer k-1' }]);
  });

  // Real processes, one after another: a loaded CI machine takes seconds to start each.
  it('ends with exit 4 and Herald’s message when refused', { timeout: 30_000 }, async () => {
    const base = await standIn((_req, res) =>
      res.writeHead(403, { 'Content-Type': 'application/json' }).end('{"error":{"code":"forbidden","message":"not your tag"}}'),
    );
    const cli = startCli(['watch', '--tag', 'team.x', '--url', base, '--token', 'a.b.c']);
    expect(await cli.exited).toBe(4);
    expect(cli.stderr).toMatch(/not your tag \[HTTP 403\]/);
    expect(seen).toHaveLength(1);
  });

  // Real processes, one after another: a loaded CI machine takes seconds to start each.
  it('refuses a malformed tag, or --tag beside a job id or --batch, as usage (exit 2), asking nothing', { timeout: 30_000 }, async () => {
    const base = await standIn((_req, res) => res.writeHead(500).end());
    for (const args of [
      ['--tag', 'user 1'],
      ['--tag', 't'.repeat(65)],
      ['job-1', '--tag', 't'],
      ['--batch', 'b', '--tag', 't'],
    ]) {
      const cli = startCli(['watch', ...args, '--url', base]);
      expect({ args, code: await cli.exited }).toEqual({ args, code: 2 });
    }
    expect(seen).toEqual([]);
  });
});

/** A stand-in terminal: what the board writes, and its size. */
function terminal(columns = 80, rows = 24) {
  const writes: string[] = [];
  const out = { columns, rows, isTTY: true, write: (chunk: string) => writes.push(chunk) > 0 } as unknown as NodeJS.WriteStream;
  return { out, writes };
}
const ev = (jobId: string, status: JobEvent['status'], progress: number, message: string, extra: Partial<JobEvent> = {}): JobEvent =>
  ({ jobId, status, progress, message, ts: 1, ...extra }) as JobEvent;

describe('the tag board on a terminal', () => {
  it('rewrites a job’s line in place: the live lines are cleared (cursor up, erase down) and drawn again', () => {
    const { out, writes } = terminal();
    const board = createTagBoard(out);
    board.event(ev('a', 'queued', 0, 'Queued'), '');
    board.event(ev('b', 'queued', 0, 'Queued'), '');
    board.event(ev('a', 'processing', 30, 'Working'), '');
    expect(writes).toEqual([
      'a  queued   0%  Queued\n',
      '\u001b[1F\u001b[Ja  queued   0%  Queued\nb  queued   0%  Queued\n',
      '\u001b[2F\u001b[Ja  processing  30%  Working\nb  queued   0%  Queued\n',
    ]);
  });

  it('keeps an ended job’s last line above the live ones, for good, and no longer redraws it', () => {
    const { out, writes } = terminal();
    const board = createTagBoard(out);
    board.event(ev('a', 'queued', 0, 'Queued'), '');
    board.event(ev('b', 'queued', 0, 'Queued'), '');
    board.event(ev('a', 'done', 100, 'Done', { result: 'r' }), '');
    board.event(ev('b', 'cancelled', 0, 'Cancelled'), '');
    board.notice('reconnecting');
    expect(writes.slice(2)).toEqual([
      '\u001b[2F\u001b[Ja  done 100%  Done\nb  queued   0%  Queued\n',
      '\u001b[1F\u001b[Jb  cancelled   0%  Cancelled\n',
      // Nothing live any more: nothing to clear, the notice alone.
      'herald: reconnecting\n',
    ]);
  });

  it('holds only the jobs under way: a thousand jobs that came and went leave nothing drawn', () => {
    const { out, writes } = terminal(80, 2000);
    const board = createTagBoard(out);
    for (let i = 0; i < 1000; i += 1) board.event(ev(`j${i}`, 'queued', 0, ''), '');
    expect(writes.at(-1)!.split('\n')).toHaveLength(1001); // all live
    for (let i = 0; i < 1000; i += 1) board.event(ev(`j${i}`, 'error', 0, 'Failed'), '');
    board.notice('still here');
    expect(writes.at(-1)).toBe('herald: still here\n');
  });

  it('writes no control character a producer sent, cuts lines to the width, and draws at most rows - 2 live lines', () => {
    const { out, writes } = terminal(30, 5);
    const board = createTagBoard(out);
    board.event(
      ev('a', 'processing', 5, 'Evil\u001b]0;title\u0007 \u009b31m text that is far too long to fit', { stage: 'st\u001bage' }),
      '',
    );
    // 29 characters: one column short of the width, so the terminal never wraps it.
    expect(writes[0]).toBe('a  st age   5%  Evil ]0;titl…\n');
    expect([...writes[0]!.trimEnd()]).toHaveLength(29);
    for (const id of ['b', 'c', 'd', 'e']) board.event(ev(id, 'queued', 0, ''), '');
    expect(writes.at(-1)).toBe(`\u001b[3F\u001b[J${writes[0]}b  queued   0%  \n… and 3 more jobs under way\n`);
  });

  it('shows the end of the text being written, whatever its length', () => {
    const { out, writes } = terminal(200);
    const board = createTagBoard(out);
    const partial = `${'x'.repeat(10_000)}the latest words`;
    board.event(ev('a', 'processing', 50, 'Writing', { delta: 'the latest words', offset: 10_000 }), partial);
    expect(writes[0]).toBe(`a  processing  50%  …${partial.slice(-60)}\n`);
  });
});
