import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** One POST the receiver got, and what it answered. */
export interface ReceivedWebhook {
  readonly id: string;
  readonly timestamp: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
  readonly json: any;
  /** The signature checks out against the secret, as Standard Webhooks specifies. */
  readonly signed: boolean;
  /** What the receiver answered; 0 when it let the request hang. */
  readonly answered: number;
  readonly receivedAt: number;
}

/** How the receiver answers a delivery: a status (with headers), or 'hang' (never answers). */
export type Answer = (
  webhookId: string,
  attempt: number,
) => number | { readonly status: number; readonly headers: Readonly<Record<string, string>> } | 'hang';

/**
 * A local webhook receiver (127.0.0.1): records every delivery and checks its signature the way
 * the Standard Webhooks spec describes it — written here from the spec, not with the library
 * Herald signs with, so the two are checked against each other.
 */
export class WebhookReceiver {
  readonly received: ReceivedWebhook[] = [];
  readonly #server: Server;
  readonly #secret: Buffer;
  readonly #hanging = new Set<() => void>();
  answer: Answer;

  private constructor(server: Server, secret: string, answer: Answer) {
    this.#server = server;
    this.#secret = Buffer.from(secret.replace(/^whsec_/, ''), 'base64');
    this.answer = answer;
  }

  static async start(secret: string, answer: Answer = () => 204, port = 0): Promise<WebhookReceiver> {
    const server = createServer();
    const receiver = new WebhookReceiver(server, secret, answer);
    server.on('request', (req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        const id = String(req.headers['webhook-id'] ?? '');
        const attempt = receiver.received.filter((hook) => hook.id === id).length + 1;
        const answer = receiver.answer(id, attempt);
        const status = typeof answer === 'object' ? answer.status : answer;
        receiver.received.push({
          id,
          timestamp: Number(req.headers['webhook-timestamp']),
          headers: req.headers,
          body,
          json: JSON.parse(body),
          signed: receiver.#verify(id, String(req.headers['webhook-timestamp']), body, String(req.headers['webhook-signature'] ?? '')),
          answered: status === 'hang' ? 0 : status,
          receivedAt: Date.now(),
        });
        if (status === 'hang') {
          receiver.#hanging.add(() => res.destroy());
          return;
        }
        res.writeHead(status, typeof answer === 'object' ? answer.headers : {}).end();
      });
    });
    await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
    return receiver;
  }

  get port(): number {
    return (this.#server.address() as AddressInfo).port;
  }

  /** A URL on this receiver, by the given host (an IP or a name for 127.0.0.1). */
  url(path = '/hooks', host = '127.0.0.1'): string {
    return `http://${host}:${this.port}${path}`;
  }

  /** The deliveries for one job's webhook (its id is msg_<jobId>). */
  deliveriesOf(jobId: string): ReceivedWebhook[] {
    return this.received.filter((hook) => hook.id === `msg_${jobId}`);
  }

  /** The deliveries the receiver acknowledged (2xx) for one job. */
  acknowledged(jobId: string): ReceivedWebhook[] {
    return this.deliveriesOf(jobId).filter((hook) => hook.answered >= 200 && hook.answered < 300);
  }

  async close(): Promise<void> {
    for (const drop of this.#hanging) drop();
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  /** `v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`, any of the space-separated signatures. */
  #verify(id: string, timestamp: string, body: string, header: string): boolean {
    const expected = createHmac('sha256', this.#secret).update(`${id}.${timestamp}.${body}`).digest();
    return header.split(' ').some((signature) => {
      const [version, value] = signature.split(',');
      if (version !== 'v1' || value === undefined) return false;
      const presented = Buffer.from(value, 'base64');
      return presented.length === expected.length && timingSafeEqual(presented, expected);
    });
  }
}
