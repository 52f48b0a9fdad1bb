import type { Redis } from 'ioredis';
import { decodeWireEvent } from '../events/wire.ts';
import type { EventReader } from '../events/reader.ts';
import { topics } from '../redis/keys.ts';
import type { Logger } from '../logger.ts';
import type { Broker, BrokerEvent, BrokerListener } from './broker.ts';

const NO_LISTENER: BrokerListener = { event() {}, resync() {} };

/**
 * The broker on one Redis (or the master behind Sentinel): one subscriber connection for every
 * job the replica watches (a sharded channel per job, SPUBLISHed by publish-6.lua in the same
 * step as the Stream), and the job's Stream for history, read on the command connection.
 *
 * Pub/sub is only the wake-up: when the subscriber connection comes back after a loss, it
 * reports every subscribed job for a resync, so what was published meanwhile is read from the
 * Streams.
 */
export class RedisBroker implements Broker {
  readonly #subscriber: Redis;
  readonly #reader: EventReader;
  readonly #logger: Logger;
  /** channel → job, for the jobs subscribed now. */
  readonly #jobs = new Map<string, string>();
  #listener = NO_LISTENER;
  #disconnected = false;

  constructor(subscriber: Redis, reader: EventReader, logger: Logger) {
    this.#subscriber = subscriber;
    this.#reader = reader;
    this.#logger = logger;
    subscriber.on('smessage', (channel: string, message: string) => this.#onMessage(channel, message));
    // Resync on the first 'ready' after a lost connection. (Not "every 'ready' but the first":
    // the connection may already be up when the broker is built, and then the first one it
    // sees is a reconnect.)
    subscriber.on('close', () => {
      this.#disconnected = true;
    });
    subscriber.on('ready', () => {
      if (!this.#disconnected) return;
      this.#disconnected = false;
      void this.#announceResync();
    });
  }

  get subscriptions(): number {
    return this.#jobs.size;
  }

  listen(listener: BrokerListener): void {
    this.#listener = listener;
  }

  async subscribe(jobId: string): Promise<void> {
    const channel = topics.channel(jobId);
    this.#jobs.set(channel, jobId);
    await this.#subscriber.ssubscribe(channel);
  }

  unsubscribe(jobId: string): void {
    const channel = topics.channel(jobId);
    this.#jobs.delete(channel);
    // Ordered after any SUBSCRIBE on the same connection, so a quick re-subscribe still ends subscribed.
    this.#subscriber.sunsubscribe(channel).catch((err: unknown) => {
      this.#logger.debug({ err, jobId }, 'unsubscribe failed (connection down; nothing to undo)');
    });
  }

  history(jobId: string, afterId: string | null, count: number): Promise<BrokerEvent[]> {
    return this.#reader.eventsAfter(jobId, afterId, count);
  }

  close(): void {
    this.#listener = NO_LISTENER;
    this.#subscriber.disconnect();
  }

  #onMessage(channel: string, message: string): void {
    const jobId = this.#jobs.get(channel);
    if (jobId === undefined) return;
    const event = decodeWireEvent(message);
    if (!event) {
      this.#logger.warn({ channel }, 'dropped a malformed pub/sub message');
      return;
    }
    this.#listener.event(jobId, event);
  }

  async #announceResync(): Promise<void> {
    try {
      // ioredis emits 'ready' just before it re-sends the subscriptions, so wait a tick for
      // them to be queued; PING is then answered after they took effect, and from there on no
      // live event can slip between a Stream read and the subscription.
      await new Promise((resolve) => setImmediate(resolve));
      await this.#subscriber.ping();
    } catch {
      return; // dropped again; the next 'ready' resyncs
    }
    this.#listener.resync([...this.#jobs.values()]);
  }
}
