import { describe, expect, it } from 'vitest';
import { APIConnectionError, APIConnectionTimeoutError, APIError } from 'openai';
import { SummarizerError } from '../../../apps/worker/src/summarizer/errors.ts';
import { modelFailure } from '../../../apps/worker/src/summarizer/openai/model-errors.ts';

// What the SDK's errors mean for a job: a code, whether to retry, and words of our own.

const answered = (status: number) =>
  APIError.generate(status, { error: { message: 'The key sk-live-LEAK is wrong; your text was: SECRET TEXT' } }, undefined, new Headers());

describe('modelFailure', () => {
  it.each([
    [401, 'upstream_auth', false],
    [403, 'upstream_auth', false],
    [404, 'upstream_rejected', false],
    [400, 'upstream_rejected', false],
    [422, 'upstream_rejected', false],
    [429, 'upstream_unavailable', true],
    [500, 'upstream_unavailable', true],
    [503, 'upstream_unavailable', true],
  ])('HTTP %i is %s (retryable: %s), in words that quote nothing the server said', (status, code, retryable) => {
    const failure = modelFailure(answered(status));
    expect(failure).toBeInstanceOf(SummarizerError);
    expect([failure.code, failure.retryable]).toEqual([code, retryable]);
    expect(failure.message).not.toMatch(/LEAK|SECRET/);
  });

  it('tells a server that could not be reached from one that was too slow, from an answer that broke off', () => {
    expect(modelFailure(new APIConnectionError({ message: 'connect ECONNREFUSED' })).code).toBe('upstream_unreachable');
    expect(modelFailure(new APIConnectionTimeoutError()).code).toBe('upstream_timeout');
    expect(modelFailure(new TypeError('terminated')).code).toBe('upstream_dropped');
  });

  it('treats an error event inside a 200 stream as an answer that broke off, quoting nothing the server said', () => {
    const inStream = new APIError(
      undefined,
      { message: 'The key sk-live-LEAK; your text: SECRET TEXT', type: 'server_error' },
      undefined,
      new Headers(),
    );
    const failure = modelFailure(inStream);
    expect([failure.code, failure.retryable]).toEqual(['upstream_dropped', true]);
    expect(failure.message).toBe('The model server broke off its answer with an error event');
    expect(failure.message).not.toMatch(/LEAK|SECRET/);
  });

  it('keeps a failure that is already ours', () => {
    const own = new SummarizerError('truncated_answer', 'stopped at the limit', false);
    expect(modelFailure(own)).toBe(own);
  });
});
