import type { IncomingMessage } from 'node:http';
import proxyaddr from 'proxy-addr';

/** The address a request comes from, as per-IP limits count it. */
export type ClientIpOf = (req: IncomingMessage) => string;

/**
 * The peer's address, or — only when the peer is one of TRUSTED_PROXIES (the deployment's
 * nginx) — the nearest untrusted address in its X-Forwarded-For. Anyone else's X-Forwarded-For
 * is ignored: a client could otherwise pick the IP its limits are counted against.
 */
export function clientIpResolver(trustedProxies: readonly string[]): ClientIpOf {
  const trust = proxyaddr.compile([...trustedProxies]);
  return (req) => {
    const address = proxyaddr(req, trust);
    // IPv4 peers on a dual-stack socket show up as ::ffff:a.b.c.d; one client, one key.
    return address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address;
  };
}
