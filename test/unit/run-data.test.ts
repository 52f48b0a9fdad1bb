import { describe, expect, it } from 'vitest';
import { type JobEvent, foldPartial, foldStreams, mergePatch, producerEventSchema, STREAM_NAME } from '@herald/contract';
import { createLineRenderer } from '../../apps/cli/src/render/lines.ts';

// The contract's side of a job's run data: RFC 7396 as @herald/contract's mergePatch (the
// reference test/integration/run-data.test.ts holds the publish script to), named streams'
// names and folding, and what a producer's event may carry.

describe('mergePatch (RFC 7396)', () => {
  // RFC 7396, Appendix A: every example, [target, patch, result].
  const examples: [unknown, unknown, unknown][] = [
    [{ a: 'b' }, { a: 'c' }, { a: 'c' }],
    [{ a: 'b' }, { b: 'c' }, { a: 'b', b: 'c' }],
    [{ a: 'b' }, { a: null }, {}],
    [{ a: 'b', b: 'c' }, { a: null }, { b: 'c' }],
    [{ a: ['b'] }, { a: 'c' }, { a: 'c' }],
    [{ a: 'c' }, { a: ['b'] }, { a: ['b'] }],
    [{ a: { b: 'c' } }, { a: { b: 'd', c: null } }, { a: { b: 'd' } }],
    [{ a: [{ b: 'c' }] }, { a: [1] }, { a: [1] }],
    [
      ['a', 'b'],
      ['c', 'd'],
      ['c', 'd'],
    ],
    [{ a: 'b' }, ['c'], ['c']],
    [{ a: 'foo' }, null, null],
    [{ a: 'foo' }, 'bar', 'bar'],
    [{ e: null }, { a: 1 }, { e: null, a: 1 }],
    [[1, 2], { a: 'b', c: null }, { a: 'b' }],
    [{}, { a: { bb: { ccc: null } } }, { a: { bb: {} } }],
  ];
  it('gives every result of the RFC’s Appendix A, changing neither argument', () => {
    for (const [target, patch, result] of examples) {
      const before = JSON.stringify([target, patch]);
      expect(mergePatch(target, patch)).toEqual(result);
      expect(JSON.stringify([target, patch])).toBe(before);
    }
  });

  it('keeps a member named __proto__ a member: no prototype is set', () => {
    const merged = mergePatch({}, JSON.parse('{"__proto__":{"polluted":true}}')) as Record<string, unknown>;
    expect(Object.getPrototypeOf(merged)).toBe(Object.prototype);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(JSON.stringify(merged)).toBe('{"__proto__":{"polluted":true}}');
  });
});

describe('named streams', () => {
  it('names: 1 to 32 of a-z, 0-9, _ and -', () => {
    for (const name of ['log', 'a', 'x'.repeat(32), 'ffmpeg-log_2', '__proto__']) expect(STREAM_NAME.test(name), name).toBe(true);
    for (const name of ['', 'x'.repeat(33), 'Log', 'a b', 'é', 'log\n', 'a.b', '{t}']) expect(STREAM_NAME.test(name), name).toBe(false);
  });

  it('fold each on its own, as the answer folds, and leave the answer’s deltas alone', () => {
    let streams: Readonly<Record<string, string>> = {};
    streams = foldStreams(streams, { stream: 'log', delta: 'one ', offset: 0 });
    streams = foldStreams(streams, { delta: 'the answer', offset: 0 });
    streams = foldStreams(streams, { stream: 'log', delta: 'two', offset: 4 });
    streams = foldStreams(streams, { stream: '__proto__', delta: 'x', offset: 0 });
    streams = foldStreams(streams, { stream: 'log', delta: 'again', offset: 0 });
    expect(streams).toEqual(JSON.parse('{"log":"again","__proto__":"x"}'));
  });

  it('a producer’s event: stream goes with delta; metadata is an object at most 32 deep, with any status', () => {
    const schema = producerEventSchema(100, 100);
    expect(schema.safeParse({ status: 'processing', stream: 'log', delta: 'x', offset: 0 }).success).toBe(true);
    expect(schema.safeParse({ status: 'processing', stream: 'log' }).success).toBe(false);
    expect(schema.safeParse({ status: 'processing', stream: 'Log', delta: 'x', offset: 0 }).success).toBe(false);
    expect(schema.safeParse({ status: 'done', metadata: { rows: 1 } }).success).toBe(true);
    expect(schema.safeParse({ status: 'processing', metadata: [1] }).success).toBe(false);
    let deep: Record<string, unknown> = {};
    for (let i = 0; i < 32; i += 1) deep = { deep };
    expect(schema.safeParse({ status: 'processing', metadata: deep }).success).toBe(false);
  });
});

describe('the CLI’s line renderer', () => {
  it('runs the summary on as it comes, and gives a named stream’s piece a line of its own', () => {
    let out = '';
    const write = (text: string): boolean => {
      out += text;
      return true;
    };
    const renderer = createLineRenderer({ write } as unknown as NodeJS.WritableStream);
    const events: JobEvent[] = [
      { jobId: 'j', status: 'processing', progress: 40, stage: 'writing', message: 'Writing', delta: 'The bees', offset: 0, ts: 1 },
      {
        jobId: 'j',
        status: 'processing',
        progress: 40,
        stage: 'encode',
        message: 'Encoding',
        stream: 'log',
        delta: 'frame 1',
        offset: 0,
        ts: 2,
      },
      { jobId: 'j', status: 'processing', progress: 50, stage: 'writing', message: 'Writing', delta: ' fly.', offset: 8, ts: 3 },
    ];
    let partial = '';
    for (const event of events) {
      partial = foldPartial(partial, event);
      renderer.event(event, partial);
    }
    renderer.stop();
    expect(out).not.toContain('starts again');
    expect(out).toContain('The bees\n');
    expect(out).toContain('Encoding\n');
    expect(out.endsWith(' fly.\n')).toBe(true);
  });
});
