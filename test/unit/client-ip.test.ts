import { describe, expect, it } from 'vitest';
import { limitSubject } from '../../apps/api/src/http/client-ip.ts';

describe('the subject per-IP limits count', () => {
  it('is the IPv4 address itself, also when it arrives IPv4-mapped', () => {
    expect(limitSubject('203.0.113.9')).toBe('203.0.113.9');
    expect(limitSubject('::ffff:203.0.113.9')).toBe('203.0.113.9');
  });

  it("is an IPv6 address's /64: one subscriber's block is one client", () => {
    expect(limitSubject('2001:db8:1:2::1')).toBe('2001:db8:1:2::/64');
    expect(limitSubject('2001:db8:1:2:ffff:ffff:ffff:ffff')).toBe('2001:db8:1:2::/64');
    expect(limitSubject('2001:db8:1:3::1')).toBe('2001:db8:1:3::/64');
    expect(limitSubject('::1')).toBe('0:0:0:0::/64');
  });
});
