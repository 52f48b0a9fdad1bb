import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { channels } from '@herald/shared';
import { parseSimpleHead } from '../../apps/api/src/http/bare/simple-head.ts';
import { submit } from '../support/http.ts';
import { clientNames, onCluster, shardSubscribers } from '../support/redis-target.ts';
import { SseClient } from '../support/sse-client.ts';
import { startSystem, type TestSystem } from '../support/system.ts';
import { BEES } from '../support/texts.ts';

// Jobs stay queued here (no worker), so streams stay open as long as a test wants.
let system: TestSystem;
let a: string;
let b: string;

beforeAll(async () => {
  system = await startSystem({ workers: 0, env: { HEARTBEAT_MS: '100' } });
  [a, b] = system.apis.map((api) => api.url) as [string, string];
});
afterAll(() => system.close());

const numsub = (jobId: string): Promise<number> => shardSubscribers(system.redis, channels.events(jobId));

const until = async (check: () => Promise<boolean>, timeoutMs = 3000): Promise<void> => {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
};

describe('subscriptions', () => {
  it('holds one subscription per replica per watched job, and none once watchers leave', async () => {
    const { body } = await submit(a, BEES);
    const onA = [1, 2, 3].map(() => SseClient.open(`${a}/v1/jobs/${body.jobId}/events`));
    const onB = SseClient.open(`${b}/v1/jobs/${body.jobId}/events`);
    await Promise.all([...onA, onB].map((client) => client.waitFor((c) => c.events.length === 1)));
    expect(await numsub(body.jobId)).toBe(2);

    for (const client of onA) client.close();
    await until(async () => (await numsub(body.jobId)) === 1);
    onB.close();
    await until(async () => (await numsub(body.jobId)) === 0);
  });

  it('uses a constant number of Redis connections per replica, whatever the watchers', async () => {
    const watch = async (jobCount: number): Promise<SseClient[]> => {
      const jobs = await Promise.all(Array.from({ length: jobCount }, () => submit(a, BEES)));
      const clients = jobs.flatMap(({ body }) => [1, 2, 3, 4].map(() => SseClient.open(`${a}/v1/jobs/${body.jobId}/events`)));
      await Promise.all(clients.map((client) => client.waitFor((c) => c.events.length === 1)));
      return clients;
    };
    /** The replicas' connections to Redis (CLIENT LIST, every node), counted by name. */
    const apiConnections = async (): Promise<Record<string, number>> => {
      const counts: Record<string, number> = {};
      for (const name of await clientNames(system.redis)) if (name.startsWith('herald:api:')) counts[name] = (counts[name] ?? 0) + 1;
      return counts;
    };
    const total = (counts: Record<string, number>): number => Object.values(counts).reduce((sum, n) => sum + n, 0);
    const clients = await watch(5);
    const few = await apiConnections();
    if (onCluster()) {
      // Every role on both replicas (ioredis's Cluster connects to nodes as it needs them, so
      // how many of each is its own); one fan-out subscriber per master owning a watched job.
      for (const name of ['herald:api:commands', 'herald:api:queue', 'herald:api:chores'])
        expect(few[name], name).toBeGreaterThanOrEqual(2);
      expect(few['herald:api:fanout']).toBeGreaterThanOrEqual(1);
      expect(few['herald:api:fanout']).toBeLessThanOrEqual(2 * 3);
    } else {
      // Exactly, per replica: its commands, the fan-out subscriber, BullMQ's job queue, and the
      // two chore queues (webhooks, watchdogs), each a connection of its own on one Redis.
      expect(few).toEqual({ 'herald:api:commands': 2, 'herald:api:fanout': 2, 'herald:api:queue': 2, 'herald:api:chores': 4 });
    }
    clients.push(...(await watch(15)));
    const many = await apiConnections();
    // Four times the jobs and watchers: not one connection more than the shards need.
    if (onCluster()) {
      expect(many['herald:api:fanout']).toBeLessThanOrEqual(2 * 3);
      expect(total(many)).toBeGreaterThanOrEqual(total(few));
      expect(total(many)).toBeLessThanOrEqual(total(few) + 2 * 3);
    } else {
      expect(many).toEqual(few);
    }
    for (const client of clients) client.close();
  });
});

describe('heartbeats', () => {
  it('sends a comment every HEARTBEAT_MS while idle', async () => {
    const { body } = await submit(a, BEES);
    const watcher = SseClient.open(`${b}/v1/jobs/${body.jobId}/events`);
    await watcher.waitFor((client) => client.events.length === 1);
    await watcher.waitFor((client) => client.comments.length >= 12, 5000);
    watcher.close();
    // One timer for the replica, 100 ms apart: the gaps between beats are the interval, give or
    // take the event loop. Slower beats (say every 150 ms) would fail here.
    const gaps = watcher.commentTimes.slice(1).map((time, i) => time - watcher.commentTimes[i]!);
    const sorted = [...gaps].sort((x, y) => x - y);
    const median = sorted[Math.floor(sorted.length / 2)]!;
    expect(median).toBeGreaterThanOrEqual(80);
    expect(median).toBeLessThanOrEqual(130);
    expect(watcher.comments.every((comment) => comment === '')).toBe(true);
  });
});

describe('how a stream’s request arrives', () => {
  /** Sends `parts` with a pause between them on a fresh socket; resolves with the socket and what it reads. */
  const rawStream = async (parts: string[]): Promise<{ socket: Socket; received: () => string; ended: Promise<void> }> => {
    const { port } = new URL(b);
    const socket = connect(Number(port), '127.0.0.1');
    let text = '';
    socket.setEncoding('utf8').on('data', (chunk: string) => {
      text += chunk;
    });
    const ended = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    for (const part of parts) {
      socket.write(part);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    return { socket, received: () => text, ended };
  };
  /** The head's lines without the per-request ones, and the first event's data. */
  const streamOf = (text: string): { head: string[]; first: Record<string, unknown> } => {
    const [head, body] = text.split('\r\n\r\n', 2) as [string, string];
    const data = /^data: (.*)$/m.exec(body)![1]!;
    const { ts: _ts, ...first } = JSON.parse(data) as Record<string, unknown>;
    return { head: head.split('\r\n').filter((line) => !/^(Date|X-Request-Id):/i.test(line)), first };
  };

  it('is the same stream whether its head comes whole (read bare), in pieces, or with a body (read by node:http)', async () => {
    const { body } = await submit(a, BEES);
    const request = `GET /v1/jobs/${body.jobId}/events HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n`;
    const ways = await Promise.all([
      rawStream([`${request}\r\n`]),
      rawStream([request.slice(0, 20), request.slice(20), '\r\n']),
      rawStream([`${request}Content-Length: 2\r\n\r\nhi`]),
    ]);
    try {
      for (const way of ways) await until(async () => /^data: /m.test(way.received()));
      const [whole, ...others] = ways.map((way) => streamOf(way.received()));
      expect(whole!.head).toContain('HTTP/1.1 200 OK');
      expect(whole!.head).toContain('Connection: close');
      expect(whole!.first).toMatchObject({ jobId: body.jobId, status: 'queued' });
      for (const other of others) expect(other).toEqual(whole);
    } finally {
      for (const way of ways) way.socket.destroy();
    }
  });

  it('is answered 400 without a Host header (HTTP/1.1), whether read bare or by node:http', async () => {
    const { body } = await submit(a, BEES);
    const request = `GET /v1/jobs/${body.jobId}/events HTTP/1.1\r\nAccept: text/event-stream\r\n`;
    const bare = `${request}\r\n`; // a plain head in one write: read without node:http's parser
    const parsed = `${request}Content-Length: 0\r\n\r\n`; // a head the plain reader leaves to node:http
    expect(parseSimpleHead(Buffer.from(bare, 'latin1'))).not.toBeNull();
    expect(parseSimpleHead(Buffer.from(parsed, 'latin1'))).toBeNull();
    const ways = await Promise.all([rawStream([bare]), rawStream([parsed]), rawStream([parsed.slice(0, 25), parsed.slice(25)])]);
    try {
      // Answered and closed at once (a stream served instead would stay open).
      const late = new Promise<never>((_, reject) => {
        setTimeout(
          () => reject(new Error(`still open; read: ${ways.map((way) => JSON.stringify(way.received())).join(' | ')}`)),
          5000,
        ).unref();
      });
      await Promise.race([Promise.all(ways.map((way) => way.ended)), late]);
      for (const way of ways) {
        const [head, json] = way.received().split('\r\n\r\n', 2) as [string, string];
        expect(head).toMatch(/^HTTP\/1\.1 400 /);
        expect(head).toMatch(/^Connection: close$/im);
        expect(head).toMatch(/^X-Request-Id: \S+$/im);
        expect(JSON.parse(json)).toEqual({ error: { code: 'invalid_request', message: 'The Host header is required' } });
      }
    } finally {
      for (const way of ways) way.socket.destroy();
    }
  });

  it('ends when its client ends its side, as node:http does', async () => {
    const { body } = await submit(a, BEES);
    const stream = await rawStream([`GET /v1/jobs/${body.jobId}/events HTTP/1.1\r\nHost: x\r\n\r\n`]);
    await until(async () => /^data: /m.test(stream.received()));
    stream.socket.end();
    await stream.ended;
    expect(stream.received()).toMatch(/^HTTP\/1\.1 200 /);
  });
});
