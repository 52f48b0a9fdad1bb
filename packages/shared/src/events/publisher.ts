import type { Redis } from 'ioredis';
import type { JobEvent, ProgressUpdate } from '@herald/contract';
import { publishScript } from '../redis/scripts/publish.ts';

export interface PublisherOptions {
  /** How long a job's Stream and snapshot live after its terminal event. */
  readonly ttlSeconds: number;
  /** Approximate cap on a job's Stream length (XADD MAXLEN ~). */
  readonly streamMaxLen: number;
  readonly now?: () => number;
}

export interface PublishedEvent {
  readonly id: string;
  readonly event: JobEvent;
}

/**
 * Where an event is published: one atomic script appends it to the job's Stream, updates the
 * snapshot and publishes the wake-up (redis/scripts/publish-2.lua). Used by workers, and by
 * the API for the events it owns (`queued`, and `cancelled` for a job no worker holds).
 */
export class EventPublisher {
  readonly #redis: Redis;
  readonly #options: PublisherOptions;

  constructor(redis: Redis, options: PublisherOptions) {
    this.#redis = redis;
    this.#options = options;
  }

  /**
   * Resolves to null when the job has already ended: its terminal event stays the last one.
   * `partial`, for an event with a `delta`: the whole result written so far, after it (what the
   * snapshot shows while the job runs).
   */
  async publish(jobId: string, update: ProgressUpdate, partial?: string): Promise<PublishedEvent | null> {
    const ts = (this.#options.now ?? Date.now)();
    const { status, progress, ...rest } = update;
    // The JSON is split around the progress value so the script can raise it without parsing;
    // `ts` goes last, where the fan-out reads it without parsing either (stream/fanout-event.ts).
    const published = await publishScript(this.#redis, {
      jobId,
      status,
      progress,
      jsonHead: `{"jobId":${JSON.stringify(jobId)},"status":${JSON.stringify(status)},"progress":`,
      jsonTail: `,${JSON.stringify({ ...rest, ts }).slice(1)}`,
      streamMaxLen: this.#options.streamMaxLen,
      ttlSeconds: this.#options.ttlSeconds,
      ts,
      ...(partial === undefined ? {} : { partial }),
    });
    if (published === null) return null;
    return { id: published.id, event: { jobId, status, ...rest, progress: published.progress, ts } };
  }
}
