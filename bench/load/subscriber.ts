import { createHash, type Hash } from 'node:crypto';
import { request, type IncomingMessage } from 'node:http';
import { Histogram } from '../lib/histogram.ts';
import { BENCH_MARK, nowMicros } from '../lib/clock.ts';
import type { StreamReceipt, SubscriberReport, SubscriberTask } from './protocol.ts';

// One load process: holds its share of the SSE connections, checks every event's order and
// records publish→receipt latency. Kept lean: it shares the machine with the server under test.

interface Connection {
  readonly path: string;
  readonly channel: number;
  lastId: string | undefined;
  attempt: number;
  buffer: string;
  seen: Uint8Array;
  highest: number;
  received: number;
  done: boolean;
  response?: IncomingMessage;
  /** Batch streams: the last id received (`<ms>-<seq>`), the ids' digest, and whether the last event was the batch's end. */
  lastMs: number;
  lastSeq: number;
  digest: Hash | null;
  endedOnTerminal: boolean;
  /** The last `retry:` its stream sent (honourRetry), ms. */
  retryMs: number | undefined;
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
let localAddress: string | undefined;
let reconnects = 0;
let batchStreams = false;
let honourRetry = false;
const batchHistogram = new Histogram();
/** Latency of what arrived while the orchestrator's window was open (a drain, say). */
const windowHistogram = new Histogram();
let windowOpen = false;
/** When each reconnect was sent (ms since the epoch). */
const reconnectTimes: number[] = [];
const RETRY_LINE = /^retry: (\d+)$/m;
const ID_LINE = /^id: (.+)$/m;
const DATA_LINE = /^data: (.*)$/m;
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
    if (honourRetry && block.startsWith('retry: ')) connection.retryMs = Number(RETRY_LINE.exec(block)?.[1]);
    const mark = batchStreams ? null : BENCH_MARK.exec(block);
    if (batchStreams) {
      onStreamEvent(connection, block, at);
    } else if (mark) {
      const seq = Number(mark[1]);
      histogram.record(at - Number(mark[2]));
      if (windowOpen) windowHistogram.record(at - Number(mark[2]));
      if (connection.seen[seq]) dup += 1;
      else {
        connection.seen[seq] = 1;
        connection.received += 1;
        if (seq < connection.highest) reordered += 1;
        else connection.highest = seq;
      }
      // Complete with every event; a stream the server ends (closeOnComplete off) only once it
      // has ended, so a finished job's stream is checked to end and its end is measured too.
      if (connection.received === expectedEach && closeOnComplete) finish(connection);
    }
    end = connection.buffer.indexOf('\n\n');
  }
}

/**
 * One event of a batch stream: its id must be after the previous one (else it is a duplicate or
 * out of order); a job's event carries the bench mark (µs latency), the batch's own its `ts`.
 */
function onStreamEvent(connection: Connection, block: string, at: number): void {
  const id = ID_LINE.exec(block)?.[1];
  if (id === undefined) return; // `retry:`, a heartbeat
  const dash = id.indexOf('-');
  const ms = Number(id.slice(0, dash));
  const seq = Number(id.slice(dash + 1));
  const order = ms - connection.lastMs || seq - connection.lastSeq;
  if (order === 0) {
    dup += 1;
    return;
  }
  if (order < 0) {
    reordered += 1;
    return;
  }
  connection.lastMs = ms;
  connection.lastSeq = seq;
  connection.received += 1;
  connection.digest?.update(`${id}\n`);
  const data = DATA_LINE.exec(block)?.[1] ?? '';
  connection.endedOnTerminal = false;
  if (data.startsWith('{"batchId"')) {
    const event = JSON.parse(data) as { status: string; progress: number; ts: number };
    // The batch's first event was written when it was created, before anyone connected.
    if (event.status !== 'queued') batchHistogram.record((Date.now() - event.ts) * 1000);
    connection.endedOnTerminal = event.status === 'done' && event.progress === 100;
  } else {
    const mark = BENCH_MARK.exec(data);
    if (mark) histogram.record(at - Number(mark[2]));
  }
}

function open(url: string, channel: number): Promise<void> {
  const connection: Connection = {
    path: new URL(url).pathname,
    channel,
    lastId: undefined,
    attempt: 0,
    buffer: '',
    seen: new Uint8Array(expectedEach),
    highest: -1,
    received: 0,
    done: false,
    lastMs: 0,
    lastSeq: 0,
    digest: batchStreams ? createHash('sha1') : null,
    endedOnTerminal: false,
    retryMs: undefined,
  };
  connections.push(connection);
  return connect(connection, url);
}

/** A dropped stream: resume it elsewhere with its cursor, or count it as ended. */
function dropped(connection: Connection): void {
  if (connection.done) return;
  if (resumeVia.length === 0 || connection.received === expectedEach) {
    finish(connection);
    return;
  }
  reconnects += 1;
  connection.attempt += 1;
  connection.buffer = '';
  const base = resumeVia[connection.attempt % resumeVia.length]!;
  // As EventSource does: after the stream's last retry: (honourRetry), else soon, jittered.
  const delayMs = honourRetry && connection.retryMs !== undefined ? connection.retryMs : 100 + Math.random() * 400;
  setTimeout(() => {
    reconnectTimes.push(Date.now());
    void connect(connection, `${base}${connection.path}`);
  }, delayMs);
}

function connect(connection: Connection, url: string): Promise<void> {
  const headers: Record<string, string> = { Accept: 'text/event-stream' };
  if (connection.lastId) headers['Last-Event-ID'] = connection.lastId;
  return new Promise((resolve) => {
    const req = request(url, { agent: false, headers, localAddress }, (response) => {
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
  localAddress = task.localAddress;
  resumeVia = task.resumeVia ?? [];
  batchStreams = task.batchStreams ?? false;
  honourRetry = task.honourRetry ?? false;
  total = task.connections.length;
  // In batches, so the servers' accept queues are not overrun.
  for (let i = 0; i < task.connections.length; i += 200) {
    await Promise.all(task.connections.slice(i, i + 200).map((connection) => open(connection.url, connection.channel)));
  }
  send({ type: 'connected', failed });
  // Nothing to wait for when no events will come (memory scenarios). A batch stream is complete
  // when the server ends it.
  if (total === 0 || (expectedEach === 0 && !batchStreams)) send({ type: 'complete' });
}

process.on('message', (message: SubscriberTask | { type: 'collect' } | { type: 'stop' } | { type: 'window'; open: boolean }) => {
  if (message.type === 'subscribe') void subscribe(message);
  else if (message.type === 'window') windowOpen = message.open;
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
      windowHistogram: windowHistogram.toJSON(),
      reconnectTimes,
      ...(batchStreams
        ? {
            streams: connections.map(
              (connection): StreamReceipt => ({
                channel: connection.channel,
                received: connection.received,
                digest: connection.digest!.digest('hex'),
                endedOnTerminal: connection.endedOnTerminal,
              }),
            ),
            batchHistogram: batchHistogram.toJSON(),
          }
        : {}),
    });
  } else if (message.type === 'stop') {
    for (const connection of connections) connection.response?.destroy();
    process.exit(0);
  }
});
