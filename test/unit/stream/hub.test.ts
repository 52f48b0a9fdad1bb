import { describe, expect, it } from 'vitest';
import { compareStreamIds, parseStreamId, STREAM_START, type StreamId } from '@herald/contract';
import { createLogger, type Broker, type BrokerEvent, type BrokerListener } from '@herald/shared';
import type { EventSink, FanoutEvent } from '../../../apps/api/src/stream/fanout-event.ts';
import { FanoutHub } from '../../../apps/api/src/stream/hub.ts';
import { until } from '../../support/loopback-response.ts';

// The fan-out hub on its own, against an in-memory broker: nothing here depends on Redis, which
// is the point of the seam (the Redis broker is covered by the integration suite).

/**
 * Jobs' logs in memory. Live delivery can be cut (`drop`) and restored (`restore`, which
 * signals a resync of every subscribed job, as a reconnected subscriber does).
 */
class MemoryBroker implements Broker {
  readonly logs = new Map<string, BrokerEvent[]>();
  readonly subscribed = new Set<string>();
  readonly calls: string[] = [];
  historyFailures = 0;
  #listener: BrokerListener | null = null;
  #live = true;
  #seq = 0;

  get subscriptions(): number {
    return this.subscribed.size;
  }

  listen(listener: BrokerListener): void {
    this.#listener = listener;
  }

  async subscribe(jobId: string): Promise<void> {
    this.calls.push(`subscribe ${jobId}`);
    if (jobId.startsWith('refused')) throw new Error('subscribe refused');
    this.subscribed.add(jobId);
  }

  unsubscribe(jobId: string): void {
    this.calls.push(`unsubscribe ${jobId}`);
    this.subscribed.delete(jobId);
  }

  readonly counts: number[] = [];

  async history(jobId: string, afterId: string | null, count: number): Promise<BrokerEvent[]> {
    this.calls.push(`history ${jobId} ${afterId}`);
    this.counts.push(count);
    if (this.historyFailures > 0) {
      this.historyFailures -= 1;
      throw new Error('history unavailable');
    }
    const after = afterId === null ? STREAM_START : parseStreamId(afterId)!;
    return (this.logs.get(jobId) ?? []).filter((event) => compareStreamIds(parseStreamId(event.id)!, after) > 0).slice(0, count);
  }

  close(): void {}

  /** Appends an event to the job's log and, while live, hands it to the listener. */
  publish(jobId: string, status = 'processing'): BrokerEvent {
    this.#seq += 1;
    const event = { id: `${this.#seq}-0`, status, data: `{"jobId":"${jobId}","n":${this.#seq},"ts":${1000 + this.#seq}}` };
    this.logs.set(jobId, [...(this.logs.get(jobId) ?? []), event]);
    if (this.#live && this.subscribed.has(jobId)) this.#listener?.event(jobId, event);
    return event;
  }

  /** Hands an event to the listener as a subscriber would, without logging it. */
  handOn(jobId: string, event: BrokerEvent): void {
    this.#listener?.event(jobId, event);
  }

  drop(): void {
    this.#live = false;
  }

  restore(): void {
    this.#live = true;
    this.#listener?.resync([...this.subscribed]);
  }
}

/** A sink that keeps what it was handed, and moves its position as a watcher does (id gate). */
class RecordingSink implements EventSink {
  readonly received: FanoutEvent[] = [];
  readonly handed: FanoutEvent[] = [];
  corks = 0;
  uncorks = 0;
  position: StreamId;

  constructor(position: StreamId = STREAM_START) {
    this.position = position;
  }

  deliver(event: FanoutEvent): void {
    this.handed.push(event);
    if (compareStreamIds(event.position, this.position) <= 0) return;
    this.position = event.position;
    this.received.push(event);
  }

  cork(): void {
    this.corks += 1;
  }

  uncork(): void {
    this.uncorks += 1;
  }

  get ids(): string[] {
    return this.received.map((event) => event.id);
  }
}

const quiet = createLogger('test', 'silent');
const tick = () => new Promise((resolve) => setImmediate(resolve));
const setUp = (options: ConstructorParameters<typeof FanoutHub>[2] = {}) => {
  const broker = new MemoryBroker();
  return { broker, hub: new FanoutHub(broker, quiet, { resyncRetryMs: 1, ...options }) };
};

describe('FanoutHub', () => {
  it('subscribes a job once for all its sinks, and unsubscribes when the last one leaves', async () => {
    const { broker, hub } = setUp();
    const [a, b] = [new RecordingSink(), new RecordingSink()];
    await Promise.all([hub.join('job', a), hub.join('job', b)]);
    expect(broker.calls).toEqual(['subscribe job']);
    expect(hub.watchedJobs).toBe(1);
    hub.leave('job', a);
    hub.leave('job', a); // a second leave of the same sink changes nothing
    expect(broker.subscribed.has('job')).toBe(true);
    hub.leave('job', b);
    expect(broker.calls).toEqual(['subscribe job', 'unsubscribe job']);
    expect(hub.watchedJobs).toBe(0);
  });

  it('hands each event to every sink of its job, framed once: the same buffer for all', async () => {
    const { broker, hub } = setUp();
    const sinks = [new RecordingSink(), new RecordingSink(), new RecordingSink()];
    const other = new RecordingSink();
    for (const sink of sinks) await hub.join('job', sink);
    await hub.join('other', other);
    broker.publish('job');
    broker.publish('job', 'done');
    for (const sink of sinks) expect(sink.ids).toEqual(['1-0', '2-0']);
    expect(other.ids).toEqual([]);
    expect(sinks[1]!.received[0]!.frame).toBe(sinks[0]!.received[0]!.frame);
    expect(sinks[2]!.received[1]!.frame).toBe(sinks[0]!.received[1]!.frame);
    expect(sinks[0]!.received[1]!.terminal).toBe(true);
    expect(sinks[0]!.received[0]!.frame.toString()).toBe('id: 1-0\ndata: {"jobId":"job","n":1,"ts":1001}\n\n');
  });

  it('tells its observer of each event once, with how many sinks it reached', async () => {
    const seen: [string, number, number | null][] = [];
    const { broker, hub } = setUp({ observe: (event, watchers) => seen.push([event.id, watchers, event.ts]) });
    await hub.join('job', new RecordingSink());
    await hub.join('job', new RecordingSink());
    broker.publish('job');
    expect(seen).toEqual([['1-0', 2, 1001]]);
  });

  it('corks each sink once for the events of one tick, and uncorks them all after it', async () => {
    const { broker, hub } = setUp();
    const sink = new RecordingSink();
    await hub.join('job', sink);
    for (let i = 0; i < 5; i += 1) broker.publish('job');
    expect([sink.corks, sink.uncorks]).toEqual([1, 0]);
    await tick();
    expect([sink.corks, sink.uncorks]).toEqual([1, 1]);
    expect(sink.ids).toHaveLength(5);
  });

  it('re-reads a job after a resync signal from the oldest position its sinks hold: nothing missed', async () => {
    const { broker, hub } = setUp();
    const ahead = new RecordingSink();
    const behind = new RecordingSink(parseStreamId('0-5')!);
    await hub.join('job', ahead);
    broker.publish('job'); // 1-0, live to both
    await hub.join('job', behind);
    broker.drop();
    broker.publish('job'); // 2-0 and 3-0 published while the connection was down
    broker.publish('job');
    expect(ahead.ids).toEqual(['1-0']);
    broker.restore();
    await tick();
    expect(broker.calls).toContain('history job 0-5');
    // Both get what they lacked; the one ahead is handed 1-0 again and its gate drops it.
    expect(ahead.ids).toEqual(['1-0', '2-0', '3-0']);
    expect(behind.ids).toEqual(['1-0', '2-0', '3-0']);
    expect(ahead.handed.map((event) => event.id)).toEqual(['1-0', '1-0', '2-0', '3-0']);
    broker.publish('job'); // and live again
    expect(ahead.ids.at(-1)).toBe('4-0');
  });

  it('keeps re-reading while the history is unavailable, then delivers', async () => {
    const { broker, hub } = setUp();
    const sink = new RecordingSink();
    await hub.join('job', sink);
    broker.drop();
    broker.publish('job');
    broker.historyFailures = 3;
    broker.restore();
    await until(() => sink.ids.length === 1);
    expect(broker.calls.filter((call) => call.startsWith('history'))).toHaveLength(4);
  });

  it('gives up re-reading after its attempts, without throwing', async () => {
    const { broker, hub } = setUp({ resyncAttempts: 2 });
    const sink = new RecordingSink();
    await hub.join('job', sink);
    broker.drop();
    broker.publish('job');
    broker.historyFailures = 5;
    broker.restore();
    await until(() => broker.calls.filter((call) => call.startsWith('history')).length === 2);
    await tick();
    expect(sink.ids).toEqual([]);
  });

  it('ignores a resync for a job nobody here watches, and events for jobs it left', async () => {
    const { broker, hub } = setUp();
    const sink = new RecordingSink();
    await hub.join('job', sink);
    hub.leave('job', sink);
    broker.subscribed.add('job'); // an unsubscribe not yet taken effect: a late message arrives
    broker.publish('job');
    broker.restore();
    await tick();
    expect(sink.handed).toEqual([]);
    expect(broker.calls.some((call) => call.startsWith('history'))).toBe(false);
  });

  it('leaves the topic and rethrows when the broker refuses the subscription', async () => {
    const { broker, hub } = setUp();
    await expect(hub.join('refused-job', new RecordingSink())).rejects.toThrow('subscribe refused');
    expect(hub.watchedJobs).toBe(0);
    expect(broker.calls).toEqual(['subscribe refused-job', 'unsubscribe refused-job']);
  });

  it('serves a joining sink the job’s history after a position', async () => {
    const { broker, hub } = setUp();
    broker.publish('job');
    broker.publish('job');
    broker.publish('job', 'done');
    const history = await hub.history('job', '1-0');
    expect(history.events.map((event) => [event.id, event.status])).toEqual([
      ['2-0', 'processing'],
      ['3-0', 'done'],
    ]);
    expect(history.next).toBeNull();
    expect((await hub.history('job', null)).events.map((event) => event.id)).toEqual(['1-0', '2-0', '3-0']);
  });

  it('reads a history a page of HISTORY_PAGE_EVENTS at a time, each saying where the next starts', async () => {
    const { broker, hub } = setUp({ pageEvents: 2 });
    for (let i = 0; i < 5; i += 1) broker.publish('job');
    const pages = [];
    for (let after: string | null = null, first = true; first || after !== null; first = false) {
      const page = await hub.history('job', after);
      pages.push({ ids: page.events.map((event) => event.id), next: page.next });
      after = page.next;
    }
    expect(pages).toEqual([
      { ids: ['1-0', '2-0'], next: '2-0' },
      { ids: ['3-0', '4-0'], next: '4-0' },
      { ids: ['5-0'], next: null },
    ]);
    expect(broker.counts).toEqual([2, 2, 2]);
  });

  it('re-reads after a resync a page at a time, never a whole history in one read', async () => {
    const { broker, hub } = setUp({ pageEvents: 2 });
    const sink = new RecordingSink();
    await hub.join('job', sink);
    broker.drop();
    for (let i = 0; i < 5; i += 1) broker.publish('job');
    broker.restore();
    await until(() => sink.ids.length === 5);
    expect(sink.ids).toEqual(['1-0', '2-0', '3-0', '4-0', '5-0']);
    expect(broker.calls.filter((call) => call.startsWith('history'))).toEqual(['history job 0-0', 'history job 2-0', 'history job 4-0']);
    expect(broker.counts).toEqual([2, 2, 2]);
  });

  it('drops an event whose id is not an event id rather than passing it on', async () => {
    const { broker, hub } = setUp();
    const sink = new RecordingSink();
    await hub.join('job', sink);
    broker.handOn('job', { id: 'not-an-id', status: 'processing', data: '{}' });
    broker.publish('job');
    expect(sink.handed.map((event) => event.id)).toEqual(['1-0']);
  });
});
