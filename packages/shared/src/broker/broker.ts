import type { StoredEvent } from '../events/reader.ts';

/** A job's event as a broker hands it on: its id, its status and its JSON, unparsed. */
export type BrokerEvent = StoredEvent;

/** The one party a broker reports to: an API replica's fan-out hub. */
export interface BrokerListener {
  /** A live event of a job the broker is subscribed to. */
  event(jobId: string, event: BrokerEvent): void;
  /**
   * Live events of these jobs may have been missed (the connection that carries them was lost
   * and is back, re-subscribed): re-read their history from where their watchers are.
   */
  resync(jobIds: readonly string[]): void;
}

/**
 * Where an API replica gets jobs' events from, without the hub above it knowing how: live
 * events of the jobs it subscribes to, each job's stored history, and a signal when live
 * delivery may have had a gap. Subscriptions are per job and not counted here: the hub
 * subscribes a job once, however many watchers it has, and unsubscribes it when the last leaves.
 *
 * RedisBroker is the implementation on one Redis (one subscriber connection per replica);
 * an implementation on a Redis Cluster (one sharded subscriber per shard) fits the same
 * interface, and nothing above it changes.
 */
export interface Broker {
  /** Sets the listener; events and resyncs before this are not reported. */
  listen(listener: BrokerListener): void;
  /** Resolves once live events of the job reach the listener (until `unsubscribe`). */
  subscribe(jobId: string): Promise<void>;
  unsubscribe(jobId: string): void;
  /** At most `count` of the job's stored events strictly after `afterId` (from the first when null), oldest first: one page. */
  history(jobId: string, afterId: string | null, count: number): Promise<BrokerEvent[]>;
  /** Jobs subscribed now. */
  readonly subscriptions: number;
  /** Drops its connections; nothing is reported afterwards. */
  close(): void;
}
