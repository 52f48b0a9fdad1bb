import { describe, expect, it } from 'vitest';
import { compareStreamIds, formatStreamId, parseStreamId } from '@herald/contract';
import { decodeWireEvent, encodeWireEvent } from '@herald/shared';

describe('stream ids', () => {
  it('parses <ms>-<seq> and nothing else', () => {
    expect(parseStreamId('1700000000000-12')).toEqual({ ms: 1700000000000, seq: 12 });
    for (const bad of ['', '12', '12-', '-1', '1-2-3', 'a-1', '1.5-0', ' 1-0', '1-0 ', '9999999999999999-0']) {
      expect(parseStreamId(bad)).toBeNull();
    }
  });

  it('orders numerically, not as strings', () => {
    const ordered = ['9-0', '10-0', '10-1', '10-10', '100-0'].map((id) => parseStreamId(id)!);
    for (let i = 1; i < ordered.length; i += 1) {
      expect(compareStreamIds(ordered[i]!, ordered[i - 1]!)).toBeGreaterThan(0);
      expect(compareStreamIds(ordered[i - 1]!, ordered[i]!)).toBeLessThan(0);
    }
    expect(compareStreamIds(parseStreamId('5-5')!, parseStreamId('5-5')!)).toBe(0);
    expect(formatStreamId(ordered[3]!)).toBe('10-10');
  });
});

describe('pub/sub wire format', () => {
  it('round-trips id, status and JSON holding spaces', () => {
    const event = { id: '1-0', status: 'done', data: '{"message":"all good now"}' };
    expect(decodeWireEvent(encodeWireEvent(event))).toEqual(event);
  });

  it('rejects a message without the three parts', () => {
    expect(decodeWireEvent('1-0')).toBeNull();
    expect(decodeWireEvent('1-0 done')).toBeNull();
  });
});
