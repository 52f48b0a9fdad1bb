import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';

/** Counts read when Prometheus scrapes, rather than kept up to date on every connect. */
export interface MetricSources {
  readonly watchers: () => number;
  readonly watchedJobs: () => number;
}

/** The replica's Prometheus metrics, on a registry of its own (tests run two replicas in one process). */
export function createApiMetrics(sources: MetricSources) {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'herald_api_' });
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
    streamsEnded: new Counter({
      name: 'herald_sse_streams_ended_total',
      help: 'SSE streams ended, by how: completed, client-left, cut-off (slow consumer), drained',
      labelNames: ['how'] as const,
      registers: [registry],
    }),
    jobsSubmitted: new Counter({
      name: 'herald_jobs_submitted_total',
      help: 'Jobs accepted by this replica',
      registers: [registry],
    }),
  };
}

export type ApiMetrics = ReturnType<typeof createApiMetrics>;
