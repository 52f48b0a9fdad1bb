import ipaddr from 'ipaddr.js';

type Block = readonly [cidr: string, name: string];

/**
 * The IANA IPv4 Special-Purpose Address Registry (RFC 6890 and its updates), with multicast
 * (224.0.0.0/4) beside it: every block that is not global unicast. Listed here rather than taken
 * from a library's idea of `unicast`, which lagged (ipaddr.js 1.9 let 198.18.0.0/15 through).
 */
const IPV4_SPECIAL: readonly Block[] = [
  ['0.0.0.0/8', 'unspecified'], // "this network"
  ['10.0.0.0/8', 'private'],
  ['100.64.0.0/10', 'carrierGradeNat'], // shared address space
  ['127.0.0.0/8', 'loopback'],
  ['169.254.0.0/16', 'linkLocal'], // metadata services live here
  ['172.16.0.0/12', 'private'],
  ['192.0.0.0/24', 'ietfProtocol'], // DS-Lite, NAT64 discovery, PCP/TURN anycast, …
  ['192.0.2.0/24', 'documentation'],
  ['192.31.196.0/24', 'as112'],
  ['192.52.193.0/24', 'amt'],
  ['192.88.99.0/24', '6to4Relay'],
  ['192.168.0.0/16', 'private'],
  ['192.175.48.0/24', 'as112'],
  ['198.18.0.0/15', 'benchmarking'],
  ['198.51.100.0/24', 'documentation'],
  ['203.0.113.0/24', 'documentation'],
  ['224.0.0.0/4', 'multicast'],
  ['240.0.0.0/4', 'reserved'], // 255.255.255.255, the limited broadcast, included
];

/**
 * Within 2000::/3 (global unicast; everything outside it is refused, which covers ::/128, ::1,
 * ::/96 IPv4-compatible, 64:ff9b:1::/48 local-use NAT64, 100::/64 discard, fc00::/7, fe80::/10,
 * fec0::/10 and ff00::/8), the blocks of the IANA IPv6 Special-Purpose Address Registry.
 */
const IPV6_SPECIAL: readonly Block[] = [
  ['2001::/23', 'ietfProtocol'], // Teredo, benchmarking, ORCHID, AMT, AS112, DETs, …
  ['2001:db8::/32', 'documentation'],
  ['2002::/16', '6to4'], // tunnels to any IPv4 address, private ones too
  ['2620:4f:8000::/48', 'as112'],
  ['3fff::/20', 'documentation'],
];

const V4 = IPV4_SPECIAL.map(([cidr, name]) => ({ range: ipaddr.IPv4.parseCIDR(cidr), name }));
const V6 = IPV6_SPECIAL.map(([cidr, name]) => ({ range: ipaddr.IPv6.parseCIDR(cidr), name }));
const GLOBAL_UNICAST_V6 = ipaddr.IPv6.parseCIDR('2000::/3');
/** RFC 6052's well-known NAT64 prefix: the IPv4 address in its last 32 bits is what is reached. */
const NAT64 = ipaddr.IPv6.parseCIDR('64:ff9b::/96');

function ipv6Refusal(address: ipaddr.IPv6): string | null {
  // IPv4-mapped and well-known NAT64 addresses reach the IPv4 address they carry.
  if (address.isIPv4MappedAddress()) return ipv4Refusal(address.toIPv4Address());
  if (address.match(NAT64)) {
    const [high, low] = address.parts.slice(6) as [number, number];
    return ipv4Refusal(new ipaddr.IPv4([high >> 8, high & 0xff, low >> 8, low & 0xff]));
  }
  if (!address.match(GLOBAL_UNICAST_V6)) {
    const range = address.range();
    return range === 'unicast' ? 'reserved' : range;
  }
  return V6.find((block) => address.match(block.range))?.name ?? null;
}

const ipv4Refusal = (address: ipaddr.IPv4): string | null => V4.find((block) => address.match(block.range))?.name ?? null;

/**
 * Where a webhook may go (docs/security.md, "Webhooks"): only to global unicast addresses — not
 * to this machine, the private network, a cloud's metadata service or any other special-purpose
 * block (the requests an attacker would make Herald send for them: SSRF) — unless the operator
 * listed the host in WEBHOOK_ALLOWED_HOSTS. Checked on every address a name resolves to, at the
 * moment of delivery, and on the connection's own address. Returns why an address is refused (the
 * block's name), or null for a global unicast address.
 */
export function refusedAddress(address: string): string | null {
  if (!ipaddr.isValid(address)) return 'unknown';
  const ip = ipaddr.parse(address);
  return ip.kind() === 'ipv4' ? ipv4Refusal(ip as ipaddr.IPv4) : ipv6Refusal(ip as ipaddr.IPv6);
}

/** Whether a URL's host is an IP address rather than a name. */
export const isIpAddress = (host: string): boolean => ipaddr.isValid(hostKey(host));

/** A host as WEBHOOK_ALLOWED_HOSTS lists it: lower case, IPv6 without brackets. */
export const hostKey = (host: string): string => host.toLowerCase().replace(/^\[(.*)\]$/, '$1');

/**
 * Checked at submission, before any name is resolved: a callbackUrl naming a refused address
 * literally (http://127.0.0.1/…, http://[::1]/…) is refused at once, unless its host is allowed.
 */
export function refusedCallback(url: string, allowedHosts: readonly string[]): string | null {
  const host = hostKey(new URL(url).hostname);
  if (allowedHosts.map(hostKey).includes(host)) return null;
  if (!isIpAddress(host)) return null; // a name: judged on what it resolves to, when it is used
  const refused = refusedAddress(host);
  return refused === null ? null : `callbackUrl points at a ${refused} address; list its host in WEBHOOK_ALLOWED_HOSTS to allow it`;
}
