import { channels, keys, type RedisClient } from '@herald/shared';

/**
 * Cancellation across processes. BullMQ's own cancel only reaches the worker that holds the job,
 * but DELETE can land on any API replica: it sets the job's cancel key (durable, checked at the
 * start and between stages) and publishes a notice (the fast path) that aborts a running job.
 */
export class CancellationWatcher {
  readonly #commands: RedisClient;
  readonly #subscriber: RedisClient;
  readonly #running = new Map<string, AbortController>();

  constructor(commands: RedisClient, subscriber: RedisClient) {
    this.#commands = commands;
    this.#subscriber = subscriber;
    this.#subscriber.on('message', (_channel: string, jobId: string) => {
      this.#running.get(jobId)?.abort();
    });
  }

  async start(): Promise<void> {
    await this.#subscriber.subscribe(channels.cancel);
  }

  /** An AbortSignal that fires when someone asks to cancel this job; release it when done. */
  track(jobId: string): { signal: AbortSignal; release: () => void } {
    const controller = new AbortController();
    this.#running.set(jobId, controller);
    return {
      signal: controller.signal,
      release: () => {
        if (this.#running.get(jobId) === controller) this.#running.delete(jobId);
      },
    };
  }

  async requested(jobId: string): Promise<boolean> {
    return (await this.#commands.exists(keys.cancel(jobId))) === 1;
  }
}
