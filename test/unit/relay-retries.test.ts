import { afterEach, describe, expect, it, vi } from 'vitest';
import { RelayRetries } from '../../packages/shared/src/events/relay-retries.ts';

// A tag relay that failed is tried twice more in the background (200 ms, then 1 s later), then
// told; never more than a bounded number wait at once.

afterEach(() => {
  vi.useRealTimers();
});

const failing = () => {
  const tries = { count: 0 };
  const attempt = (): Promise<void> => {
    tries.count += 1;
    return Promise.reject(new Error('away'));
  };
  return { tries, attempt };
};

describe('RelayRetries', () => {
  it('returns after the first try, retries after 200 ms and 1 s, then gives up and says so', async () => {
    vi.useFakeTimers();
    const gaveUp: [string, string][] = [];
    const retries = new RelayRetries((_error, jobId, why) => gaveUp.push([jobId, why]));
    const { tries, attempt } = failing();
    await retries.run('job-1', attempt);
    expect([tries.count, retries.pending]).toEqual([1, 1]);
    await vi.advanceTimersByTimeAsync(199);
    expect(tries.count).toBe(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(tries.count).toBe(2);
    await vi.advanceTimersByTimeAsync(1_000);
    expect([tries.count, retries.pending]).toEqual([3, 0]);
    expect(gaveUp).toEqual([['job-1', 'retries-failed']]);
    await vi.advanceTimersByTimeAsync(10_000);
    expect(tries.count).toBe(3);
  });

  it('stops at the first try that works', async () => {
    vi.useFakeTimers();
    const gaveUp: string[] = [];
    const retries = new RelayRetries((_error, jobId) => gaveUp.push(jobId));
    let count = 0;
    await retries.run('job-1', () => {
      count += 1;
      return count === 1 ? Promise.reject(new Error('away')) : Promise.resolve();
    });
    await vi.advanceTimersByTimeAsync(5_000);
    expect([count, retries.pending, gaveUp]).toEqual([2, 0, []]);
  });

  it('holds at most its bound of retries waiting: past it, a failed relay is dropped and told at once', async () => {
    vi.useFakeTimers();
    const gaveUp: [string, string][] = [];
    const retries = new RelayRetries((_error, jobId, why) => gaveUp.push([jobId, why]), [200, 1_000], 3);
    for (let i = 0; i < 5; i += 1) await retries.run(`job-${i}`, failing().attempt);
    expect(retries.pending).toBe(3);
    expect(gaveUp).toEqual([
      ['job-3', 'too-many-pending'],
      ['job-4', 'too-many-pending'],
    ]);
  });
});
