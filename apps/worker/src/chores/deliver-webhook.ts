import { lookup } from 'node:dns';
import { request as httpRequest, type RequestOptions } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { LookupFunction } from 'node:net';
import { Webhook } from 'standardwebhooks';
import { hostKey, isIpAddress, refusedAddress } from '@herald/shared';

/**
 * The receiver's answer: its status line (and Retry-After), or why there was none. `routable`:
 * the address answering is global unicast; a receiver reached on an allowed private host is not,
 * and its status is not shown to the job's owner (docs/api.md, "Webhooks").
 */
export type DeliveryOutcome =
  | { readonly kind: 'answered'; readonly status: number; readonly retryAfter: string | undefined; readonly routable: boolean }
  | { readonly kind: 'refused'; readonly reason: string }
  | { readonly kind: 'unreachable'; readonly reason: string };

export interface Delivery {
  readonly url: string;
  /** The same for every attempt at one webhook: receivers dedupe by it. */
  readonly id: string;
  readonly body: string;
}

export interface DeliverySettings {
  /** WEBHOOK_SECRET: whsec_ + base64. */
  readonly secret: string;
  readonly allowedHosts: readonly string[];
  /** The whole attempt's deadline: lookup, connect, sending, and the answer's status line. */
  readonly timeoutMs: number;
}

/** A refusal on the way (the host resolved to an address Herald will not call). */
class RefusedAddress extends Error {}

/**
 * One attempt at a webhook, signed as Standard Webhooks specifies (webhook-id,
 * webhook-timestamp, webhook-signature: v1 + HMAC-SHA256 of "{id}.{timestamp}.{body}"), by the
 * maintained `standardwebhooks` library. The SSRF guard is applied where it cannot be dodged:
 * on every address the host resolves to now (a name that resolved to a public address at
 * submission may not any more), on a literal IP, and on the address the socket connected to.
 * No redirect is followed. The attempt has `timeoutMs` in all, however the receiver trickles, and
 * ends at the answer's status line: the body is never read (a 2xx status line acknowledges).
 */
export async function deliverWebhook(delivery: Delivery, settings: DeliverySettings): Promise<DeliveryOutcome> {
  const url = new URL(delivery.url);
  const allowed = settings.allowedHosts.map(hostKey).includes(hostKey(url.hostname));
  // An IP in the URL is connected to without a lookup: judged here.
  if (!allowed && isIpAddress(url.hostname) && refusedAddress(hostKey(url.hostname)) !== null) {
    return { kind: 'refused', reason: `a ${refusedAddress(hostKey(url.hostname))} address` };
  }
  const guardedLookup: LookupFunction = (hostname, options, callback) => {
    lookup(hostname, { ...options, all: true }, (error, addresses) => {
      if (error) return callback(error, '', 0);
      const refused = allowed ? undefined : addresses.find((entry) => refusedAddress(entry.address) !== null);
      if (refused) return callback(new RefusedAddress(`${hostname} resolves to a ${refusedAddress(refused.address)} address`), '', 0);
      if (options.all) return (callback as unknown as (e: null, a: typeof addresses) => void)(null, addresses);
      const first = addresses[0]!;
      callback(null, first.address, first.family);
    });
  };

  const timestamp = new Date();
  const headers = {
    'Content-Type': 'application/json',
    'User-Agent': 'Herald-Webhooks/1',
    'webhook-id': delivery.id,
    'webhook-timestamp': String(Math.floor(timestamp.getTime() / 1000)),
    'webhook-signature': new Webhook(settings.secret.slice('whsec_'.length)).sign(delivery.id, timestamp, delivery.body),
    'Content-Length': String(Buffer.byteLength(delivery.body)),
  };
  const options: RequestOptions = { method: 'POST', headers, lookup: guardedLookup, agent: false };
  const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve) => {
    let routable = false;
    const request = send(url, options, (response) => {
      // The status line and headers are all Herald reads: the connection is closed at once.
      const retryAfter = response.headers['retry-after'];
      response.destroy();
      finish({ kind: 'answered', status: response.statusCode ?? 0, retryAfter, routable });
    });
    const deadline = setTimeout(
      () => request.destroy(new Error(`no answer within ${settings.timeoutMs} ms (WEBHOOK_TIMEOUT_MS)`)),
      settings.timeoutMs,
    );
    const finish = (outcome: DeliveryOutcome): void => {
      clearTimeout(deadline);
      resolve(outcome);
    };
    request.on('socket', (socket) => {
      socket.once('connect', () => {
        const reached = socket.remoteAddress ?? '';
        routable = refusedAddress(reached) === null;
        if (!allowed && !routable) request.destroy(new RefusedAddress(`connected to a ${refusedAddress(reached)} address`));
      });
    });
    request.on('error', (error) => {
      if (error instanceof RefusedAddress) finish({ kind: 'refused', reason: error.message });
      else finish({ kind: 'unreachable', reason: (error as NodeJS.ErrnoException).code ?? error.message });
    });
    request.end(delivery.body);
  });
}
