import type { Counts } from '../lib/histogram.ts';

// Messages between the orchestrator and its load children (over the IPC channel of fork()).

export interface SubscriberTask {
  readonly type: 'subscribe';
  /** One SSE URL per connection; `channel` indexes the job the connection watches. */
  readonly connections: readonly { readonly url: string; readonly channel: number }[];
  /**
   * Reconnect a dropped connection with Last-Event-ID, as EventSource does, to the next of
   * these base URLs (`{url}` of each replica), rather than count the rest of it as lost.
   */
  readonly resumeVia?: readonly string[];
  /**
   * The loopback address this process connects from (127.0.0.x): each subscriber has its own, so
   * 100,000 connections to one port (Nchan's) do not run out of ephemeral ports (28,232 here per
   * source address and destination).
   */
  readonly localAddress?: string;
  /** Bench events published per channel; a connection is complete when it has all of them. */
  readonly events: number;
  /**
   * Close each connection once it has all its events. Herald ends a job's streams itself after
   * the terminal event; Nchan has no end of job, so its clients hang up instead — either way
   * every finished job's watchers disconnect, and both systems pay for it.
   */
  readonly closeOnComplete: boolean;
  /**
   * Batch streams (`events` unused): a stream carries many jobs' events and the batch's own, so
   * each connection checks its `id:`s (strictly increasing) instead of each job's sequence, and is
   * complete when the server ends it (after the batch's terminal event). Each connection's ids are
   * reported as a count and a digest, for the orchestrator to hold against the batch's Stream.
   */
  readonly batchStreams?: boolean;
  /** Reconnect after the `retry:` the stream last sent, as EventSource does (else 100–500 ms). */
  readonly honourRetry?: boolean;
}

/** One batch stream as a connection received it (SubscriberTask.batchStreams). */
export interface StreamReceipt {
  readonly channel: number;
  /** Events with an id after the previous one (duplicates and reordered ones are counted apart). */
  readonly received: number;
  /** SHA-1 of those ids, each followed by a line feed, in the order received. */
  readonly digest: string;
  /** The last event received was the batch's terminal one (`done`), with progress 100. */
  readonly endedOnTerminal: boolean;
}

export interface SubscriberStats {
  readonly type: 'stats';
  readonly delivered: number;
  readonly expected: number;
  readonly dup: number;
  readonly reordered: number;
  readonly failed: number;
  readonly completed: number;
  readonly reconnects: number;
  readonly histogram: { counts: Counts; max: number };
  /** Latency of the events received while the orchestrator's window was open ({type: 'window'}). */
  readonly windowHistogram: { counts: Counts; max: number };
  /** When each reconnect was sent, ms since the epoch. */
  readonly reconnectTimes: readonly number[];
  /** batchStreams: each connection's receipt. */
  readonly streams?: readonly StreamReceipt[];
  /** batchStreams: latency of the batches' own events, from their `ts` (ms resolution). */
  readonly batchHistogram?: { counts: Counts; max: number };
}

export type SubscriberReport = { readonly type: 'connected'; readonly failed: number } | { readonly type: 'complete' } | SubscriberStats;

export interface PublisherTask {
  readonly type: 'publish';
  readonly system: 'herald' | 'nchan' | 'floor';
  readonly channels: readonly string[];
  readonly events: number;
  /** Events per second per channel; 0 = as fast as possible. */
  readonly rate: number;
  /** Characters of summary text each event carries (scenarios.ts); 0: none. */
  readonly deltaChars: number;
  /** What points Herald at Redis (REDIS_URL, or REDIS_CLUSTER_NODES…). */
  readonly redisEnv: Record<string, string>;
  /** nchan: the publish URL with {chan} in it. */
  readonly pubUrl?: string;
  /** floor: its processes (host:port). */
  readonly floorAddresses?: readonly string[];
  /** A channel to publish a few events to first, so both systems start warm. */
  readonly warmupChannel: string;
}

export type PublisherReport = { readonly type: 'warm' } | { readonly type: 'published'; readonly count: number; readonly seconds: number };
