import { describe, expect, it } from 'vitest';
import { RETRY_AFTER_CAP_MS, retryAfterMs, webhookRetryDelay } from '../../../apps/worker/src/chores/webhook-retries.ts';

describe('Retry-After', () => {
  const now = Date.parse('2026-12-07T12:00:00Z');

  it('reads delay-seconds and HTTP dates, as a wait from now', () => {
    expect(retryAfterMs('120', now)).toBe(120_000);
    expect(retryAfterMs(' 0 ', now)).toBe(0);
    expect(retryAfterMs('Mon, 07 Dec 2026 12:00:30 GMT', now)).toBe(30_000);
    expect(retryAfterMs('Mon, 07 Dec 2026 11:00:00 GMT', now)).toBe(0); // already past
  });

  it('caps what a receiver may ask for', () => {
    expect(retryAfterMs('999999999', now)).toBe(RETRY_AFTER_CAP_MS);
    expect(retryAfterMs('Fri, 01 Jan 2100 00:00:00 GMT', now)).toBe(RETRY_AFTER_CAP_MS);
  });

  it('ignores what it cannot read', () => {
    for (const value of [undefined, '', 'soon', '-5', '1.5', `${'9'.repeat(100)}`, 'x'.repeat(16_000)]) {
      expect({ value, wait: retryAfterMs(value, now) }).toEqual({ value, wait: null });
    }
  });
});

describe('the webhook backoff', () => {
  it('doubles with each retry, with equal jitter: between half of the doubled delay and all of it', () => {
    for (const [retry, full] of [
      [1, 200],
      [2, 400],
      [3, 800],
      [8, 200 * 128],
    ] as const) {
      expect(webhookRetryDelay(retry, 200, null, 0)).toBe(full / 2);
      expect(webhookRetryDelay(retry, 200, null, 0.999_999)).toBe(full);
      expect(webhookRetryDelay(retry, 200, null, 0.5)).toBe((full * 3) / 4);
    }
  });

  it('spreads the retries of many webhooks to one receiver', () => {
    const delays = new Set(Array.from({ length: 50 }, () => webhookRetryDelay(3, 10_000, null)));
    expect(delays.size).toBeGreaterThan(40);
    for (const delay of delays) expect(delay).toBeGreaterThanOrEqual(20_000);
    for (const delay of delays) expect(delay).toBeLessThanOrEqual(40_000);
  });

  it('waits at least what Retry-After asked for', () => {
    expect(webhookRetryDelay(1, 150, 5_000, 0.5)).toBe(5_000);
    expect(webhookRetryDelay(4, 10_000, 5_000, 0)).toBe(40_000); // the backoff is longer already
  });
});
