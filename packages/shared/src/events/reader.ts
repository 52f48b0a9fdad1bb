import type { RedisClient } from '../redis/connection.ts';
import { keys } from '../redis/keys.ts';
import type { JobKind, JobSnapshot, WebhookState } from '@herald/contract';

/** A Stream entry as the SSE writer needs it: the id, the status and the JSON, unparsed. */
export interface StoredEvent {
  readonly id: string;
  readonly status: string;
  readonly data: string;
}

/** A job as Herald keeps it (its snapshot hash): what clients see, and what only Herald does. */
export interface JobRecord {
  readonly snapshot: JobSnapshot;
  /** The key id of the API key that submitted it; null when auth was off. */
  readonly owner: string | null;
  readonly callbackUrl: string | null;
}

/** The snapshot hash's fields the job's first event writes: what the job is (JobRecord). */
export const JOB_FIELDS = {
  kind: 'kind',
  title: 'title',
  metadata: 'metadata',
  owner: 'owner',
  callbackUrl: 'callbackUrl',
  webhook: 'webhook',
} as const;

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
  readonly #redis: RedisClient;

  constructor(redis: RedisClient) {
    this.#redis = redis;
  }

  /** Events strictly after `afterId` (all of them when null), oldest first. */
  async eventsAfter(jobId: string, afterId: string | null): Promise<StoredEvent[]> {
    const start = afterId === null ? '-' : `(${afterId}`;
    const entries = (await this.#redis.xrange(keys.events(jobId), start, '+')) as RawEntry[];
    return entries.map(toStoredEvent);
  }

  /** What clients may see of the job, or null for an unknown or expired one. */
  async snapshot(jobId: string): Promise<JobSnapshot | null> {
    return (await this.record(jobId))?.snapshot ?? null;
  }

  /** The job as Herald keeps it: its snapshot, and what only Herald sees (who owns it, its callback). */
  async record(jobId: string): Promise<JobRecord | null> {
    const hash = await this.#redis.hgetall(keys.snapshot(jobId));
    if (!hash.event || !hash.lastEventId) return null;
    // The latest event, less what belongs to the event alone: its time and its piece of text.
    const { ts: _ts, delta: _delta, offset: _offset, ...event } = JSON.parse(hash.event) as Record<string, unknown>;
    const snapshot: JobSnapshot = {
      ...(event as Omit<JobSnapshot, 'createdAt' | 'updatedAt' | 'lastEventId'>),
      jobId,
      ...(hash.kind === undefined ? {} : { kind: hash.kind as JobKind }),
      ...(hash.title === undefined ? {} : { title: hash.title }),
      ...(hash.metadata === undefined ? {} : { metadata: JSON.parse(hash.metadata) as Record<string, unknown> }),
      ...(hash.partial === undefined ? {} : { partial: hash.partial }),
      ...(hash.webhook === undefined ? {} : { webhook: JSON.parse(hash.webhook) as WebhookState }),
      createdAt: Number(hash.createdAt),
      updatedAt: Number(hash.updatedAt),
      lastEventId: hash.lastEventId,
    };
    return { snapshot, owner: hash.owner ?? null, callbackUrl: hash.callbackUrl ?? null };
  }
}
