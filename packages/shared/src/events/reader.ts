import type { RedisClient } from '../redis/connection.ts';
import { keys, topics } from '../redis/keys.ts';
import { jobRecordScript } from '../redis/scripts/job-record.ts';
import { hasInexactNumber, parseKeepingDigits } from './exact-json.ts';
import { compareStreamIds, parseStreamId } from '@herald/contract';
import {
  batchJobId,
  JOB_STATUSES,
  type BatchSnapshot,
  type BatchStatus,
  type JobKind,
  type JobListItem,
  type JobSnapshot,
  type JobStatus,
  type WebhookState,
} from '@herald/contract';

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

/**
 * What an access check and a stream's start need of a job, and nothing more: one HMGET, never
 * the snapshot's text so far (`partial`, up to MAX_TEXT_CHARS) that JobRecord carries.
 */
export interface JobHead {
  readonly owner: string | null;
  readonly status: JobStatus;
  readonly lastEventId: string;
  readonly kind: JobKind | null;
}

/** What a batch's stream needs to begin: who owns it, where it stands (no per-job read). */
export interface BatchHead {
  readonly owner: string | null;
  readonly status: BatchStatus;
  readonly lastEventId: string;
  /** How many jobs it holds. */
  readonly size: number;
}

/** A batch as Herald keeps it (its hash), like JobRecord. */
export interface BatchRecord {
  readonly snapshot: BatchSnapshot;
  readonly owner: string | null;
  readonly callbackUrl: string | null;
}

/** The snapshot hash's fields the job's first event writes: what the job is (JobRecord). */
export const JOB_FIELDS = {
  kind: 'kind',
  title: 'title',
  metadata: 'metadata',
  /** JSON array of strings. */
  tags: 'tags',
  owner: 'owner',
  callbackUrl: 'callbackUrl',
  webhook: 'webhook',
} as const;

/**
 * A stored event, parsed, its result's numbers with the digits they were published with
 * (exact-json.ts). The second parse (a reviver call per value) is paid only by an event whose
 * result holds numbers and whose JSON a number a double would change (a big integer, `1.10`):
 * at most MAX_TEXT_CHARS characters of result, a producer's bound.
 */
function withExactResult(data: string): Record<string, unknown> {
  const event = JSON.parse(data) as Record<string, unknown>;
  const { result } = event;
  if (typeof result !== 'number' && (typeof result !== 'object' || result === null)) return event;
  return hasInexactNumber(data) ? (parseKeepingDigits(data) as Record<string, unknown>) : event;
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
  readonly #redis: RedisClient;

  constructor(redis: RedisClient) {
    this.#redis = redis;
  }

  /**
   * At most `count` events strictly after `afterId` (from the first when null), oldest first, of
   * a topic: a job (its id) or a batch's stream (`topics.batch(batchId)`). One page: a long
   * history is read a page at a time (XRANGE … COUNT), so neither Redis nor the replica ever
   * holds a whole one for a reader.
   */
  async eventsAfter(topic: string, afterId: string | null, count: number): Promise<StoredEvent[]> {
    const start = afterId === null ? '-' : `(${afterId}`;
    const entries = (await this.#redis.xrange(topics.stream(topic), start, '+', 'COUNT', count)) as RawEntry[];
    return entries.map(toStoredEvent);
  }

  /**
   * Whether the history after `afterId` is incomplete: entries were trimmed from the Stream's
   * front (STREAM_MAXLEN) and the cursor is before the first one left, or deleted after it
   * (Redis ≥ 7: XINFO's entries-added, recorded-first-entry-id, max-deleted-entry-id). Trimming
   * does not record which ids went, so a cursor at the very last trimmed entry counts as
   * trimmed too: its client gets a resync it did not strictly need, never a gap.
   */
  async trimmedAfter(topic: string, afterId: string): Promise<boolean> {
    const info = (await this.#redis.call('XINFO', 'STREAM', topics.stream(topic)).catch(() => null)) as unknown[] | null;
    if (!info) return false;
    const field = (name: string): string => String(info[info.indexOf(name) + 1] ?? '0-0');
    if (compareIds(field('max-deleted-entry-id'), afterId) > 0) return true;
    const removed = Number(field('entries-added')) > Number(field('length'));
    return removed && compareIds(field('recorded-first-entry-id'), afterId) > 0;
  }

  /** What clients may see of the job, or null for an unknown or expired one. */
  async snapshot(jobId: string): Promise<JobSnapshot | null> {
    return (await this.record(jobId))?.snapshot ?? null;
  }

  /** The job as Herald keeps it: its snapshot, and what only Herald sees (who owns it, its callback). */
  async record(jobId: string): Promise<JobRecord | null> {
    // The text being written is a key of its own (publish-6.lua), read in the same step as the
    // hash so that it is the text as of the snapshot's lastEventId, no later.
    const { hash, text: partial, streams } = await jobRecordScript(this.#redis, jobId);
    if (!hash.event || !hash.lastEventId) return null;
    const snapshot: JobSnapshot = {
      ...snapshotOf(jobId, hash),
      // A text begun under Herald 0.1.0 is in the hash until its next event moves it (publish-6.lua).
      ...(partial === null ? (hash.partial === undefined ? {} : { partial: hash.partial }) : { partial }),
      // Object.fromEntries defines each name (`__proto__` is a name like any other).
      ...(streams.size === 0 ? {} : { streams: Object.fromEntries(streams) }),
    };
    return { snapshot, owner: hash.owner ?? null, callbackUrl: hash.callbackUrl ?? null };
  }

  /**
   * The job as GET /v1/jobs lists it (its snapshot without `partial`), or null for an unknown or
   * expired one: one HMGET of the fields it needs, never the text being written.
   */
  async listItem(jobId: string): Promise<JobListItem | null> {
    const values = await this.#redis.hmget(keys.snapshot(jobId), ...LIST_FIELDS);
    const hash: Record<string, string> = {};
    for (const [i, field] of LIST_FIELDS.entries()) if (values[i] != null) hash[field] = values[i]!;
    if (!hash.event || !hash.lastEventId) return null;
    return snapshotOf(jobId, hash);
  }

  /** The job's head (JobHead), one small read; null for an unknown or expired job. */
  async jobHead(jobId: string): Promise<JobHead | null> {
    const [owner, status, lastEventId, kind] = await this.#redis.hmget(keys.snapshot(jobId), 'owner', 'status', 'lastEventId', 'kind');
    if (!status || !lastEventId) return null;
    return { owner: owner ?? null, status: status as JobStatus, lastEventId, kind: (kind ?? null) as JobKind | null };
  }

  /** The batch's head, one read whatever its size; null for an unknown or expired one. */
  async batchHead(batchId: string): Promise<BatchHead | null> {
    const [owner, status, lastEventId, n] = await this.#redis.hmget(keys.batch(batchId), 'owner', 'status', 'lastEventId', 'n');
    if (!status || !lastEventId) return null;
    return { owner: owner ?? null, status: status as BatchStatus, lastEventId, size: Number(n ?? 0) };
  }

  /**
   * The batch with each of its jobs' status and progress, or null for an unknown or expired
   * one: a read per job (pipelined), so a 10,000-job batch's takes about 0.1 s of Redis.
   */
  async batchRecord(batchId: string): Promise<BatchRecord | null> {
    const hash = await this.#redis.hgetall(keys.batch(batchId));
    if (!hash.event || !hash.lastEventId || !hash.n) return null;
    const n = Number(hash.n);
    // One round trip for all the jobs (their snapshots share the batch's slot).
    const pipeline = this.#redis.pipeline();
    for (let i = 0; i < n; i += 1) pipeline.hmget(keys.snapshot(batchJobId(batchId, i)), 'status', 'progress');
    const replies = (await pipeline.exec()) ?? [];
    const jobs = replies.map(([, reply], i) => {
      const [status, progress] = (reply as (string | null)[] | null) ?? [null, null];
      // A job that ended may have expired before its batch (same TTL, a moment earlier).
      return { jobId: batchJobId(batchId, i), status: (status ?? 'done') as JobStatus, progress: Number(progress ?? 100) };
    });
    const counts = Object.fromEntries(JOB_STATUSES.map((status) => [status, Number(hash[`c:${status}`] ?? 0)])) as BatchSnapshot['counts'];
    const snapshot: BatchSnapshot = {
      batchId,
      status: hash.status as BatchStatus,
      progress: Number(hash.progress),
      counts,
      jobs,
      ...(hash.webhook === undefined ? {} : { webhook: JSON.parse(hash.webhook) as WebhookState }),
      ...(hash.tags === undefined ? {} : { tags: JSON.parse(hash.tags) as string[] }),
      createdAt: Number(hash.createdAt),
      updatedAt: Number(hash.updatedAt),
      lastEventId: hash.lastEventId,
    };
    return { snapshot, owner: hash.owner ?? null, callbackUrl: hash.callbackUrl ?? null };
  }
}

/** The snapshot hash's fields a listed job needs (EventReader.listItem). */
const LIST_FIELDS = ['event', 'lastEventId', 'createdAt', 'updatedAt', 'kind', 'title', 'metadata', 'tags', 'webhook'] as const;

/** A job's snapshot from its hash (`event` and `lastEventId` present), without the text being written. */
function snapshotOf(jobId: string, hash: Record<string, string>): JobListItem {
  // The latest event, less what belongs to the event alone: its time, its piece of text (and
  // which stream it went to), its metadata patch (the merged metadata is the hash's).
  const { ts: _ts, delta: _delta, offset: _offset, stream: _stream, metadata: _patch, ...event } = withExactResult(hash.event!);
  return {
    ...(event as Omit<JobSnapshot, 'createdAt' | 'updatedAt' | 'lastEventId'>),
    jobId,
    ...(hash.kind === undefined ? {} : { kind: hash.kind as JobKind }),
    ...(hash.title === undefined ? {} : { title: hash.title }),
    ...(hash.metadata === undefined ? {} : { metadata: JSON.parse(hash.metadata) as Record<string, unknown> }),
    ...(hash.tags === undefined ? {} : { tags: JSON.parse(hash.tags) as string[] }),
    ...(hash.webhook === undefined ? {} : { webhook: JSON.parse(hash.webhook) as WebhookState }),
    createdAt: Number(hash.createdAt),
    updatedAt: Number(hash.updatedAt),
    lastEventId: hash.lastEventId!,
  };
}

/** Compares two stream ids (`<ms>-<seq>`); an unparsable one counts as 0-0. */
function compareIds(a: string, b: string): number {
  const zero = { ms: 0, seq: 0 };
  return compareStreamIds(parseStreamId(a) ?? zero, parseStreamId(b) ?? zero);
}
