import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { redisReconnectsCounter } from '@herald/shared';
import type { ConsumerObserver, FinalStatus } from '@herald/worker/internal';
import { WEBHOOK_ATTEMPT_OUTCOMES } from './chores/chores-worker.ts';

export const FINAL_STATUSES = ['done', 'error', 'cancelled'] as const satisfies readonly FinalStatus[];

export interface WorkerMetricsOptions {
  /**
   * Register into this registry (whose owner serves it and collects process metrics) rather
   * than a new one with herald_worker_ process metrics: `npm start` shares the API's.
   */
  readonly registry?: Registry;
}

/** The worker's Prometheus metrics, on a registry of its own unless given one. */
export function createWorkerMetrics(options: WorkerMetricsOptions = {}) {
  const registry = options.registry ?? new Registry();
  if (!options.registry) collectDefaultMetrics({ register: registry, prefix: 'herald_worker_' });

  const finished = new Counter({
    name: 'herald_jobs_finished_total',
    help: 'Jobs this worker ended, by final status (done, error, cancelled): one per job, when its terminal event is written',
    labelNames: ['status'] as const,
    registers: [registry],
  });
  const duration = new Histogram({
    name: 'herald_job_duration_seconds',
    help: 'From submission to the final event (queue wait, runs and retries included), by final status',
    labelNames: ['status'] as const,
    buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800],
    registers: [registry],
  });
  for (const status of FINAL_STATUSES) {
    finished.inc({ status }, 0);
    duration.zero({ status });
  }
  const webhookAttempts = new Counter({
    name: 'herald_webhook_attempts_total',
    help: 'Webhook delivery attempts this worker made, by outcome: delivered, pending (failed, will retry), failed (the last attempt failed), refused (host not allowed), gone (410)',
    labelNames: ['outcome'] as const,
    registers: [registry],
  });
  for (const outcome of WEBHOOK_ATTEMPT_OUTCOMES) webhookAttempts.inc({ outcome }, 0);

  return {
    registry,
    finished,
    duration,
    webhookAttempts,
    active: new Gauge({
      name: 'herald_jobs_active',
      help: 'Jobs this worker is running now (at most WORKER_CONCURRENCY)',
      registers: [registry],
    }),
    redisReconnects: redisReconnectsCounter(registry),
  };
}

export type WorkerMetrics = ReturnType<typeof createWorkerMetrics>;

/** The jobs the kinds' consumers run, counted in the worker's metrics. */
export const metricsObserver = (metrics: WorkerMetrics): ConsumerObserver => ({
  runStarted: () => metrics.active.inc(),
  runEnded: () => metrics.active.dec(),
  jobFinished: (status, seconds) => {
    metrics.finished.inc({ status });
    metrics.duration.observe({ status }, seconds);
  },
});
