import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { redisReconnectsCounter } from '@herald/shared';
import { WATCHER_ENDS } from './stream/watcher-limits.ts';

/** Counts read when Prometheus scrapes, rather than kept up to date on every connect. */
export interface MetricSources {
  readonly watchers: () => number;
  readonly watchedJobs: () => number;
  /** The queue's job counts by state; may reject or hang when Redis is away (bounded here). */
  readonly queueCounts: () => Promise<Record<string, number>>;
}

/** The limits a request can be refused by (limits/, and the replica's MAX_SSE_CLIENTS). */
export const LIMITS = ['submit_key', 'submit_ip', 'active_key', 'read_ip', 'streams_ip', 'streams_replica'] as const;
export type LimitName = (typeof LIMITS)[number];
export const QUEUE_STATES = ['waiting', 'active', 'delayed'] as const;
/** A scrape waits at most this long for the queue counts, then shows the last ones it had. */
const QUEUE_COUNTS_TIMEOUT_MS = 500;

/**
 * The replica's Prometheus metrics, on a registry of its own (tests run two replicas in one
 * process; `npm start` adds the worker's metrics to it).
 */
export function createApiMetrics(sources: MetricSources) {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'herald_api_' });

  const streamsEnded = new Counter({
    name: 'herald_sse_streams_ended_total',
    help: 'SSE streams ended, by how: completed, client-left, cut-off (slow consumer), drained',
    labelNames: ['how'] as const,
    registers: [registry],
  });
  for (const how of WATCHER_ENDS) streamsEnded.inc({ how }, 0);

  const limitsRefused = new Counter({
    name: 'herald_limits_refused_total',
    help: 'Requests this replica refused over a limit: submit_key, submit_ip (429; 413 for a batch that never fits), active_key (429; 413), read_ip (429), streams_ip (429), streams_replica (503)',
    labelNames: ['limit'] as const,
    registers: [registry],
  });
  for (const limit of LIMITS) limitsRefused.inc({ limit }, 0);

  const queueDepth = new Gauge({
    name: 'herald_queue_depth',
    help: 'Jobs in the queue by state (waiting, active, delayed), read at scrape time; the last value read when Redis does not answer',
    labelNames: ['state'] as const,
    registers: [registry],
    async collect() {
      const counts = await queueCounts();
      if (!counts) return;
      for (const state of QUEUE_STATES) this.set({ state }, counts[state] ?? 0);
    },
  });

  // One read at a time: while Redis is away a read waits in the connection's offline queue, and
  // scrapes must neither pile more behind it nor wait for it.
  let pending: Promise<Record<string, number> | null> | null = null;
  const queueCounts = async (): Promise<Record<string, number> | null> => {
    pending ??= sources
      .queueCounts()
      .then(
        (counts) => counts,
        () => null,
      )
      .finally(() => {
        pending = null;
      });
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<null>((resolve) => {
      timer = setTimeout(() => resolve(null), QUEUE_COUNTS_TIMEOUT_MS);
    });
    try {
      return await Promise.race([pending, timeout]);
    } finally {
      clearTimeout(timer);
    }
  };

  return {
    registry,
    watchers: new Gauge({
      name: 'herald_sse_watchers',
      help: 'SSE clients connected to this replica',
      registers: [registry],
      collect() {
        this.set(sources.watchers());
      },
    }),
    watchedJobs: new Gauge({
      name: 'herald_sse_watched_jobs',
      help: 'Jobs this replica holds a pub/sub subscription for',
      registers: [registry],
      collect() {
        this.set(sources.watchedJobs());
      },
    }),
    streamsEnded,
    limitsRefused,
    jobsSubmitted: new Counter({
      name: 'herald_jobs_submitted_total',
      help: 'Jobs accepted by this replica',
      registers: [registry],
    }),
    jobsCancelledQueued: new Counter({
      name: 'herald_jobs_cancelled_queued_total',
      help: 'Jobs this replica ended with a cancel: still queued (no worker ever ran them, so none counts them) or external',
      registers: [registry],
    }),
    eventsFannedOut: new Counter({
      name: 'herald_fanout_events_total',
      help: 'Live events this replica received for the jobs its watchers watch, counted once per event',
      registers: [registry],
    }),
    eventDeliveries: new Counter({
      name: 'herald_fanout_deliveries_total',
      help: 'Live events handed to SSE watchers: one per event per local watcher of its job',
      registers: [registry],
    }),
    fanoutLatency: new Histogram({
      name: 'herald_fanout_latency_seconds',
      help: "From an event's publish (its ts) to this replica writing it to its watchers, once per event",
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    }),
    queueDepth,
    redisReconnects: redisReconnectsCounter(registry),
  };
}

export type ApiMetrics = ReturnType<typeof createApiMetrics>;
