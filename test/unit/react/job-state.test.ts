import { describe, expect, it } from 'vitest';
import { HeraldError, type JobEvent } from '@herald/client';
import { applyJobEvent, initialJob, withConnection } from '../../../packages/react/src/job-state.ts';
import type { JobState } from '../../../packages/react/src/types.ts';

// What a hook's job state becomes with each event (the fold the browser test sees end to end).

const event = (fields: Partial<JobEvent>): JobEvent => ({ jobId: 'j', status: 'processing', progress: 10, message: '', ts: 1, ...fields });
const step = <R>(job: JobState<R>, id: string, fields: Partial<JobEvent>, typed?: boolean | ((text: string) => R), resync = false) =>
  applyJobEvent(
    job,
    { id, event: event(fields), partial: resync ? String(fields.result ?? '') : 'ignored', metadata: {}, streams: {}, resync },
    'live',
    typed,
  );

describe('a job’s state, event by event', () => {
  it('folds the text from its own partial (so a reopened stream carries it on), keeps the stage, and ends', () => {
    let job = initialJob<string>('connecting');
    job = step(job, '1-0', { status: 'queued', progress: 0, stage: 'queued', message: 'Queued' });
    job = step(job, '2-0', { progress: 40, stage: 'summarizing', delta: 'Bees ', offset: 0 });
    job = step(job, '3-0', { progress: 50, delta: 'make honey.', offset: 5 });
    expect(job).toMatchObject({
      status: 'processing',
      stage: 'summarizing',
      partial: 'Bees make honey.',
      connection: 'live',
      lastEventId: '3-0',
    });
    // A retried attempt writes again from offset 0: the text is the new attempt's.
    job = step(job, '4-0', { progress: 60, delta: 'Bees', offset: 0 });
    expect(job.partial).toBe('Bees');
    job = step(job, '5-0', { status: 'done', progress: 100, stage: 'done', result: 'Bees make honey.' });
    expect(job).toMatchObject({
      status: 'done',
      result: 'Bees make honey.',
      partial: 'Bees make honey.',
      connection: 'ended',
      error: null,
      lastEventId: '5-0',
    });
    // Written without deltas (the extractive summarizer): the text is the result too.
    expect(step(initialJob<string>('live'), '1-0', { status: 'done', progress: 100, result: 'All of it.' }).partial).toBe('All of it.');
    // The stream's later failure does not touch an ended job.
    expect(withConnection(job, 'failed', new HeraldError(0, 'gave_up', 'x'))).toBe(job);
  });

  it('keeps the answer text the deltas wrote when the result is not a string', () => {
    let job = step(initialJob<unknown>('live'), '1-0', { delta: 'Reading rows…', offset: 0 });
    job = step(job, '2-0', { status: 'done', progress: 100, result: { rows: 12 } });
    expect(job).toMatchObject({ status: 'done', partial: 'Reading rows…', result: { rows: 12 }, connection: 'ended' });
  });

  it('a resync replaces the text; a job’s error event is its error, and it has ended', () => {
    let job = step(initialJob<string>('live'), '1-0', { delta: 'old text', offset: 0 });
    job = step(job, '9-0', { progress: 70, result: 'new' }, undefined, true);
    expect(job.partial).toBe('new');
    job = step(job, '10-0', { status: 'error', progress: 70, error: { code: 'model_failed', message: 'no' } });
    expect(job).toMatchObject({ status: 'error', error: { code: 'model_failed', message: 'no' }, connection: 'ended', result: null });
  });

  it('typed: true parses the result as JSON, a function as it says; a result it cannot parse is an invalid_event HeraldError', () => {
    const done = { status: 'done' as const, progress: 100, result: '{"words":3}' };
    expect(step(initialJob<{ words: number }>('live'), '1-0', done, true).result).toEqual({ words: 3 });
    expect(step(initialJob<number>('live'), '1-0', done, (text) => text.length).result).toBe(11);
    expect(step(initialJob<string>('live'), '1-0', done).result).toBe('{"words":3}');
    // Any other JSON value is the result as it came, whatever `typed` says.
    const object = { status: 'done' as const, progress: 100, result: { words: 3, big: [1.5, null] } };
    expect(step(initialJob<{ words: number }>('live'), '1-0', object, true).result).toEqual({ words: 3, big: [1.5, null] });
    expect(step(initialJob<unknown>('live'), '1-0', object, () => 'not called').result).toEqual({ words: 3, big: [1.5, null] });
    expect(step(initialJob<unknown>('live'), '1-0', { ...object, result: null }, true).result).toBeNull();
    expect(step(initialJob<unknown>('live'), '1-0', { ...object, result: 42 }).result).toBe(42);
    expect(() => step(initialJob('live'), '1-0', { ...done, result: 'not json' }, true)).toThrow(
      expect.objectContaining({ name: 'HeraldError', code: 'invalid_event' }),
    );
  });
});

describe('a job’s metadata and named streams, event by event', () => {
  it('merges each patch from its own state (RFC 7396) and folds each stream on its own; a resync replaces both', () => {
    const live = (job: JobState<string>, id: string, fields: Partial<JobEvent>) =>
      applyJobEvent(
        job,
        { id, event: event(fields), partial: '', metadata: { ignored: true }, streams: { ignored: 'x' }, resync: false },
        'live',
        undefined,
      );
    let job = initialJob<string>('live');
    expect(job).toMatchObject({ metadata: {}, streams: {} });
    job = live(job, '1-0', { status: 'queued', progress: 0, metadata: { rows: 0, of: 1000, source: { file: 'a.csv' } } });
    job = live(job, '2-0', { metadata: { rows: 400, errors: 3 }, stream: 'log', delta: 'frame 1\n', offset: 0 });
    const unchanged = job.metadata;
    job = live(job, '3-0', { stream: 'errors', delta: 'row 7: bad date', offset: 0 });
    expect(job.metadata).toBe(unchanged); // no patch: the same object, so React sees no change
    job = live(job, '4-0', { metadata: { errors: null, source: { file: 'b.csv' } }, stream: 'log', delta: 'frame 2\n', offset: 8 });
    // A retried attempt writes a stream again from offset 0, leaving the others and the answer alone.
    job = live(job, '5-0', { stream: 'errors', delta: 'row 9', offset: 0 });
    expect(job).toMatchObject({
      metadata: { rows: 400, of: 1000, source: { file: 'b.csv' } },
      streams: { log: 'frame 1\nframe 2\n', errors: 'row 9' },
      partial: '',
    });
    expect(job.metadata).not.toHaveProperty('errors');
    // A resync's merged metadata and streams replace what was folded.
    const resynced = applyJobEvent(
      job,
      { id: '9-0', event: event({ progress: 90 }), partial: '', metadata: { rows: 900 }, streams: { log: 'all' }, resync: true },
      'live',
      undefined,
    );
    expect(resynced).toMatchObject({ metadata: { rows: 900 }, streams: { log: 'all' } });
  });
});
