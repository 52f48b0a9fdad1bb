import { createHash } from 'node:crypto';
import { batchOf } from '@herald/contract';

// The only module that knows Redis key names. Every key of one job shares the `{jobId}` hash tag
// so the publish script (which touches several of them) runs on one Redis Cluster slot, and the
// BullMQ prefix is hash-tagged so the queue's keys live together too.

/** What a rate counter counts (keys.submitRate): submissions, or snapshot reads. */
export type RateAction = 'submit' | 'read';

/** The jobs workers run, every kind (named for the first). */
export const QUEUE_NAME = 'summarize';
/** Herald's own errands about jobs: completion webhooks (and watchdogs scheduled before they had their own queue). */
export const CHORES_QUEUE_NAME = 'chores';
/** The watchdogs of external jobs' producers, on a queue of their own so webhooks never hold them up. */
export const WATCHDOGS_QUEUE_NAME = 'watchdogs';
export const QUEUE_PREFIX = '{herald}';

/**
 * A job's keys share its hash tag: its own id, or for a batch's job (`<batchId>~<n>`) the
 * batch's, so a batch and all its jobs live in one Cluster slot (docs/api.md, "Batches").
 */
const jobKey = (jobId: string, part: string): string => {
  const batchId = batchOf(jobId);
  return batchId === null ? `herald:{${jobId}}:${part}` : `herald:{${batchId}}${jobId.slice(batchId.length)}:${part}`;
};
const batchKey = (batchId: string, part: string): string => `herald:{${batchId}}:${part}`;

/**
 * A client IP or key id as it may appear inside a key name: an address (or a key digest) as is;
 * anything else — a proxy's odd X-Forwarded-For entry — by a digest of it, so no braces (hash
 * tags) or unbounded lengths reach a key name.
 */
const subject = (id: string): string =>
  /^[0-9A-Za-z.:_-]{1,64}$/.test(id) ? id : `#${createHash('sha256').update(id).digest('hex').slice(0, 24)}`;

/** A BullMQ queue (its prefix and name, anything BullMQ takes) as a key name's part: 24 hex characters. */
const bridgeDigest = (prefix: string, queue: string): string =>
  createHash('sha256').update(`${prefix}\n${queue}`).digest('hex').slice(0, 24);

export const keys = {
  /** Stream: the job's durable, ordered event log. Entry ids are the SSE event ids. */
  events: (jobId: string): string => jobKey(jobId, 'events'),
  /** Hash: the job's latest state, for GET /v1/jobs/{id} and the publish script's guards. */
  snapshot: (jobId: string): string => jobKey(jobId, 'snapshot'),
  /**
   * String: the text being written (the fold of the job's deltas, the snapshot's `partial`),
   * kept apart from the snapshot hash so that an appending event is an APPEND of its delta and
   * no publish or access check reads the whole text; deleted by the job's terminal event.
   */
  text: (jobId: string): string => jobKey(jobId, 'text'),
  /**
   * String: one named stream's text (the fold of its deltas; docs/api.md, "Named streams"), as
   * `text` is the answer's; kept, with the snapshot, for JOB_TTL_SECONDS after the job's end. Its
   * name is the prefix below and the stream's name (`[a-z0-9_-]{1,32}`: no brace reaches a key).
   */
  streamText: (jobId: string, name: string): string => jobKey(jobId, `stream:${name}`),
  /**
   * The job's named streams' keys less their names. The publish and read scripts make those keys
   * from it and the names the snapshot lists, which no caller knows before the script runs: every
   * one is in the job's slot (its hash tag), as a Cluster needs of a script's keys.
   */
  streamTextPrefix: (jobId: string): string => jobKey(jobId, 'stream:'),
  /** String: set when someone asked to cancel the job; workers check it between stages. */
  cancel: (jobId: string): string => jobKey(jobId, 'cancel'),
  /** String: a producer's Idempotency-Key (its digest) → the event id its publish got. */
  publishIdempotency: (jobId: string, keyHash: string): string => jobKey(jobId, `publish-idem:${keyHash}`),
  /**
   * String: one submitter's Idempotency-Key (its digest) → "jobId bodyHash". Each API key has its
   * own keys (`owner`: the key's short digest, `-` with auth off), so two clients that happen to
   * pick the same Idempotency-Key never get each other's job.
   */
  idempotency: (owner: string | null, keyHash: string): string => `herald:idem:${owner ?? '-'}:${keyHash}`,
  /**
   * Hash {w, c, p}: one API key's (`scope` key) or client IP's (`ip`) submissions in the current
   * and the previous rate window (scripts/submit-rate-2.lua). Every one shares the `{limits}` hash tag:
   * a submission checks its key's and its IP's counters in one script, and a script's keys must
   * share a Cluster slot — so on a Cluster all submission counters live on one node (one small
   * script per submission). `action` `read`: a client IP's snapshot reads (READ_RATE_PER_IP),
   * counted by the same script.
   */
  submitRate: (scope: 'key' | 'ip', id: string, action: RateAction = 'submit'): string =>
    `herald:{limits}:${action}:${scope}:${subject(id)}`,
  /**
   * Sorted set: the jobs one API key (its digest) submitted that have not ended, each scored with
   * when it was admitted (ms, Redis's clock; scripts/active-jobs-1.lua). Under `{limits}` with the
   * submission counters; a job's own keys are in its slot, so the release at its end is a command
   * of its own (jobs/active-jobs.ts).
   */
  activeJobs: (keyId: string): string => `herald:{limits}:active:${subject(keyId)}`,
  /** String: set for a minute when the API last pruned that key's set of ended and expired jobs. */
  activeJobsPruned: (keyId: string): string => `herald:{limits}:active-pruned:${subject(keyId)}`,
  /** Hash: replica id → streams it holds for one client IP (scripts/stream-slots-2.lua). */
  streamSlots: (ip: string): string => `herald:{limits:ip:${subject(ip)}}:streams`,
  /** Sorted set: replica id → when its lease on the counts above expires (ms, Redis's clock). */
  streamLeases: (ip: string): string => `herald:{limits:ip:${subject(ip)}}:leases`,
  /** Hash: a batch's aggregates (size, counts by status, overall progress) and what it is. */
  batch: (batchId: string): string => batchKey(batchId, 'batch'),
  /** Stream: every event of every job of the batch, and the batch's own events, in one order. */
  batchEvents: (batchId: string): string => batchKey(batchId, 'batch-events'),
  /**
   * Sorted set, every score 0, ordered by member, `<createdAt ms, 15 digits>:<jobId>`: the jobs
   * listed by GET /v1/jobs (jobs/job-index.ts in the API). `owner` null: every job (what an admin
   * or, with auth off, anyone lists); else one API key's (its id). `tag` null: every tag. Each
   * index is one key, so one Cluster slot: its own hash tag spreads the indexes over the slots,
   * but one busy key's (or tag's) index is all on one node, written at every submission into it
   * and read by every listing of it. Tags match [A-Za-z0-9:_.-] (no braces: no hash tag of their own).
   */
  jobIndex: (owner: string | null, tag: string | null): string =>
    `herald:{jobs:${owner === null ? 'all' : `key:${subject(owner)}`}${tag === null ? '' : `:tag:${tag}`}}:index`,
  /**
   * A tag's feed (docs/api.md, "A tag's stream"): every event of every job carrying the tag, in
   * one order, relayed after each publish by scripts/tag-relay-n.lua. Its keys share the
   * hash tag `{tag:<tag>}` (tags match [A-Za-z0-9:_.-]: no brace), so one tag's feed is one slot,
   * whatever slots its jobs live in.
   * - feed: Stream of the events (fields s, d, j; events/tag-entry.ts owns `s`);
   * - relayed: Hash, job id → the job's last relayed event id (and its terminal feed entry's id, once ended);
   * - open: Sorted set, the jobs not ended, each scored with its first feed entry's ms; and one
   *   such set per owner (`open:<key id>`), where a stream that sees one key's jobs starts;
   * - ended: Sorted set, ended jobs scored with when (ms), so `relayed` forgets them after the TTL.
   */
  tagFeed: (tag: string): string => `herald:{tag:${tag}}:feed`,
  tagRelayed: (tag: string): string => `herald:{tag:${tag}}:relayed`,
  tagOpen: (tag: string, owner: string | null = null): string =>
    owner === null ? `herald:{tag:${tag}}:open` : `herald:{tag:${tag}}:open:${subject(owner)}`,
  tagEnded: (tag: string): string => `herald:{tag:${tag}}:ended`,
  /**
   * Hash: the registry of job kinds, kind name → JSON {schema, expiresAt} (the built-in kinds are the code's, not here)
   * (jobs/kind-registry.ts). One key: a submission reads one field, GET /v1/kinds all of them.
   */
  kindRegistry: 'herald:{kinds}:registry',
  /**
   * The BullMQ bridge of one queue (`prefix`, `queue`: the team's BullMQ queue; packages/worker's
   * bridge): both keys share one hash tag, a digest of the two (a prefix may hold braces).
   * - bridgeLease: String, the token of the bridge that holds the queue (SET NX PX, renewed);
   * - bridgeCursor: String, the id of the last BullMQ event (its `<queue>:events` Stream) whose
   *   Herald event is published: where a bridge that takes over goes on from.
   */
  bridgeLease: (prefix: string, queue: string): string => `herald:{bridge:${bridgeDigest(prefix, queue)}}:lease`,
  bridgeCursor: (prefix: string, queue: string): string => `herald:{bridge:${bridgeDigest(prefix, queue)}}:cursor`,
  /** Sorted set: one receiver host's webhook deliveries under way → their leases (scripts/webhook-host-slots-1.lua). */
  webhookHostSlots: (host: string): string => `herald:webhook-host:${subject(host)}`,
} as const;

export const channels = {
  /** Sharded pub/sub wake-up for one job's watchers; messages are encoded by events/wire.ts. */
  events: (jobId: string): string => jobKey(jobId, 'live'),
  /** The same for a batch's stream (every job's events and the batch's). */
  batchEvents: (batchId: string): string => batchKey(batchId, 'batch-live'),
  /** The same for a tag's feed. */
  tagFeed: (tag: string): string => `herald:{tag:${tag}}:live`,
  /** Pub/sub notice to every worker that a job should stop; the message is the job id. */
  cancel: 'herald:cancel',
} as const;

/**
 * What a watcher follows, as the broker and the hub name it: a job (its id), a batch's stream
 * (`batch:<batchId>`), or a tag's feed (`tag:<tag>`); ':' is in no job id. Each has one Stream
 * and one channel.
 */
export const topics = {
  batch: (batchId: string): string => `batch:${batchId}`,
  tag: (tag: string): string => `tag:${tag}`,
  stream: (topic: string): string =>
    topic.startsWith('batch:')
      ? keys.batchEvents(topic.slice(6))
      : topic.startsWith('tag:')
        ? keys.tagFeed(topic.slice(4))
        : keys.events(topic),
  channel: (topic: string): string =>
    topic.startsWith('batch:')
      ? channels.batchEvents(topic.slice(6))
      : topic.startsWith('tag:')
        ? channels.tagFeed(topic.slice(4))
        : channels.events(topic),
} as const;

/**
 * The secret that signs publish tokens when no WATCH_TOKEN_SECRET is set (auth off): made once
 * by the first replica, the same for all (docs/security.md).
 */
export const TOKEN_SECRET_KEY = 'herald:secret:tokens';
