import { describe, expect, it } from 'vitest';
import { hasInexactNumber, parseKeepingDigits } from '@herald/shared';

// A result's numbers keep the digits they were written with (packages/shared/src/events/exact-json.ts).

describe('numbers kept as written', () => {
  it.each([
    '12345678901234567890123',
    '9007199254740993',
    '1.10',
    '1E3',
    '1e400',
    '-0',
    '0.30000000000000004',
    '{"a":[1.0,2,{"b":100000000000000000001}],"c":"1.0","d":null}',
  ])('%s comes back as it was written, and the scan says it needs to be kept', (json) => {
    expect(JSON.stringify(parseKeepingDigits(json))).toBe(json);
    expect(hasInexactNumber(json)).toBe(true);
  });

  it('keeps plain numbers (and everything else) as JSON.parse makes them', () => {
    const parsed = parseKeepingDigits('{"progress":50,"f":1.5,"s":"12345678901234567890","t":true,"n":null}');
    expect(parsed).toEqual({ progress: 50, f: 1.5, s: '12345678901234567890', t: true, n: null });
  });

  it.each([
    '{"rows":12,"ids":[1,-2,0,-10,123456789012345]}',
    '{"s":"1.10 and 12345678901234567890 and -0 in a string","e":"\\"1.5\\""}',
    '[true,false,null,"e","E"]',
    '-1',
    '0',
  ])('%s has no number a double would change: no second parse', (json) => {
    expect(hasInexactNumber(json)).toBe(false);
    expect(JSON.stringify(JSON.parse(json))).toBe(json);
  });
});
