import { describe, expect, it } from 'vitest';
import { refusedAddress, refusedCallback } from '@herald/shared';

// The SSRF guard, as a pure function: nothing here connects anywhere. Each block of the IANA
// special-purpose registries (RFC 6890 and updates) by its first, a middle and its last address,
// written out by hand rather than derived from the guard's own table.

const IPV4_BLOCKS: Record<string, readonly [string, string, string]> = {
  '0.0.0.0/8': ['0.0.0.0', '0.128.0.1', '0.255.255.255'],
  '10.0.0.0/8': ['10.0.0.0', '10.128.0.1', '10.255.255.255'],
  '100.64.0.0/10': ['100.64.0.0', '100.96.0.1', '100.127.255.255'],
  '127.0.0.0/8': ['127.0.0.0', '127.128.0.1', '127.255.255.255'],
  '169.254.0.0/16': ['169.254.0.0', '169.254.169.254', '169.254.255.255'],
  '172.16.0.0/12': ['172.16.0.0', '172.24.0.1', '172.31.255.255'],
  '192.0.0.0/24': ['192.0.0.0', '192.0.0.170', '192.0.0.255'],
  '192.0.2.0/24': ['192.0.2.0', '192.0.2.128', '192.0.2.255'],
  '192.31.196.0/24': ['192.31.196.0', '192.31.196.128', '192.31.196.255'],
  '192.52.193.0/24': ['192.52.193.0', '192.52.193.128', '192.52.193.255'],
  '192.88.99.0/24': ['192.88.99.0', '192.88.99.128', '192.88.99.255'],
  '192.168.0.0/16': ['192.168.0.0', '192.168.128.1', '192.168.255.255'],
  '192.175.48.0/24': ['192.175.48.0', '192.175.48.128', '192.175.48.255'],
  '198.18.0.0/15': ['198.18.0.0', '198.19.0.1', '198.19.255.255'],
  '198.51.100.0/24': ['198.51.100.0', '198.51.100.128', '198.51.100.255'],
  '203.0.113.0/24': ['203.0.113.0', '203.0.113.128', '203.0.113.255'],
  '224.0.0.0/4 (multicast)': ['224.0.0.0', '232.1.2.3', '239.255.255.255'],
  '240.0.0.0/4': ['240.0.0.0', '248.0.0.1', '255.255.255.254'],
  '255.255.255.255/32': ['255.255.255.255', '255.255.255.255', '255.255.255.255'],
};

const IPV6_BLOCKS: Record<string, readonly [string, string, string]> = {
  '::/128': ['::', '::', '::'],
  '::1/128': ['::1', '::1', '::1'],
  '::/96 (IPv4-compatible)': ['::2', '::7f00:1', '::ffff:ffff'],
  '::ffff:0:0/96 (IPv4-mapped, of refused IPv4)': ['::ffff:0.0.0.0', '::ffff:127.0.0.1', '::ffff:198.19.255.255'],
  '64:ff9b::/96 (NAT64, of refused IPv4)': ['64:ff9b::', '64:ff9b::a9fe:a9fe', '64:ff9b::c613:ffff'],
  '64:ff9b:1::/48': ['64:ff9b:1::', '64:ff9b:1:8000::1', '64:ff9b:1:ffff:ffff:ffff:ffff:ffff'],
  '100::/64': ['100::', '100::8000:0:0:1', '100::ffff:ffff:ffff:ffff'],
  '100:0:0:1::/64': ['100:0:0:1::', '100:0:0:1:8000::1', '100:0:0:1:ffff:ffff:ffff:ffff'],
  '2001::/23': ['2001::', '2001:100::1', '2001:1ff:ffff:ffff:ffff:ffff:ffff:ffff'],
  '2001::/32 (Teredo)': ['2001::', '2001:0:8000::1', '2001:0:ffff:ffff:ffff:ffff:ffff:ffff'],
  '2001:2::/48': ['2001:2::', '2001:2:0:8000::1', '2001:2:0:ffff:ffff:ffff:ffff:ffff'],
  '2001:20::/28': ['2001:20::', '2001:28::1', '2001:2f:ffff:ffff:ffff:ffff:ffff:ffff'],
  '2001:db8::/32': ['2001:db8::', '2001:db8:8000::1', '2001:db8:ffff:ffff:ffff:ffff:ffff:ffff'],
  '2002::/16 (6to4)': ['2002::', '2002:7f00:1::', '2002:ffff:ffff:ffff:ffff:ffff:ffff:ffff'],
  '2620:4f:8000::/48': ['2620:4f:8000::', '2620:4f:8000:8000::1', '2620:4f:8000:ffff:ffff:ffff:ffff:ffff'],
  '3fff::/20': ['3fff::', '3fff:800::1', '3fff:fff:ffff:ffff:ffff:ffff:ffff:ffff'],
  '5f00::/16': ['5f00::', '5f00:8000::1', '5f00:ffff:ffff:ffff:ffff:ffff:ffff:ffff'],
  'fc00::/7': ['fc00::', 'fd00:ec2::254', 'fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff'],
  'fe80::/10': ['fe80::', 'fe80::1', 'febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff'],
  'fec0::/10 (site-local)': ['fec0::', 'fef0::1', 'feff:ffff:ffff:ffff:ffff:ffff:ffff:ffff'],
  'ff00::/8 (multicast)': ['ff00::', 'ff02::1', 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff'],
  'outside 2000::/3': ['4000::', '8000::1', 'fbff:ffff:ffff:ffff:ffff:ffff:ffff:ffff'],
};

describe('the SSRF guard: only global unicast', () => {
  it.each(Object.entries({ ...IPV4_BLOCKS, ...IPV6_BLOCKS }))(
    'refuses %s: its first, a middle and its last address',
    (_block, addresses) => {
      for (const address of addresses)
        expect({ address, refused: refusedAddress(address) }).toEqual({ address, refused: expect.any(String) });
    },
  );

  it('lets global unicast through, next to the refused blocks too', () => {
    for (const address of [
      '1.1.1.1',
      '8.8.8.8',
      '9.255.255.255',
      '11.0.0.0',
      '100.63.255.255',
      '100.128.0.0',
      '126.255.255.255',
      '128.0.0.0',
      '169.253.255.255',
      '169.255.0.0',
      '172.15.255.255',
      '172.32.0.0',
      '192.0.1.0',
      '192.0.3.0',
      '192.167.255.255',
      '192.169.0.0',
      '198.17.255.255',
      '198.20.0.0',
      '223.255.255.255',
      '2606:4700::1111',
      '2a00:1450:4001::1',
      '2001:200::1',
      '2001:db9::1',
      '2003::1',
      '2620:4f:7fff:ffff::1',
      '2620:4f:8001::1',
      '3fff:1000::1',
      '::ffff:8.8.8.8', // IPv4-mapped: the IPv4 it maps
      '64:ff9b::808:808', // NAT64 to a public IPv4
    ]) {
      expect({ address, refused: refusedAddress(address) }).toEqual({ address, refused: null });
    }
  });

  it('names what it refuses', () => {
    expect(refusedAddress('198.18.0.1')).toBe('benchmarking');
    expect(refusedAddress('::ffff:169.254.169.254')).toBe('linkLocal');
    expect(refusedAddress('64:ff9b::a9fe:a9fe')).toBe('linkLocal');
    expect(refusedAddress('2002:a9fe:a9fe::')).toBe('6to4');
    expect(refusedAddress('fec0::1')).toBe('reserved');
    expect(refusedAddress('not-an-ip')).toBe('unknown');
  });

  it('refuses those literal addresses at submission (the URL parser normalising them first)', () => {
    for (const url of [
      'http://198.18.0.1/',
      'http://[::7f00:1]:18096/',
      'http://[64:ff9b:1::a9fe:a9fe]/',
      'http://[fec0::1]/',
      'http://[2002:7f00:1::]/',
      'http://[64:ff9b::7f00:1]/',
      'http://[::ffff:a9fe:a9fe]/',
      'http://3325256705/', // 198.51.100.1
      'http://0xc0a80001/', // 192.168.0.1
    ]) {
      expect({ url, refused: refusedCallback(url, []) }).toEqual({ url, refused: expect.stringContaining('WEBHOOK_ALLOWED_HOSTS') });
    }
  });
});
