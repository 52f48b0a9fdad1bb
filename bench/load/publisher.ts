import { once } from 'node:events';
import { Agent, request } from 'node:http';
import { connect } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { EventPublisher, connectRedis, loadConfig } from '@herald/shared';
import { benchMessage } from '../lib/clock.ts';
import type { PublisherReport, PublisherTask } from './protocol.ts';

// The load's publisher process. For Herald it publishes through the real shared publisher, as a
// worker does; for Nchan it POSTs to its publish endpoint; for the floor it writes a line to each
// of its processes. Each channel's events go strictly in
// order (the next after the previous returned); channels run concurrently, staggered evenly.

type PublishOne = (channel: string, seq: number, last: boolean) => Promise<void>;

/** The summary text a scenario's events carry: `deltaChars` characters an event (scenarios.ts). */
const textOf = (task: PublisherTask, seq: number): { delta: string; offset: number } => {
  const piece = 'honey bee '.repeat(Math.ceil(task.deltaChars / 10)).slice(0, task.deltaChars);
  return { delta: piece, offset: seq * task.deltaChars };
};

function heraldPublisher(task: PublisherTask): { publish: PublishOne; close: () => void } {
  const redis = connectRedis(loadConfig({ ...task.redisEnv, LOG_LEVEL: 'silent' }), { name: 'bench:publisher' });
  const publisher = new EventPublisher(redis, { ttlSeconds: 3600, streamMaxLen: Math.max(1000, task.events + 10) });
  return {
    publish: async (jobId, seq, last) => {
      const progress = Math.floor(((seq + 1) * 100) / task.events);
      if (last) {
        await publisher.publish(jobId, {
          status: 'done',
          stage: 'done',
          progress: 100,
          message: benchMessage(seq),
          result: 'bench result',
        });
      } else if (task.deltaChars > 0) {
        // As a worker writing a summary does: the piece and its place (the script folds the text so far).
        const { delta, offset } = textOf(task, seq);
        await publisher.publish(jobId, { status: 'processing', stage: 'writing', progress, message: benchMessage(seq), delta, offset });
      } else {
        await publisher.publish(jobId, { status: 'processing', stage: 'summarizing', progress, message: benchMessage(seq) });
      }
    },
    close: () => redis.disconnect(),
  };
}

/** The same JSON shape Herald sends, so every system carries ≈ the same bytes per event. */
const eventJson = (task: PublisherTask, channel: string, seq: number, last: boolean): string =>
  JSON.stringify({
    jobId: channel,
    status: last ? 'done' : 'processing',
    progress: Math.floor(((seq + 1) * 100) / task.events),
    message: benchMessage(seq),
    stage: last ? 'done' : task.deltaChars > 0 ? 'writing' : 'summarizing',
    ...(task.deltaChars > 0 && !last ? { delta: textOf(task, seq).delta, offset: textOf(task, seq).offset } : {}),
    ts: Date.now(),
  });

function nchanPublisher(task: PublisherTask): { publish: PublishOne; close: () => void } {
  const agent = new Agent({ keepAlive: true, maxSockets: 32 });
  return {
    publish: (channel, seq, last) =>
      new Promise((resolve, reject) => {
        const body = eventJson(task, channel, seq, last);
        const req = request(task.pubUrl!.replace('{chan}', channel), { method: 'POST', agent }, (response) => {
          response.resume();
          response.on('end', resolve);
        });
        req.on('error', reject);
        req.end(body);
      }),
    close: () => agent.destroy(),
  };
}

/** The floor: one line per event to each of its processes, as pub/sub sends it to every replica. */
function floorPublisher(task: PublisherTask): { publish: PublishOne; close: () => void } {
  const sockets = task.floorAddresses!.map((address) => {
    const [host, port] = address.split(':') as [string, string];
    const socket = connect({ host, port: Number(port), noDelay: true });
    socket.write('PUBLISH\n');
    return socket;
  });
  return {
    publish: async (channel, seq, last) => {
      const line = `${channel} ${eventJson(task, channel, seq, last)}\n`;
      for (const socket of sockets) socket.write(line);
      await Promise.all(sockets.filter((socket) => socket.writableNeedDrain).map((socket) => once(socket, 'drain')));
    },
    close: () => {
      for (const socket of sockets) socket.end();
    },
  };
}

const publishers = { herald: heraldPublisher, nchan: nchanPublisher, floor: floorPublisher };

async function run(task: PublisherTask): Promise<void> {
  const target = publishers[task.system](task);
  // Warm-up, as the anchor harness does: script loaded, connections open, code paths compiled.
  for (let i = 0; i < 200; i += 1) await target.publish(task.warmupChannel, 0, false);
  const go = new Promise((resolve) => process.once('message', resolve));
  process.send?.({ type: 'warm' });
  await go;
  const started = performance.now();
  const interval = task.rate > 0 ? 1000 / task.rate : 0;
  let count = 0;
  await Promise.all(
    task.channels.map(async (channel, index) => {
      const offset = interval * (index / task.channels.length);
      for (let seq = 0; seq < task.events; seq += 1) {
        if (interval > 0) {
          const due = started + offset + seq * interval;
          const wait = due - performance.now();
          if (wait > 0) await sleep(wait);
        }
        await target.publish(channel, seq, seq === task.events - 1);
        count += 1;
      }
    }),
  );
  const report: PublisherReport = { type: 'published', count, seconds: (performance.now() - started) / 1000 };
  process.send?.(report);
  target.close();
}

process.once('message', (task: PublisherTask) => {
  void run(task).catch((error: unknown) => {
    console.error('publisher failed:', error);
    process.exit(1);
  });
});
