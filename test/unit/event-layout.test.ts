import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { type JobEvent, jobEventSchema, type ProgressUpdate } from '@herald/contract';
import {
  BATCH_COUNT_KEYS,
  BATCH_EVENT_KEYS,
  BATCH_EVENT_START,
  batchEventJson,
  encodeWireEvent,
  eventBytes,
  JOB_ERROR_KEYS,
  JOB_EVENT_KEYS,
  JOB_EVENT_START,
  jobEventJson,
  jobEventJsonParts,
  PROGRESS_KEY,
  publishedAt,
  TS_KEY,
} from '@herald/shared';
import { eventName, FanoutEvent } from '../../apps/api/src/stream/fanout-event.ts';

// The event's JSON has one owner, events/event-layout.ts; the publisher writes through it, the
// fan-out reads through it, and publish-6.lua, which splices and writes that JSON as text, states
// what it relies on in its header. These check the three against the module (and
// test/integration/event-layout.test.ts runs real events through all three).

const SCRIPT = readFileSync(new URL('../../packages/shared/src/redis/scripts/publish-6.lua', import.meta.url), 'utf8');
const TS = 1_800_000_000_123;
const tricky = 'a "ts":1, "delta": and {"batchId": in a string, \n and ✓ and 😀';

/**
 * Every optional field's combination: each group is in or out (`delta` and `offset` come
 * together). A metadata patch's keys are written unescaped, so it holds the keys the fan-out
 * reads (`delta`, `offset`, `ts`), one ending it as `offset` ends a text event.
 */
const OPTIONAL: Partial<ProgressUpdate>[] = [
  { stage: 'writing' },
  { result: tricky },
  { error: { code: 'summarize_failed', message: tricky } },
  { metadata: { ts: 1, delta: tricky, nested: { batchId: 'x', offset: 3 }, offset: 12 } },
  { stream: 'log' },
  { delta: tricky, offset: 12 },
];
const combinations = (): Partial<ProgressUpdate>[] =>
  OPTIONAL.reduce<Partial<ProgressUpdate>[]>((all, group) => all.flatMap((some) => [some, { ...some, ...group }]), [{}]);

describe('the event’s layout (events/event-layout.ts)', () => {
  it('states every key of the contract’s event once', () => {
    expect([...JOB_EVENT_KEYS].sort()).toEqual(Object.keys(jobEventSchema.shape).sort());
    expect(new Set(JOB_EVENT_KEYS).size).toBe(JOB_EVENT_KEYS.length);
  });

  it('a job’s JSON: its keys in the module’s order whatever the caller’s, jobId (then batchId) first, split just before progress, ts last; the values as given', () => {
    for (const batchId of [null, 'B'.repeat(22)]) {
      for (const optional of combinations()) {
        const body = { ...optional, message: tricky, progress: 42, status: 'processing' } as ProgressUpdate;
        const [head, tail] = jobEventJsonParts('J'.repeat(22), batchId, body, TS);
        expect(head.startsWith(JOB_EVENT_START) && head.endsWith(PROGRESS_KEY)).toBe(true);
        expect(tail.startsWith(',') && tail.endsWith(`${TS_KEY}${TS}}`)).toBe(true);
        const json = jobEventJson('J'.repeat(22), batchId, body, TS);
        expect(json).toBe(`${head}42${tail}`);
        const parsed = JSON.parse(json) as Record<string, unknown>;
        expect(Object.keys(parsed)).toEqual(JOB_EVENT_KEYS.filter((key) => key in parsed));
        expect(parsed).toEqual({ jobId: 'J'.repeat(22), ...(batchId === null ? {} : { batchId }), ...body, ts: TS });
        if (body.error) expect(Object.keys(parsed.error as object)).toEqual([...JOB_ERROR_KEYS]);
        // Reversing the caller's keys changes nothing.
        const reversed = Object.fromEntries(Object.entries(body).reverse()) as ProgressUpdate;
        expect(jobEventJson('J'.repeat(22), batchId, reversed, TS)).toBe(json);
      }
    }
  });

  it('has the order docs/api.md’s table of the event states', () => {
    const docs = readFileSync(new URL('../../docs/api.md', import.meta.url), 'utf8');
    const section = docs.slice(docs.indexOf('## The event\n'), docs.indexOf('A client must ignore fields'));
    const rows = [...section.matchAll(/^\| `(\w+)` \|/gm)].map((match) => match[1]);
    expect(rows).toEqual([...JOB_EVENT_KEYS]);
  });

  it('writes every event the README shows byte for byte as shown (Herald’s own events kept their order)', () => {
    const shown = readFileSync(new URL('../../README.md', import.meta.url), 'utf8')
      .split('\n')
      .filter((line) => line.startsWith('# data: {"jobId"'))
      .map((line) => line.slice('# data: '.length));
    expect(shown.length).toBeGreaterThan(5);
    for (const json of shown) {
      const { jobId, batchId, ts, ...body } = JSON.parse(json) as JobEvent;
      expect(jobEventJson(jobId, batchId ?? null, body, ts)).toBe(json);
    }
  });

  it('a batch’s own JSON: its keys and its counts in the module’s order, batchId first, ts last', () => {
    const json = batchEventJson('B'.repeat(22), 'processing', 37, { cancelled: 5, error: 4, done: 3, processing: 2, queued: 1 }, TS);
    expect(json.startsWith(BATCH_EVENT_START)).toBe(true);
    const parsed = JSON.parse(json) as { counts: object };
    expect(Object.keys(parsed)).toEqual([...BATCH_EVENT_KEYS]);
    expect(Object.keys(parsed.counts)).toEqual([...BATCH_COUNT_KEYS]);
    expect(parsed).toEqual({
      batchId: 'B'.repeat(22),
      status: 'processing',
      progress: 37,
      counts: { queued: 1, processing: 2, done: 3, error: 4, cancelled: 5 },
      ts: TS,
    });
  });

  it('the publisher measures the JSON it writes (MAX_EVENT_BYTES), every field but result', () => {
    for (const optional of combinations()) {
      const body = { ...optional, message: tricky, progress: 42, status: 'processing' } as ProgressUpdate;
      const { result: _result, ...measured } = body;
      expect(eventBytes('J'.repeat(22), body, TS)).toBe(Buffer.byteLength(jobEventJson('J'.repeat(22), null, measured, TS)));
    }
  });
});

describe('the fan-out reads the module’s JSON without parsing it', () => {
  it('its ts, its name (batch, delta, progress, an end) and its frame, whatever its strings hold', () => {
    for (const optional of combinations()) {
      const body = { ...optional, message: tricky, progress: 42, status: 'processing' } as ProgressUpdate;
      const json = jobEventJson('J'.repeat(22), 'B'.repeat(22), body, TS);
      expect(publishedAt(json)).toBe(TS);
      expect(eventName('processing', json)).toBe(body.delta === undefined ? 'progress' : 'delta');
      expect(eventName('job:processing', json)).toBe(body.delta === undefined ? 'progress' : 'delta');
      expect(eventName('error', json)).toBe('error');
      const event = new FanoutEvent('1-0', { ms: 1, seq: 0 }, 'processing', json);
      expect([event.ts, event.data]).toEqual([TS, json]);
    }
    const batch = batchEventJson(tricky, 'done', 100, { queued: 0, processing: 0, done: 2, error: 0, cancelled: 0 }, TS);
    expect([publishedAt(batch), eventName('done', batch)]).toEqual([TS, 'batch']);
  });
});

describe('publish-6.lua against the module (its header, "The event’s JSON", and its code)', () => {
  /** The statement that begins with `start`: its line and those that go on with `..`. */
  function statement(start: string): string {
    const from = SCRIPT.indexOf(start);
    expect(from, `publish-6.lua has no ${start}`).toBeGreaterThanOrEqual(0);
    const lines = SCRIPT.slice(from).split('\n');
    const end = lines.findIndex((line, i) => i > 0 && !line.trimStart().startsWith('..') && !lines[i - 1]!.trimEnd().endsWith('..'));
    return lines.slice(0, end).join('\n');
  }
  const keysIn = (text: string): string[] => [...text.matchAll(/"(\w+)":/g)].map((match) => match[1]!);

  it('splices the progress between the publisher’s head and tail, and publishes "<id> <status> <JSON>" (events/wire.ts)', () => {
    expect(SCRIPT).toContain('local data = ARGV[4] .. progress .. ARGV[5]');
    expect(SCRIPT).toContain("redis.call('SPUBLISH', ARGV[1], id .. ' ' .. ARGV[2] .. ' ' .. data)");
    expect(encodeWireEvent({ id: 'ID', status: 'STATUS', data: 'DATA' })).toBe('ID STATUS DATA');
  });

  it('writes a batch’s own event with the module’s keys and counts in the module’s order, as its header says', () => {
    const counts = statement('local counts = ');
    expect(keysIn(counts)).toEqual([...BATCH_COUNT_KEYS]);
    const event = statement('local event = ');
    expect(event.trimStart().startsWith(`local event = '${BATCH_EVENT_START}'`)).toBe(true);
    expect(keysIn(event)).toEqual([...BATCH_EVENT_KEYS]);
    expect(event).toMatch(/',"ts":' \.\. ARGV\[8\] \.\. '}'\s*$/);
    const stated = `{"batchId":…,"status":…,"progress":…,"counts":{${BATCH_COUNT_KEYS.map((key) => `"${key}":…`).join(',')}},"ts":…}`;
    expect(SCRIPT).toContain(stated);
    expect(keysIn(stated)).toEqual([...BATCH_EVENT_KEYS.slice(0, 4), ...BATCH_COUNT_KEYS, 'ts']);
  });

  it('names its owner, and the publisher’s head and tail as the module builds them', () => {
    expect(SCRIPT).toContain('packages/shared/src/events/event-layout.ts');
    expect(SCRIPT).toContain(`a job's event is ARGV[4] .. progress .. ARGV[5]\n`);
    expect(SCRIPT).toContain(`the head ends with \`${PROGRESS_KEY}\`\n`);
    expect(SCRIPT).toContain(`the tail ends with \`${TS_KEY}<ms>}\`\n`);
  });
});
