import { Queue, type ConnectionOptions } from 'bullmq';
import { kindQueueName, type Logger, MAX_KINDS, queuePrefix } from '@herald/shared';

/**
 * The queues registered kinds' jobs wait on (docs/api.md, "Kinds"), each made when its kind's
 * first job comes. Each holds a Redis connection, so at most MAX_KINDS are kept: past it the
 * longest unused one is closed (a kind that expired leaves its queue behind otherwise, and kinds
 * come and go over a replica's life). The built-in queue (summarize's) is never closed here.
 */
export class KindQueues {
  readonly #builtIn: Queue;
  readonly #connection: ConnectionOptions;
  readonly #logger: Logger;
  /** By kind, least recently used first (a Map keeps insertion order; a use moves a kind last). */
  readonly #queues = new Map<string, Queue>();

  constructor(builtIn: Queue, connection: ConnectionOptions, logger: Logger) {
    this.#builtIn = builtIn;
    this.#connection = connection;
    this.#logger = logger;
  }

  /** The queue of `kind` (summarize's is the built-in one). */
  of(kind: string): Queue {
    if (kindQueueName(kind) === this.#builtIn.name) return this.#builtIn;
    let queue = this.#queues.get(kind);
    if (queue) {
      this.#queues.delete(kind);
    } else {
      queue = new Queue(kindQueueName(kind), { connection: this.#connection, prefix: queuePrefix, skipWaitingForReady: true });
      queue.on('error', (err: Error) => this.#logger.warn({ connection: 'queue', kind, err: err.message }, 'redis connection error'));
      if (this.#queues.size >= MAX_KINDS) this.#closeLeastUsed();
    }
    this.#queues.set(kind, queue);
    return queue;
  }

  async close(): Promise<void> {
    await Promise.all([...this.#queues.values()].map((queue) => queue.close()));
    this.#queues.clear();
  }

  #closeLeastUsed(): void {
    const [kind, queue] = this.#queues.entries().next().value!;
    this.#queues.delete(kind);
    queue.close().catch((err: unknown) => this.#logger.debug({ err, kind }, 'closing an unused kind queue failed'));
  }
}
