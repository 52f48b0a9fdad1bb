import { describe, expect, it } from 'vitest';
import { describeFailure, failureCodes, finalFailureEvent, isRetryable, retryEvent } from '../../../packages/worker/src/jobs/failure.ts';
import { JobError } from '../../../packages/worker/src/jobs/job-error.ts';
import { summarizeKind } from '../../../apps/worker/src/kinds/summarize.ts';
import { extractiveBackend } from '../../../apps/worker/src/summarizer/extractive-backend.ts';
import { SummarizerError } from '../../../apps/worker/src/summarizer/errors.ts';

// How a failed run reads to its watchers, for any kind: the generic JobError, the summarize kind's
// own codes, and job_failed for every other kind (docs/api.md, "Failures").

const summarize = summarizeKind(extractiveBackend(0));
const wordCount = { name: 'word-count' };

describe('a final failure', () => {
  it('of a summarize job: summarize_failed, with a message naming the kind', () => {
    expect(finalFailureEvent(new Error('the model is on fire\n    at secret (/srv/x.ts:1:1)'), summarize)).toEqual({
      status: 'error',
      progress: 0,
      message: 'The summarize job failed',
      error: { code: 'summarize_failed', message: 'the model is on fire' },
    });
  });

  it('of a job of any other kind: job_failed, with a message naming that kind', () => {
    expect(finalFailureEvent(new Error('out of ink'), wordCount)).toEqual({
      status: 'error',
      progress: 0,
      message: 'The word-count job failed',
      error: { code: 'job_failed', message: 'out of ink' },
    });
    expect(describeFailure(new Error(''), wordCount)).toEqual({ code: 'job_failed', message: 'The word-count job failed' });
  });

  it('names a kind queued by another version quoted and cut short', () => {
    const odd = { name: `new\nkind ${'x'.repeat(100)}` };
    expect(finalFailureEvent(new JobError('unknown_kind', 'no such kind', false), odd).message).toBe(
      `The ${JSON.stringify(odd.name.slice(0, 50))} job failed`,
    );
  });

  it("keeps a JobError's own code and message, whatever the kind, and a stalled job's job_stalled", () => {
    expect(describeFailure(new JobError('invalid_input', 'not a word-count input', false), wordCount)).toEqual({
      code: 'invalid_input',
      message: 'not a word-count input',
    });
    expect(describeFailure(new SummarizerError('upstream_timeout', 'too slow', true), summarize)).toEqual({
      code: 'upstream_timeout',
      message: 'too slow',
    });
    expect(describeFailure(new Error('job stalled more than allowable limit'), wordCount).code).toBe('job_stalled');
  });

  it('an empty result: empty_summary for summarize, job_failed for any other kind', () => {
    expect(failureCodes(summarize)).toEqual({ failed: 'summarize_failed', empty: 'empty_summary' });
    expect(failureCodes(wordCount)).toEqual({ failed: 'job_failed', empty: 'job_failed' });
  });
});

describe('retries', () => {
  it('a SummarizerError is a JobError; either with retryable: false ends the job at once, any other error is retried', () => {
    expect(new SummarizerError('upstream_auth', 'refused', false)).toBeInstanceOf(JobError);
    expect(isRetryable(new SummarizerError('upstream_auth', 'refused', false))).toBe(false);
    expect(isRetryable(new JobError('unknown_kind', 'no such kind', false))).toBe(false);
    expect(isRetryable(new JobError('job_failed', 'try again', true))).toBe(true);
    expect(isRetryable(new Error('transient'))).toBe(true);
  });

  it('announces a failed attempt with its one-line reason', () => {
    expect(retryEvent(new Error('transient hiccup\n  at x'), wordCount, 1, 3)).toEqual({
      status: 'processing',
      progress: 0,
      message: 'Attempt 1 of 3 failed (transient hiccup); retrying',
    });
  });
});
