import type { Redis } from 'ioredis';
import {
  channels,
  compareStreamIds,
  decodeWireEvent,
  formatStreamId,
  type EventReader,
  type Logger,
} from '@herald/shared';
import { toFanoutEvent, type EventSink, type FanoutEvent } from './fanout-event.ts';

interface Topic {
  readonly jobId: string;
  readonly channel: string;
  readonly sinks: Set<EventSink>;
  /** Settles when Redis has confirmed the subscription. */
  readonly subscribed: Promise<unknown>;
}

/** Told of each event the hub fans out, once per event (not per watcher): metrics. */
export type FanoutObserver = (event: FanoutEvent, watchers: number) => void;

/**
 * The replica's one Redis subscriber, shared by all its watchers. A job's channel is subscribed
 * while at least one local watcher watches the job (reference counted by the topic's sinks) and
 * unsubscribed when the last leaves. Each message is decoded and framed once, then the same
 * buffer goes to every sink of the job.
 *
 * Pub/sub is only the wake-up: after a reconnect the hub re-reads each watched Stream from the
 * oldest position its sinks hold, so events published while the connection was down still arrive.
 */
export class FanoutHub {
  readonly #subscriber: Redis;
  readonly #reader: EventReader;
  readonly #logger: Logger;
  readonly #observe: FanoutObserver;
  readonly #topics = new Map<string, Topic>();
  readonly #byChannel = new Map<string, Topic>();
  #disconnected = false;
  /** Sinks written to in this tick, uncorked together when it ends. */
  readonly #corked = new Set<EventSink>();
  readonly #uncorkAll = (): void => {
    for (const sink of this.#corked) sink.uncork();
    this.#corked.clear();
  };

  constructor(subscriber: Redis, reader: EventReader, logger: Logger, observe: FanoutObserver = () => {}) {
    this.#subscriber = subscriber;
    this.#reader = reader;
    this.#logger = logger;
    this.#observe = observe;
    subscriber.on('message', (channel: string, message: string) => this.#onMessage(channel, message));
    // Resync on the first 'ready' after a lost connection. (Not "every 'ready' but the first":
    // the connection may already be up when the hub is built, and then the first one it sees
    // is a reconnect.)
    subscriber.on('close', () => {
      this.#disconnected = true;
    });
    subscriber.on('ready', () => {
      if (!this.#disconnected) return;
      this.#disconnected = false;
      void this.#resyncAll();
    });
  }

  get watchedJobs(): number {
    return this.#topics.size;
  }

  /** Adds a sink to its job's topic; resolves once live events for the job will reach it. */
  async join(jobId: string, sink: EventSink): Promise<void> {
    let topic = this.#topics.get(jobId);
    if (!topic) {
      const channel = channels.events(jobId);
      topic = { jobId, channel, sinks: new Set(), subscribed: this.#subscriber.subscribe(channel) };
      this.#topics.set(jobId, topic);
      this.#byChannel.set(channel, topic);
    }
    topic.sinks.add(sink);
    try {
      await topic.subscribed;
    } catch (error) {
      this.leave(jobId, sink);
      throw error;
    }
  }

  leave(jobId: string, sink: EventSink): void {
    const topic = this.#topics.get(jobId);
    if (!topic || !topic.sinks.delete(sink) || topic.sinks.size > 0) return;
    this.#topics.delete(jobId);
    this.#byChannel.delete(topic.channel);
    // Ordered after any SUBSCRIBE on the same connection, so a quick re-join still ends subscribed.
    this.#subscriber.unsubscribe(topic.channel).catch((err: unknown) => {
      this.#logger.debug({ err, jobId }, 'unsubscribe failed (connection down; nothing to undo)');
    });
  }

  #onMessage(channel: string, message: string): void {
    const topic = this.#byChannel.get(channel);
    if (!topic) return;
    const wire = decodeWireEvent(message);
    const event = wire && toFanoutEvent(wire);
    if (!event) {
      this.#logger.warn({ channel }, 'dropped a malformed pub/sub message');
      return;
    }
    this.#dispatch(topic, event);
  }

  #dispatch(topic: Topic, event: FanoutEvent): void {
    // Messages that arrive in one read from Redis are dispatched in one tick: cork each sink
    // once and uncork them all after the tick, so a busy job's watchers get one write per tick.
    if (this.#corked.size === 0) process.nextTick(this.#uncorkAll);
    this.#observe(event, topic.sinks.size);
    // Sinks may leave during the loop (terminal event, cut-off): a Set iterates safely past that.
    for (const sink of topic.sinks) {
      if (!this.#corked.has(sink)) {
        this.#corked.add(sink);
        sink.cork();
      }
      sink.deliver(event);
    }
  }

  async #resyncAll(): Promise<void> {
    try {
      // ioredis emits 'ready' just before it re-sends the subscriptions, so wait a tick for
      // them to be queued; PING is then answered after they took effect, and from there on no
      // live event can slip between the Stream read below and the subscription.
      await new Promise((resolve) => setImmediate(resolve));
      await this.#subscriber.ping();
    } catch {
      return; // dropped again; the next 'ready' resyncs
    }
    await Promise.all([...this.#topics.values()].map((topic) => this.#resync(topic)));
  }

  async #resync(topic: Topic): Promise<void> {
    let oldest: EventSink['position'] | null = null;
    for (const sink of topic.sinks) {
      if (!oldest || compareStreamIds(sink.position, oldest) < 0) oldest = sink.position;
    }
    if (!oldest) return;
    for (let attempt = 0; attempt < 20; attempt += 1) {
      try {
        const missed = await this.#reader.eventsAfter(topic.jobId, formatStreamId(oldest));
        for (const stored of missed) {
          const event = toFanoutEvent(stored);
          if (event) this.#dispatch(topic, event);
        }
        return;
      } catch (err) {
        // The command connection reconnects on its own schedule; wait for it.
        this.#logger.debug({ err, jobId: topic.jobId, attempt }, 'resync read failed; retrying');
        await new Promise((resolve) => setTimeout(resolve, 250));
      }
    }
    this.#logger.warn({ jobId: topic.jobId }, 'gave up re-reading a Stream after a reconnect');
  }
}
