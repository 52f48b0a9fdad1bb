import ipaddr from 'ipaddr.js';

/**
 * Where a webhook may go (docs/security.md, "Webhooks"): not to this machine, the private
 * network or a cloud's metadata service — the requests an attacker would make Herald send for
 * them (SSRF) — unless the operator listed the host in WEBHOOK_ALLOWED_HOSTS. Checked on every
 * address a name resolves to, at the moment of delivery, and on the connection's own address.
 */
export function refusedAddress(address: string): string | null {
  if (!ipaddr.isValid(address)) return 'unknown';
  const range = ipaddr.process(address).range(); // IPv4-mapped IPv6 counts as the IPv4 it maps
  return range === 'unicast' ? null : range;
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
