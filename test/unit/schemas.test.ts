import { describe, expect, it } from 'vitest';
import { jobEventSchema, submitRequestSchema } from '@herald/contract';

const submit = submitRequestSchema(50);

describe('submit request', () => {
  it('accepts text with and without options', () => {
    expect(submit.parse({ text: 'Hello there.' })).toEqual({ kind: 'summarize', text: 'Hello there.' });
    expect(submit.parse({ text: 'Hi.', options: { maxSentences: 20 } })).toEqual({
      kind: 'summarize',
      text: 'Hi.',
      options: { maxSentences: 20 },
    });
    expect(submit.parse({ kind: 'summarize', text: 'Hi.', options: {} })).toEqual({ kind: 'summarize', text: 'Hi.', options: {} });
  });

  it.each([
    [{}, 'text'],
    [{ text: '   \n\t' }, 'text'],
    [{ text: '...!!!???' }, 'text'],
    [{ text: '—— ☃ 🎉 ·' }, 'text'],
    [{ text: 'x'.repeat(51) }, 'text'],
    [{ text: 'ok', extra: true }, ''],
    [{ text: 'ok', options: { maxSentences: 0 } }, 'options.maxSentences'],
    [{ text: 'ok', options: { maxSentences: 21 } }, 'options.maxSentences'],
    [{ text: 'ok', options: { maxSentences: 2.5 } }, 'options.maxSentences'],
    [{ text: 'ok', options: { tone: 'dry' } }, 'options'],
  ])('rejects %j at %j', (body, path) => {
    const result = submit.safeParse(body);
    expect(result.success).toBe(false);
    expect(result.error!.issues.map((issue) => issue.path.join('.'))).toContain(path);
  });

  it('takes any text with a letter or a digit, in any script', () => {
    for (const text of ['a', '7', '好', 'Ж!', '...a...', '٣']) expect(submit.safeParse({ text }).success, text).toBe(true);
  });

  it('counts characters, not bytes, against the limit', () => {
    expect(submit.safeParse({ text: '世'.repeat(50) }).success).toBe(true);
  });
});

describe('event', () => {
  const base = { jobId: 'j', status: 'processing', progress: 30, message: 'Analyzing', stage: 'analyzing', ts: 1 };

  it('accepts the contract shape, with result on done and error on error', () => {
    expect(jobEventSchema.parse(base)).toEqual(base);
    expect(jobEventSchema.parse({ ...base, status: 'done', progress: 100, result: 'S' }).result).toBe('S');
    expect(jobEventSchema.parse({ ...base, status: 'error', error: { code: 'c', message: 'm' } }).error).toEqual({
      code: 'c',
      message: 'm',
    });
  });

  it.each([
    [{ ...base, status: 'paused' }],
    [{ ...base, progress: 101 }],
    [{ ...base, progress: -1 }],
    [{ ...base, progress: 1.5 }],
    [{ ...base, stack: 'at x' }],
    [{ ...base, error: { code: 'c', message: 'm', stack: 's' } }],
  ])('rejects %j', (event) => {
    expect(jobEventSchema.safeParse(event).success).toBe(false);
  });
});
