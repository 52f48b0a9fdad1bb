import { afterEach, describe, expect, it, vi } from 'vitest';
import { EndPacer } from '../../../apps/api/src/stream/end-pacer.ts';

// The pace at which a replica ends finished streams: at once under the budget, then a 5 ms
// tick's budget at a time, in order.

afterEach(() => {
  vi.useRealTimers();
});

describe('EndPacer', () => {
  it('ends at once while under a tick’s budget, then the rest a tick’s budget at a time, in order', () => {
    vi.useFakeTimers();
    const pacer = new EndPacer(2000); // 10 per 5 ms tick
    const ended: number[] = [];
    for (let i = 0; i < 25; i += 1) pacer.end(() => ended.push(i));
    expect(ended).toEqual(Array.from({ length: 10 }, (_, i) => i));
    expect(pacer.waiting).toBe(15);
    vi.advanceTimersByTime(5);
    expect(ended).toHaveLength(20);
    vi.advanceTimersByTime(5);
    expect(ended).toEqual(Array.from({ length: 25 }, (_, i) => i));
    expect(pacer.waiting).toBe(0);
  });

  it('refills its budget once the burst is over: a later end goes at once, and the timer stops', () => {
    vi.useFakeTimers();
    const pacer = new EndPacer(200); // 1 per tick
    const ended: string[] = [];
    pacer.end(() => ended.push('a'));
    pacer.end(() => ended.push('b'));
    vi.advanceTimersByTime(5);
    expect(ended).toEqual(['a', 'b']);
    vi.advanceTimersByTime(50);
    expect(vi.getTimerCount()).toBe(0);
    pacer.end(() => ended.push('c'));
    expect(ended).toEqual(['a', 'b', 'c']);
  });

  it('at rate 0 ends everything at once, with no timer; flush ends what waits', () => {
    vi.useFakeTimers();
    const immediate = new EndPacer(0);
    const ended: number[] = [];
    for (let i = 0; i < 1000; i += 1) immediate.end(() => ended.push(i));
    expect(ended).toHaveLength(1000);
    expect(vi.getTimerCount()).toBe(0);

    const paced = new EndPacer(200);
    for (let i = 0; i < 5; i += 1) paced.end(() => ended.push(i));
    paced.flush();
    expect(ended).toHaveLength(1005);
    expect(vi.getTimerCount()).toBe(0);
  });
});
