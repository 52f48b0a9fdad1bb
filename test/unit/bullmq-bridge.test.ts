import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { isJobId, TAG_PATTERN } from '@herald/contract';
import { ApiKeys } from '../../apps/api/src/auth/api-keys.ts';
import { parseBridgeArgs } from '../../packages/worker/src/bridge/command.ts';
import { apiKeyId, bridgedJobId, bullmqTag } from '../../packages/worker/src/bridge/ids.ts';
import { MAX_BRIDGED_TEXT_CHARS, progressUpdate, stepOf } from '../../packages/worker/src/bridge/translate.ts';

// The BullMQ bridge's pure parts (docs/api.md, "The BullMQ bridge"): how a BullMQ job is named on
// Herald's side, and what each BullMQ event becomes. test/integration/bullmq-bridge.test.ts runs it whole.

describe('a bridged job’s tag and id', () => {
  it('is bullmq:<queue>:<id> when that keeps the tag rule', () => {
    expect(bullmqTag('emails', '42')).toBe('bullmq:emails:42');
    expect(bullmqTag('a.b-c_d', 'job:7')).toBe('bullmq:a.b-c_d:job:7');
  });

  it('is bullmq: and 40 hex characters of its SHA-256 when longer than 64 or holding other characters', () => {
    const long = bullmqTag('q', 'x'.repeat(60));
    expect(long).toBe(
      `bullmq:${createHash('sha256')
        .update(`bullmq:q:${'x'.repeat(60)}`)
        .digest('hex')
        .slice(0, 40)}`,
    );
    expect(bullmqTag('q', 'x'.repeat(60))).toBe(long);
    expect(bullmqTag('my queue', '1')).toMatch(/^bullmq:[0-9a-f]{40}$/);
    expect(bullmqTag('q', 'ü')).toMatch(/^bullmq:[0-9a-f]{40}$/);
    expect(bullmqTag('q', '')).toBe('bullmq:q:');
    // Exactly 64 stays as is; 65 is digested.
    const id57 = 'y'.repeat(64 - 'bullmq:q:'.length);
    expect(bullmqTag('q', id57)).toBe(`bullmq:q:${id57}`);
    expect(bullmqTag('q', `${id57}y`)).toMatch(/^bullmq:[0-9a-f]{40}$/);
    for (const tag of [long, bullmqTag('q', id57)]) expect(TAG_PATTERN.test(tag)).toBe(true);
  });

  it('has a Herald job id that is the same every time, and differs by prefix, queue and job', () => {
    const id = bridgedJobId('bull', 'emails', '42');
    expect(isJobId(id)).toBe(true);
    expect(bridgedJobId('bull', 'emails', '42')).toBe(id);
    expect(
      new Set([id, bridgedJobId('other', 'emails', '42'), bridgedJobId('bull', 'emailz', '42'), bridgedJobId('bull', 'emails', '43')]).size,
    ).toBe(4);
    for (let i = 0; i < 500; i += 1) expect(isJobId(bridgedJobId('bull', 'q', String(i)))).toBe(true);
  });

  it('owns jobs as the API key’s id the API derives', () => {
    const secret = 'a-watch-token-secret-of-forty-characters!';
    const key = 'key-bridge-owner-0123456789';
    const keys = ApiKeys.fromConfig({ API_KEYS: [key], ADMIN_API_KEYS: [], WATCH_TOKEN_SECRET: secret });
    expect(apiKeyId(secret, key)).toBe(keys.match(key)!.keyId);
  });
});

describe('what a BullMQ event becomes', () => {
  it('added makes the job; active is processing', () => {
    expect(stepOf({ event: 'added', jobId: '1', name: 'work' })).toEqual({ kind: 'create', bullmqJobId: '1' });
    expect(stepOf({ event: 'active', jobId: '1', prev: 'waiting' })).toEqual({
      kind: 'publish',
      bullmqJobId: '1',
      update: { status: 'processing', message: 'Running' },
    });
  });

  it('cuts the texts a queue’s jobs write (message, stage, failure reason) to MAX_BRIDGED_TEXT_CHARS', () => {
    const long = 'x'.repeat(10 * MAX_BRIDGED_TEXT_CHARS);
    const cut = 'x'.repeat(MAX_BRIDGED_TEXT_CHARS);
    expect(progressUpdate(long).message).toBe(cut);
    expect(progressUpdate({ message: long, stage: long })).toMatchObject({ message: cut, stage: cut });
    const failed = stepOf({ event: 'failed', jobId: '1', failedReason: long });
    expect(failed).toMatchObject({ update: { message: cut, error: { message: cut } } });
  });

  it('progress: a number, or {progress, message, stage, metadata}; within 0..100, whole', () => {
    expect(progressUpdate(42.7)).toEqual({ status: 'processing', message: '', progress: 42 });
    expect(progressUpdate(250)).toEqual({ status: 'processing', message: '', progress: 100 });
    expect(progressUpdate(-3)).toEqual({ status: 'processing', message: '', progress: 0 });
    expect(progressUpdate({ progress: 30, message: 'half', stage: 's1', metadata: { a: 1 } })).toEqual({
      status: 'processing',
      message: 'half',
      progress: 30,
      stage: 's1',
      metadata: { a: 1 },
    });
    // No progress: the job's stays; fields of the wrong type are left out.
    expect(progressUpdate({ message: 7, stage: '', metadata: [1] })).toEqual({ status: 'processing', message: '' });
    expect(stepOf({ event: 'progress', jobId: '1', data: '{"progress":5}' })).toEqual({
      kind: 'publish',
      bullmqJobId: '1',
      update: { status: 'processing', message: '', progress: 5 },
    });
  });

  it('completed is done with the return value; null when it returned nothing', () => {
    const done = (returnvalue: string) => stepOf({ event: 'completed', jobId: '1', returnvalue, prev: 'active' });
    expect(done('{"a":[1,2]}')).toMatchObject({ update: { status: 'done', progress: 100, result: { a: [1, 2] } } });
    expect(done('"text"')).toMatchObject({ update: { result: 'text' } });
    expect(done('')).toMatchObject({ update: { result: null } });
    expect(done('null')).toMatchObject({ update: { result: null } });
  });

  it('a retried attempt (waiting after active, or delayed) is processing; the final failure is error', () => {
    expect(stepOf({ event: 'waiting', jobId: '1', prev: 'active' })).toEqual({ kind: 'retry', bullmqJobId: '1' });
    expect(stepOf({ event: 'waiting', jobId: '1' })).toEqual({ kind: 'skip' });
    expect(stepOf({ event: 'delayed', jobId: '1', delay: '5' })).toEqual({ kind: 'retry-if-failed', bullmqJobId: '1' });
    expect(stepOf({ event: 'failed', jobId: '1', failedReason: 'boom', prev: 'active' })).toEqual({
      kind: 'publish',
      bullmqJobId: '1',
      update: { status: 'error', message: 'boom', error: { code: 'bullmq_failed', message: 'boom' } },
    });
    expect(stepOf({ event: 'retries-exhausted', jobId: '1', attemptsMade: '2' })).toEqual({ kind: 'skip' });
    expect(stepOf({ event: 'drained' })).toEqual({ kind: 'skip' });
  });
});

describe('herald-worker bridge’s arguments', () => {
  it('takes --queue (required), --prefix, --redis-url, --tag…, --owner-key-id, --lease-ms', () => {
    expect(parseBridgeArgs(['--queue', 'q', '--tag', 'a', '--tag', 'b', '--lease-ms', '2000'])).toMatchObject({
      queue: 'q',
      tags: ['a', 'b'],
      leaseMs: 2000,
    });
    expect(() => parseBridgeArgs([])).toThrow(/--queue is required/);
    expect(() => parseBridgeArgs(['--queue', 'q', '--lease-ms', '5'])).toThrow(/--lease-ms/);
    expect(() => parseBridgeArgs(['--queue', 'q', '--nope'])).toThrow();
  });
});
