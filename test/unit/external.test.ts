import { describe, expect, it } from 'vitest';
import { producerEventSchema, submitRequestSchema } from '@herald/contract';
import { eventBytes, refusedAddress, refusedCallback } from '@herald/shared';
import { PublishTokens } from '../../apps/api/src/auth/publish-tokens.ts';
import { WatchTokens } from '../../apps/api/src/auth/watch-tokens.ts';

// External jobs' pure rules: what a producer may send, where a webhook may go, publish tokens.
// (The job's rules in Redis — order, the end, idempotency — are test/integration/external.test.ts.)

const JOB = 'AAAAAAAAAAAAAAAAAAAAAA';
/** `levels` arrays, one inside the other: [[[…]]]. */
const nested = (levels: number): unknown => JSON.parse(`${'['.repeat(levels)}${']'.repeat(levels)}`);
const OTHER_JOB = 'BBBBBBBBBBBBBBBBBBBBBB';

describe('a producer’s event', () => {
  const schema = producerEventSchema(20, 8);

  it('defaults message to empty and leaves progress to the job when absent', () => {
    expect(schema.parse({ status: 'processing' })).toEqual({ status: 'processing', message: '' });
    expect(schema.parse({ status: 'done', result: 'ok' })).toEqual({ status: 'done', message: '', result: 'ok' });
    expect(schema.parse({ status: 'processing', progress: 5, delta: 'ab', offset: 0 })).toMatchObject({ delta: 'ab', offset: 0 });
  });

  it.each([
    [{ status: 'queued' }, 'status'],
    [{ status: 'processing', result: 'x' }, 'result'],
    [{ status: 'done', result: 'x'.repeat(21) }, 'result'],
    [{ status: 'error' }, 'error'],
    [{ status: 'cancelled', error: { code: 'c', message: 'm' } }, 'error'],
    [{ status: 'error', error: { code: '', message: 'm' } }, 'error.code'],
    [{ status: 'processing', offset: 3 }, 'offset'],
    [{ status: 'error', error: { code: 'c', message: 'm' }, delta: 'a', offset: 0 }, 'delta'],
    [{ status: 'processing', delta: 'x'.repeat(9), offset: 0 }, 'delta'],
    [{ status: 'processing', ts: 5 }, ''],
    [{ status: 'processing', result: { rows: 1 } }, 'result'],
    [{ status: 'done', result: { rows: 'x'.repeat(10) } }, 'result'],
    [{ status: 'done', result: nested(33) }, 'result'],
  ])('refuses %j at %j', (body, path) => {
    const result = schema.safeParse(body);
    expect(result.success).toBe(false);
    expect(result.error!.issues.map((issue) => issue.path.join('.'))).toContain(path);
  });

  it('takes any JSON value as the result, bounded by its JSON’s length (too_big: a 413) and its depth', () => {
    for (const result of [{ rows: 12 }, [1, 'a'], 12, 0, 1.5, true, false, null, '', 'a string'])
      expect(schema.parse({ status: 'done', result })).toEqual({ status: 'done', message: '', result });
    // 20 characters of JSON exactly, and 32 levels exactly: taken.
    expect(schema.safeParse({ status: 'done', result: { rows: 'x'.repeat(9) } }).success).toBe(true);
    expect(JSON.stringify({ rows: 'x'.repeat(9) })).toHaveLength(20);
    expect(producerEventSchema(1000, 8).safeParse({ status: 'done', result: nested(32) }).success).toBe(true);
    const tooLong = schema.safeParse({ status: 'done', result: { rows: 'x'.repeat(10) } });
    expect(tooLong.error!.issues).toMatchObject([
      { code: 'too_big', path: ['result'], message: expect.stringContaining('MAX_TEXT_CHARS (20)') },
    ]);
    const tooDeep = producerEventSchema(1000, 8).safeParse({ status: 'done', result: nested(33) });
    expect(tooDeep.error!.issues).toMatchObject([{ code: 'custom', path: ['result'], message: 'result must nest at most 32 levels deep' }]);
  });
});

describe('a producer’s event’s size (MAX_EVENT_BYTES)', () => {
  const ts = 1_765_000_000_000;
  const stored = (event: Record<string, unknown>) => Buffer.byteLength(JSON.stringify({ jobId: JOB, ...event, ts }));

  it('is its JSON as stored, in UTF-8 bytes, escapes included: a control character is 6 bytes', () => {
    const message = '\u0001"\\é😀\ud800'; // escaped (6, 2, 2), two and four UTF-8 bytes, a lone surrogate (6)
    expect(eventBytes(JOB, { status: 'processing', progress: 5, message }, ts)).toBe(
      stored({ status: 'processing', progress: 5, message }),
    );
    expect(eventBytes(JOB, { status: 'processing', progress: 5, message: '\u0001'.repeat(1000) }, ts)).toBe(
      stored({ status: 'processing', progress: 5, message: '' }) + 6000,
    );
  });

  it('leaves `result` aside (MAX_TEXT_CHARS bounds it) and counts a kept progress as three digits', () => {
    const done = { status: 'done', progress: 100, message: 'ok' } as const;
    expect(eventBytes(JOB, { ...done, result: '\u0001'.repeat(100_000) }, ts)).toBe(stored(done));
    expect(eventBytes(JOB, { status: 'processing', message: '' }, ts)).toBe(stored({ status: 'processing', progress: 100, message: '' }));
  });
});

describe('an external job’s submission', () => {
  const submit = submitRequestSchema(50);

  it('takes a title, metadata and a callbackUrl, and nothing of a summary', () => {
    expect(submit.parse({ kind: 'external' })).toEqual({ kind: 'external' });
    const full = { kind: 'external', title: 'Import', metadata: { rows: 10, nested: { ok: true } }, callbackUrl: 'https://h.example/x' };
    expect(submit.parse(full)).toEqual(full);
    for (const body of [
      { kind: 'external', text: 'Hi.' },
      { kind: 'external', metadata: [1] },
      { kind: 'external', callbackUrl: 'ftp://x' },
    ]) {
      expect(submit.safeParse(body).success, JSON.stringify(body)).toBe(false);
    }
  });

  it('names the built-in kinds, and where the registered ones are, when the built-in body is not one of theirs', () => {
    const result = submit.safeParse({ kind: 'transcode' });
    expect(result.error!.issues.map((issue) => issue.message)).toContain(
      'kind must be summarize, external or a registered kind (GET /v1/kinds)',
    );
  });
});

describe('where a webhook may go', () => {
  it.each([
    ['127.0.0.1', 'loopback'],
    ['127.0.0.2', 'loopback'],
    ['::1', 'loopback'],
    ['::ffff:127.0.0.1', 'loopback'],
    ['10.1.2.3', 'private'],
    ['192.168.0.1', 'private'],
    ['169.254.169.254', 'linkLocal'],
    ['fe80::1', 'linkLocal'],
    ['fd00:ec2::254', 'uniqueLocal'],
    ['0.0.0.0', 'unspecified'],
    ['100.64.0.1', 'carrierGradeNat'],
    ['not-an-ip', 'unknown'],
  ])('refuses %s (%s)', (address, range) => {
    expect(refusedAddress(address)).toBe(range);
  });

  it('lets public unicast addresses through', () => {
    for (const address of ['93.184.215.14', '2606:2800:21f:cb07:6820:80da:af6b:8b2c']) expect(refusedAddress(address)).toBeNull();
  });

  it('judges literal addresses at submission, names later, and lets listed hosts through', () => {
    expect(refusedCallback('http://127.0.0.2:9/hook', [])).toMatch(/loopback address; list its host in WEBHOOK_ALLOWED_HOSTS/);
    expect(refusedCallback('http://[::1]/hook', [])).toMatch(/loopback/);
    expect(refusedCallback('http://0x7f000001/hook', [])).toMatch(/loopback/); // the URL parser makes it 127.0.0.1
    expect(refusedCallback('http://localhost/hook', [])).toBeNull(); // resolved at delivery
    expect(refusedCallback('http://127.0.0.2:9/hook', ['127.0.0.2'])).toBeNull();
    expect(refusedCallback('http://[::1]/hook', ['[::1]'])).toBeNull();
    expect(refusedCallback('http://127.0.0.3/hook', ['127.0.0.2'])).toMatch(/loopback/);
  });
});

describe('publish tokens', () => {
  const tokens = new PublishTokens(async () => 's'.repeat(32));

  it('are bound to their job and cannot be forged or swapped', async () => {
    const token = await tokens.mint(JOB);
    expect(token).toMatch(new RegExp(`^${JOB}\\.[A-Za-z0-9_-]{43}$`));
    expect(await tokens.check(token, JOB)).toBe('valid');
    expect(await tokens.check(token, OTHER_JOB)).toBe('other-job');
    const signature = token.split('.')[1]!;
    expect(await tokens.check(`${OTHER_JOB}.${signature}`, OTHER_JOB)).toBe('invalid');
    expect(await new PublishTokens(async () => 't'.repeat(32)).check(token, JOB)).toBe('invalid');
    expect(await tokens.check(`${JOB}.${signature.slice(0, -1)}`, JOB)).toBe('invalid');
  });

  it('are told apart from watch tokens by shape, and a watch token signed with the same secret does not pass', async () => {
    const watch = new WatchTokens('s'.repeat(32), 60).mint(JOB);
    expect(PublishTokens.looksLikeToken(watch)).toBe(false);
    expect(WatchTokens.looksLikeToken(await tokens.mint(JOB))).toBe(false);
    expect(await tokens.check(watch, JOB)).toBe('invalid');
  });
});
