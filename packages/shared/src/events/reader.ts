import type { Redis } from 'ioredis';
import { keys } from '../redis/keys.ts';
import type { JobSnapshot } from '@herald/contract';

/** A Stream entry as the SSE writer needs it: the id, the status and the JSON, unparsed. */
export interface StoredEvent {
  readonly id: string;
  readonly status: string;
  readonly data: string;
}

type RawEntry = [id: string, fields: string[]];

function toStoredEvent([id, fields]: RawEntry): StoredEvent {
  let status = '';
  let data = '';
  for (let i = 0; i + 1 < fields.length; i += 2) {
    if (fields[i] === 's') status = fields[i + 1] ?? '';
    else if (fields[i] === 'd') data = fields[i + 1] ?? '';
  }
  return { id, status, data };
}

/** Reads what the API serves: a job's events after a cursor (its history), and its snapshot. */
export class EventReader {
  readonly #redis: Redis;

  constructor(redis: Redis) {
    this.#redis = redis;
  }

  /** Events strictly after `afterId` (all of them when null), oldest first. */
  async eventsAfter(jobId: string, afterId: string | null): Promise<StoredEvent[]> {
    const start = afterId === null ? '-' : `(${afterId}`;
    const entries = (await this.#redis.xrange(keys.events(jobId), start, '+')) as RawEntry[];
    return entries.map(toStoredEvent);
  }

  async snapshot(jobId: string): Promise<JobSnapshot | null> {
    const hash = await this.#redis.hgetall(keys.snapshot(jobId));
    if (!hash.event || !hash.lastEventId) return null;
    // The latest event, less what belongs to the event alone: its time and its piece of text.
    const { ts: _ts, delta: _delta, offset: _offset, ...event } = JSON.parse(hash.event) as Record<string, unknown>;
    return {
      ...(event as Omit<JobSnapshot, 'createdAt' | 'updatedAt' | 'lastEventId' | 'partial'>),
      ...(hash.partial === undefined ? {} : { partial: hash.partial }),
      jobId,
      createdAt: Number(hash.createdAt),
      updatedAt: Number(hash.updatedAt),
      lastEventId: hash.lastEventId,
    };
  }
}
