import type { Cluster, Redis } from 'ioredis';
import calculateSlot from 'cluster-key-slot';
import type { EventReader } from '../events/reader.ts';
import { decodeWireEvent } from '../events/wire.ts';
import type { Logger } from '../logger.ts';
import { topics } from '../redis/keys.ts';
import { parseHostPort, type HostPort } from '../redis/connection.ts';
import type { Broker, BrokerEvent, BrokerListener } from './broker.ts';

const NO_LISTENER: BrokerListener = { event() {}, resync() {} };

/** One master's sharded subscriber connection, and the job channels it holds now. */
interface ShardSubscriber {
  readonly node: string;
  readonly connection: Redis;
  readonly channels: Set<string>;
  /** The connection was lost and has not been resynced since. */
  lost: boolean;
}

export interface ClusterBrokerOptions {
  /** A plain connection to one node (connection.ts connectNode, with the Cluster's credentials). */
  readonly connectNode: (node: HostPort) => Redis;
  /** How long to wait before trying a subscription again while a slot has no reachable master. */
  readonly retryMs?: number;
}

/**
 * The broker on a Redis Cluster: a job's events are published with SPUBLISH on a channel in the
 * job's slot (publish-6.lua), so each shard carries only its own jobs' events; this replica holds
 * one sharded subscriber connection per master that owns a watched job — however many jobs and
 * watchers — and SSUBSCRIBEs each watched job's channel on the master that owns its slot.
 *
 * A slot changes hands (resharding, a failover): the old master drops its subscribers from the
 * slot's channels (an unsolicited SUNSUBSCRIBE, which ioredis reports as 'moved'), or the
 * connection to a dead master closes. Either way the broker refreshes the slot map, moves each
 * channel whose owner changed to the new owner's subscriber and, once it is subscribed there,
 * reports those jobs for a resync, so what was published in between is read from the Streams —
 * nothing is lost, and the hub's id gate lets nothing through twice. The Cluster's periodic slot
 * refresh runs the same check, in case a notice never came.
 */
export class ClusterBroker implements Broker {
  readonly #cluster: Cluster;
  readonly #reader: EventReader;
  readonly #logger: Logger;
  readonly #options: ClusterBrokerOptions;
  /** channel → job, for the jobs subscribed now. */
  readonly #jobs = new Map<string, string>();
  /** channel → the subscriber holding it (absent while it is being placed). */
  readonly #routes = new Map<string, ShardSubscriber>();
  /** master "host:port" → its subscriber. */
  readonly #shards = new Map<string, ShardSubscriber>();
  #listener = NO_LISTENER;
  #closed = false;
  #checking = false;
  #checkAgain = false;

  constructor(cluster: Cluster, reader: EventReader, logger: Logger, options: ClusterBrokerOptions) {
    this.#cluster = cluster;
    this.#reader = reader;
    this.#logger = logger;
    this.#options = options;
    cluster.on('refresh', () => this.#checkRoutes());
  }

  get subscriptions(): number {
    return this.#jobs.size;
  }

  /** Sharded subscriber connections open now: at most one per master. */
  get shardConnections(): number {
    return this.#shards.size;
  }

  listen(listener: BrokerListener): void {
    this.#listener = listener;
  }

  async subscribe(jobId: string): Promise<void> {
    const channel = topics.channel(jobId);
    this.#jobs.set(channel, jobId);
    await this.#place(channel);
  }

  unsubscribe(jobId: string): void {
    const channel = topics.channel(jobId);
    this.#jobs.delete(channel);
    const shard = this.#routes.get(channel);
    this.#routes.delete(channel);
    if (!shard) return;
    shard.channels.delete(channel);
    shard.connection.sunsubscribe(channel).catch((err: unknown) => {
      this.#logger.debug({ err, jobId }, 'sunsubscribe failed (connection down or slot moved; nothing to undo)');
    });
  }

  history(jobId: string, afterId: string | null, count: number): Promise<BrokerEvent[]> {
    return this.#reader.eventsAfter(jobId, afterId, count);
  }

  close(): void {
    this.#closed = true;
    this.#listener = NO_LISTENER;
    for (const shard of this.#shards.values()) shard.connection.disconnect();
    this.#shards.clear();
    this.#routes.clear();
  }

  /** The master that owns the channel's slot, by the Cluster's slot map ("host:port"). */
  #ownerOf(channel: string): string | undefined {
    return this.#cluster.slots[calculateSlot(channel)]?.[0];
  }

  /**
   * Subscribes the channel on its slot's master; on MOVED (the map was stale) follows the
   * answer, and while the slot has no reachable master (a failover under way) tries again.
   * Resolves once subscribed, or when the job is no longer wanted.
   */
  async #place(channel: string, hint?: string): Promise<void> {
    for (let attempt = 0; !this.#closed && this.#jobs.has(channel); attempt += 1) {
      const node = hint ?? this.#ownerOf(channel);
      hint = undefined;
      if (node !== undefined) {
        const shard = this.#shardFor(node);
        try {
          await shard.connection.ssubscribe(channel);
          if (!this.#jobs.has(channel)) {
            await shard.connection.sunsubscribe(channel).catch(() => {});
            return;
          }
          const previous = this.#routes.get(channel);
          if (previous && previous !== shard) previous.channels.delete(channel);
          shard.channels.add(channel);
          this.#routes.set(channel, shard);
          return;
        } catch (error) {
          const moved = /^MOVED \d+ (\S+)$/.exec((error as Error).message);
          if (moved) {
            hint = moved[1];
            this.#cluster.refreshSlotsCache();
            continue;
          }
          this.#logger.debug({ err: error, node }, 'ssubscribe failed; trying again');
        }
      } else {
        this.#cluster.refreshSlotsCache();
      }
      await new Promise((resolve) => setTimeout(resolve, Math.min(50 * 2 ** attempt, this.#options.retryMs ?? 500)));
    }
  }

  #shardFor(node: string): ShardSubscriber {
    const existing = this.#shards.get(node);
    if (existing) return existing;
    const connection = this.#options.connectNode(parseHostPort(node));
    const shard: ShardSubscriber = { node, connection, channels: new Set(), lost: false };
    connection.on('smessage', (channel: string, message: string) => this.#onMessage(channel, message));
    // The master gave up a slot (an unsolicited SUNSUBSCRIBE) or answered MOVED to a resubscribe.
    connection.on('moved', () => this.#cluster.refreshSlotsCache());
    connection.on('close', () => {
      if (shard.lost || this.#closed) return;
      shard.lost = true;
      // A dead master's slots go to a replica: look where its channels belong now.
      this.#cluster.refreshSlotsCache();
    });
    connection.on('ready', () => {
      if (!shard.lost) return;
      shard.lost = false;
      // ioredis re-sends the subscriptions after 'ready': once PING answers they are in force.
      void (async () => {
        await new Promise((resolve) => setImmediate(resolve));
        await connection.ping().catch(() => {});
        this.#listener.resync(this.#jobsOf([...shard.channels]));
      })();
    });
    connection.on('error', (err: Error) => this.#logger.warn({ connection: 'fanout', node, err: err.message }, 'redis connection error'));
    this.#shards.set(node, shard);
    return shard;
  }

  /**
   * After a slot map refresh: moves every channel whose slot now has another master, resyncs
   * those jobs once they are subscribed again, and closes subscribers of nodes that own none of
   * this replica's channels and are no longer masters. One check at a time; a refresh during a
   * check runs another after it.
   */
  #checkRoutes(): void {
    if (this.#checking) {
      this.#checkAgain = true;
      return;
    }
    this.#checking = true;
    void this.#moveChannels()
      .catch((err: unknown) => this.#logger.warn({ err }, 'could not follow moved slots; the next slot refresh tries again'))
      .finally(() => {
        this.#checking = false;
        if (this.#checkAgain && !this.#closed) {
          this.#checkAgain = false;
          this.#checkRoutes();
        }
      });
  }

  async #moveChannels(): Promise<void> {
    const moving = [...this.#routes].filter(([channel, shard]) => this.#ownerOf(channel) !== shard.node).map(([channel]) => channel);
    if (moving.length > 0) {
      this.#logger.info({ channels: moving.length }, 'slots moved: following their job channels to their new masters');
      for (const channel of moving) {
        const shard = this.#routes.get(channel);
        shard?.channels.delete(channel);
        shard?.connection.sunsubscribe(channel).catch(() => {});
      }
      await Promise.all(moving.map((channel) => this.#place(channel)));
      this.#listener.resync(this.#jobsOf(moving));
    }
    const masters = new Set(this.#cluster.slots.map((owners) => owners[0]));
    for (const [node, shard] of this.#shards) {
      if (shard.channels.size === 0 && !masters.has(node)) {
        shard.connection.disconnect();
        this.#shards.delete(node);
      }
    }
  }

  #jobsOf(channelNames: readonly string[]): string[] {
    return channelNames.map((channel) => this.#jobs.get(channel)).filter((jobId): jobId is string => jobId !== undefined);
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
}
