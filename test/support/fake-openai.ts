import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A stand-in for a model server, since no model can run here: it speaks the OpenAI Chat
 * Completions API as OpenAI documents it — POST /v1/chat/completions with `stream: true`
 * answered by Server-Sent Events, one `chat.completion.chunk` per `data:` line with the text in
 * `choices[0].delta.content`, a last chunk with `finish_reason`, then `data: [DONE]`; errors as
 * `{"error": {"message", "type", "param", "code"}}` with their HTTP status — and does, per
 * request, what the test scripted: slow tokens, a 429 with Retry-After, 5xx, a dropped
 * connection, silence; `:` keep-alive comments, which servers behind proxies send (the SSE spec's
 * comment lines); an `error` event inside a 200 stream, as OpenAI sends when a server fails
 * mid-answer (`data: {"error": {…}}`, or with an `event: error` line).
 */
export type Reply =
  /** An answer in these pieces, `delayMs` apart, ending with `finish`. */
  | {
      readonly kind: 'answer';
      readonly pieces: readonly string[];
      readonly delayMs?: number;
      readonly finish?: 'stop' | 'length' | 'content_filter';
      /** A `: keep-alive` comment before each piece. */
      readonly keepAlive?: boolean;
    }
  /** These pieces, then the connection is cut (no finish, no [DONE]). */
  | { readonly kind: 'drop'; readonly pieces: readonly string[]; readonly delayMs?: number }
  /** These pieces (maybe none), then nothing at all, the connection held open. */
  | { readonly kind: 'silence'; readonly pieces?: readonly string[]; readonly keepAliveMs?: number }
  /** These pieces (maybe none), then an `error` event in the 200 stream, and the stream ends. */
  | {
      readonly kind: 'stream-error';
      readonly pieces: readonly string[];
      readonly delayMs?: number;
      readonly named?: boolean;
      readonly message?: string;
    }
  /** The request is read, then the connection is closed without an answer. */
  | { readonly kind: 'hangup' }
  /** An error answer. */
  | { readonly kind: 'error'; readonly status: number; readonly headers?: Readonly<Record<string, string>>; readonly code?: string };

export interface SeenRequest {
  readonly body: {
    model: string;
    stream: boolean;
    max_tokens?: number;
    messages: { role: string; content: string }[];
  };
  readonly authorization: string | undefined;
  readonly at: number;
  /** When the client closed the connection before the reply ended (a cancel, a timeout), else null. */
  closedByClientAt: number | null;
}

export interface FakeOpenAI {
  /** The base URL Herald is pointed at, up to /v1. */
  readonly baseUrl: string;
  readonly requests: SeenRequest[];
  /** What the next requests get, in order; after the last, `fallback` decides. */
  script(...replies: Reply[]): void;
  /** Decides replies once the script is spent (default: an answer echoing nothing special). */
  fallback: (request: SeenRequest) => Reply;
  close(): Promise<void>;
}

const MODEL_ERRORS: Record<number, { type: string; code: string; message: string }> = {
  400: { type: 'invalid_request_error', code: 'invalid_request', message: 'Invalid request' },
  401: { type: 'invalid_request_error', code: 'invalid_api_key', message: 'Incorrect API key provided' },
  403: { type: 'invalid_request_error', code: 'unsupported_country_region_territory', message: 'Forbidden' },
  404: { type: 'invalid_request_error', code: 'model_not_found', message: 'The model does not exist' },
  429: { type: 'requests', code: 'rate_limit_exceeded', message: 'Rate limit reached' },
  500: { type: 'server_error', code: 'server_error', message: 'The server had an error' },
  503: { type: 'server_error', code: 'overloaded', message: 'The engine is currently overloaded' },
};

export async function startFakeOpenAI(): Promise<FakeOpenAI> {
  const requests: SeenRequest[] = [];
  const queue: Reply[] = [];
  const open = new Set<ServerResponse>();
  const fake: FakeOpenAI = {
    baseUrl: '',
    requests,
    script: (...replies) => {
      queue.push(...replies);
    },
    fallback: () => ({ kind: 'answer', pieces: ['A short summary.'] }),
    close: async () => {
      for (const res of open) res.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };

  const server: Server = createServer(async (req, res) => {
    if (req.method !== 'POST' || req.url !== '/v1/chat/completions') {
      sendError(res, 404);
      return;
    }
    const seen: SeenRequest = {
      body: JSON.parse(await readBody(req)),
      authorization: req.headers.authorization,
      at: Date.now(),
      closedByClientAt: null,
    };
    requests.push(seen);
    open.add(res);
    res.on('close', () => {
      open.delete(res);
      if (!res.writableFinished) seen.closedByClientAt = Date.now();
    });
    const reply = queue.shift() ?? fake.fallback(seen);
    if (reply.kind === 'hangup') {
      res.socket?.destroy();
      return;
    }
    if (reply.kind === 'error') {
      sendError(res, reply.status, reply.headers, reply.code);
      return;
    }
    res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache', Connection: 'keep-alive' });
    const chunk = (delta: Record<string, unknown>, finish: string | null) =>
      `data: ${JSON.stringify({
        id: 'chatcmpl-fake',
        object: 'chat.completion.chunk',
        created: Math.floor(Date.now() / 1000),
        model: seen.body.model,
        system_fingerprint: 'fp_fake',
        choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }],
      })}\n\n`;
    res.write(chunk({ role: 'assistant', content: '' }, null));
    const pieces = 'pieces' in reply ? (reply.pieces ?? []) : [];
    const delayMs = 'delayMs' in reply ? (reply.delayMs ?? 0) : 0;
    for (const piece of pieces) {
      if (delayMs > 0) await new Promise((resolve) => setTimeout(resolve, delayMs));
      if (res.destroyed) return;
      if (reply.kind === 'answer' && reply.keepAlive) res.write(': keep-alive\n\n');
      res.write(chunk({ content: piece }, null));
    }
    if (reply.kind === 'drop') {
      res.socket?.destroy();
      return;
    }
    if (reply.kind === 'stream-error') {
      const error = {
        message: reply.message ?? 'The server had an error while processing your request',
        type: 'server_error',
        param: null,
        code: null,
      };
      res.end(`${reply.named ? 'event: error\n' : ''}data: ${JSON.stringify({ error })}\n\n`);
      return;
    }
    if (reply.kind === 'silence') {
      // Held open until the client gives up, with a comment now and then if asked.
      if (reply.keepAliveMs !== undefined) {
        const timer = setInterval(() => res.write(': keep-alive\n\n'), reply.keepAliveMs);
        res.on('close', () => clearInterval(timer));
      }
      return;
    }
    res.write(chunk({}, reply.finish ?? 'stop'));
    res.end('data: [DONE]\n\n');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return Object.assign(fake, { baseUrl: `http://127.0.0.1:${port}/v1` });
}

function sendError(res: ServerResponse, status: number, headers: Readonly<Record<string, string>> = {}, code?: string): void {
  const known = MODEL_ERRORS[status] ?? { type: 'server_error', code: 'error', message: `HTTP ${status}` };
  const body = JSON.stringify({ error: { message: known.message, type: known.type, param: null, code: code ?? known.code } });
  res.writeHead(status, { 'Content-Type': 'application/json', ...headers }).end(body);
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => {
      body += chunk;
    });
    req.on('end', () => resolve(body));
    req.on('error', reject);
  });
}
