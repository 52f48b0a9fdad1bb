import type { ConnectionOptions, Worker } from 'bullmq';
import { releaseBullConnection, type Chores, type Config, type Logger } from '@herald/shared';
import { startConsumer, type ConsumerObserver } from './consumer.ts';
import type { AnyJobKind } from './jobs/kind.ts';
import type { RunJobDeps } from './jobs/run-job.ts';

export interface KindWorkersDeps {
  readonly config: Pick<Config, 'WORKER_CONCURRENCY' | 'JOB_LOCK_MS' | 'JOB_ATTEMPTS'>;
  readonly logger: Logger;
  readonly observer: ConsumerObserver;
  /** What a run needs: the publisher, cancellation, the flush interval. */
  readonly job: RunJobDeps;
  readonly kinds: readonly AnyJobKind[];
  readonly chores: Chores;
  /** BullMQ's connection for one kind's Worker; released (releaseBullConnection) once it is closed. */
  readonly connect: (kind: string) => ConnectionOptions;
}

export interface KindWorkers {
  waitUntilReady(): Promise<void>;
  /** Stops taking jobs and waits for the active ones to end (the caller bounds the wait: SHUTDOWN_GRACE_MS). */
  drain(): Promise<void>;
  /** Releases BullMQ's connections; after drain (or after giving up on it). */
  release(): void;
}

/**
 * One BullMQ Worker per kind, on the queue named after it (kindQueueName): a process takes only
 * the jobs of the kinds it runs, each kind up to WORKER_CONCURRENCY at once. What both Herald's
 * worker process and a worker of your own (startWorker) run.
 */
export function startKindWorkers({ kinds, connect, ...deps }: KindWorkersDeps): KindWorkers {
  const names = new Set<string>();
  for (const kind of kinds) {
    if (names.has(kind.name)) throw new Error(`two kinds are named ${kind.name}`);
    names.add(kind.name);
  }
  const running: { worker: Worker<unknown>; connection: ConnectionOptions }[] = kinds.map((kind) => {
    const connection = connect(kind.name);
    return { worker: startConsumer({ ...deps, kind, connection }), connection };
  });
  return {
    async waitUntilReady() {
      await Promise.all(running.map(({ worker }) => worker.waitUntilReady()));
    },
    async drain() {
      await Promise.all(running.map(({ worker }) => worker.close()));
    },
    release() {
      for (const { connection } of running) releaseBullConnection(connection);
    },
  };
}
