import { request, type IncomingMessage } from 'node:http';
import { Histogram } from '../lib/histogram.ts';
import { BENCH_MARK, nowMicros } from '../lib/clock.ts';
import type { SubscriberReport, SubscriberTask } from './protocol.ts';

// One load process: holds its share of the SSE connections, checks every event's order and
// records publish→receipt latency. Kept lean: it shares the machine with the server under test.

interface Connection {
  readonly path: string;
  lastId: string | undefined;
  attempt: number;
  buffer: string;
  seen: Uint8Array;
  highest: number;
  received: number;
  done: boolean;
  response?: IncomingMessage;
}

const histogram = new Histogram();
let dup = 0;
let reordered = 0;
let failed = 0;
let completed = 0;
let total = 0;
let expectedEach = 0;
let closeOnComplete = false;
let resumeVia: readonly string[] = [];
let reconnects = 0;
const ID_LINE = /^id: (.+)$/m;
const connections: Connection[] = [];

const send = (report: SubscriberReport): void => {
  process.send?.(report);
};

function finish(connection: Connection): void {
  if (connection.done) return;
  connection.done = true;
  completed += 1;
  if (closeOnComplete) connection.response?.destroy();
  if (completed === total) send({ type: 'complete' });
}

function onChunk(connection: Connection, chunk: string): void {
  const at = nowMicros();
  connection.buffer += chunk;
  let end = connection.buffer.indexOf('\n\n');
  while (end >= 0) {
    const block = connection.buffer.slice(0, end);
    connection.buffer = connection.buffer.slice(end + 2);
    if (resumeVia.length > 0) connection.lastId = ID_LINE.exec(block)?.[1] ?? connection.lastId;
    const mark = BENCH_MARK.exec(block);
    if (mark) {
      const seq = Number(mark[1]);
      histogram.record(at - Number(mark[2]));
      if (connection.seen[seq]) dup += 1;
      else {
        connection.seen[seq] = 1;
        connection.received += 1;
        if (seq < connection.highest) reordered += 1;
        else connection.highest = seq;
      }
      if (connection.received === expectedEach) finish(connection);
    }
    end = connection.buffer.indexOf('\n\n');
  }
}

function open(url: string): Promise<void> {
  const connection: Connection = {
    path: new URL(url).pathname,
    lastId: undefined,
    attempt: 0,
    buffer: '',
    seen: new Uint8Array(expectedEach),
    highest: -1,
    received: 0,
    done: false,
  };
  connections.push(connection);
  return connect(connection, url);
}

/** A dropped stream: resume it elsewhere with its cursor, or count it as ended. */
function dropped(connection: Connection): void {
  if (connection.done) return;
  if (resumeVia.length === 0) {
    finish(connection);
    return;
  }
  reconnects += 1;
  connection.attempt += 1;
  connection.buffer = '';
  const base = resumeVia[connection.attempt % resumeVia.length]!;
  setTimeout(() => void connect(connection, `${base}${connection.path}`), 100 + Math.random() * 400);
}

function connect(connection: Connection, url: string): Promise<void> {
  const headers: Record<string, string> = { Accept: 'text/event-stream' };
  if (connection.lastId) headers['Last-Event-ID'] = connection.lastId;
  return new Promise((resolve) => {
    const req = request(url, { agent: false, headers }, (response) => {
      connection.response = response;
      if (response.statusCode === 204) finish(connection);
      else if (response.statusCode !== 200) {
        if (resumeVia.length === 0) failed += 1;
        response.resume();
      } else {
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => onChunk(connection, chunk));
      }
      response.on('close', () => dropped(connection));
      resolve();
    });
    req.on('error', () => {
      if (resumeVia.length === 0) failed += 1;
      dropped(connection);
      resolve();
    });
    req.end();
  });
}

async function subscribe(task: SubscriberTask): Promise<void> {
  expectedEach = task.events;
  closeOnComplete = task.closeOnComplete;
  resumeVia = task.resumeVia ?? [];
  total = task.connections.length;
  // In batches, so the servers' accept queues are not overrun.
  for (let i = 0; i < task.connections.length; i += 200) {
    await Promise.all(task.connections.slice(i, i + 200).map((connection) => open(connection.url)));
  }
  send({ type: 'connected', failed });
  // Nothing to wait for when no events will come (memory scenarios).
  if (total === 0 || expectedEach === 0) send({ type: 'complete' });
}

process.on('message', (message: SubscriberTask | { type: 'collect' } | { type: 'stop' }) => {
  if (message.type === 'subscribe') void subscribe(message);
  else if (message.type === 'collect') {
    const delivered = connections.reduce((sum, connection) => sum + connection.received, 0);
    send({
      type: 'stats',
      delivered,
      expected: total * expectedEach,
      dup,
      reordered,
      failed,
      completed,
      reconnects,
      histogram: histogram.toJSON(),
    });
  } else if (message.type === 'stop') {
    for (const connection of connections) connection.response?.destroy();
    process.exit(0);
  }
});
