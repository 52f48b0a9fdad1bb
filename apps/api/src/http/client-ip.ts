import type { IncomingMessage } from 'node:http';
import ipaddr from 'ipaddr.js';
import proxyaddr from 'proxy-addr';

/** The client a request comes from, as per-IP limits count it. */
export type ClientIpOf = (req: IncomingMessage) => string;

/**
 * The peer's address, or — only when the peer is one of TRUSTED_PROXIES (the deployment's
 * nginx) — the nearest untrusted address in its X-Forwarded-For. Anyone else's X-Forwarded-For
 * is ignored: a client could otherwise pick the IP its limits are counted against.
 */
export function clientIpResolver(trustedProxies: readonly string[]): ClientIpOf {
  const trust = proxyaddr.compile([...trustedProxies]);
  return (req) => limitSubject(proxyaddr(req, trust));
}

/**
 * One client, one subject: an IPv4 address (also when it arrives IPv4-mapped, ::ffff:a.b.c.d),
 * or an IPv6 /64 — the block one subscriber is usually given, so its 2^64 addresses don't
 * each bring a fresh budget.
 */
export function limitSubject(address: string): string {
  if (!ipaddr.isValid(address)) return address;
  const parsed = ipaddr.process(address); // unwraps IPv4-mapped IPv6
  if (parsed.kind() === 'ipv4') return parsed.toString();
  const parts = (parsed as ipaddr.IPv6).parts.slice(0, 4).map((part) => part.toString(16));
  return `${parts.join(':')}::/64`;
}
