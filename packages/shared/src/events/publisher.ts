import type { Redis } from 'ioredis';
import { channels, keys } from '../redis/keys.ts';
import { runScript } from '../redis/scripts.ts';
import type { JobEvent, ProgressUpdate } from './event.ts';

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
 * Writes a job's events: one atomic script appends to the Stream, updates the snapshot and
 * publishes the wake-up (redis/lua/publish.lua). Used by workers, and by the API for the events
 * it owns (`queued`, and `cancelled` for a job no worker holds).
 */
export class EventPublisher {
  readonly #redis: Redis;
  readonly #options: PublisherOptions;

  constructor(redis: Redis, options: PublisherOptions) {
    this.#redis = redis;
    this.#options = options;
  }

  /** Resolves to null when the job has already ended: its terminal event stays the last one. */
  async publish(jobId: string, update: ProgressUpdate): Promise<PublishedEvent | null> {
    const ts = (this.#options.now ?? Date.now)();
    const { status, progress, ...rest } = update;
    // The JSON is split around the progress value so the script can raise it without parsing.
    const head = `{"jobId":${JSON.stringify(jobId)},"status":${JSON.stringify(status)},"progress":`;
    const tail = `,${JSON.stringify({ ...rest, ts }).slice(1)}`;
    const reply = (await runScript(
      this.#redis,
      'heraldPublish',
      [keys.events(jobId), keys.snapshot(jobId)],
      [
        channels.events(jobId),
        status,
        Math.trunc(progress),
        head,
        tail,
        this.#options.streamMaxLen,
        this.#options.ttlSeconds,
        ts,
      ],
    )) as [string, string] | null;
    if (reply === null) return null;
    const [id, storedProgress] = reply;
    return { id, event: { jobId, status, ...rest, progress: Number(storedProgress), ts } };
  }
}
