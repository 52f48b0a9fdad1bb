import { isTerminal } from '@herald/contract';
import type { RedisClient } from '../redis/connection.ts';
import { keys } from '../redis/keys.ts';
import { type FeedEvent, tagRelayScript } from '../redis/scripts/tag-feed.ts';

export interface TagRelayOptions {
  /** TAG_FEED_MAXLEN: the entries a tag's feed keeps (XADD MAXLEN ~). */
  readonly maxLen: number;
  /** TAG_FEED_MAX_BYTES: the bytes a tag's feed holds at most (absent or 0: no bound). */
  readonly maxBytes?: number;
  /** JOB_TTL_SECONDS: a tag's keys live this long past its last relay. */
  readonly ttlSeconds: number;
  readonly now?: () => number;
}

/** Events of a job read from its Stream a page at a time when a relay fills a gap. */
const GAP_PAGE = 100;
/** Jobs one script call relays at most (a batch's creation): bounds its ARGV and how long it holds Redis. */
export const RELAY_JOBS_PER_CALL = 500;
/** Script calls one relay makes at most (each a page, or a gap found): a bound, never reached but by a pathological race. */
const MAX_ROUNDS = 50;

/**
 * Puts a tagged job's events into each of its tags' feeds (redis/scripts/tag-relay-n.lua), after
 * the publish that wrote them: a second step, on each tag's own slot. The script appends only the
 * next links of the job's chain; when the chain stops short (a racing publisher has not relayed
 * yet, or died before it did), the missing events are read from the job's Stream here and relayed
 * first, so each tag's feed has every event of the job once, in order.
 */
export class TagRelay {
  readonly #redis: RedisClient;
  readonly #options: TagRelayOptions;

  constructor(redis: RedisClient, options: TagRelayOptions) {
    this.#redis = redis;
    this.#options = options;
  }

  /** Relays `event` (the job's, just published; `prev` the one before it, null for its first) into every tag's feed. */
  async relay(tags: readonly string[], jobId: string, owner: string | null, prev: string | null, event: FeedEvent): Promise<void> {
    await Promise.all(tags.map((tag) => this.#relayInto(tag, jobId, owner, prev, event)));
  }

  /**
   * Relays one event of each of many jobs into one tag's feed (a batch's creation: each job's
   * first event) in one script call per RELAY_JOBS_PER_CALL jobs, not one per job; a job whose
   * chain stops short (never, for a first event, but by a race with its own publishers) is then
   * relayed alone, from where its chain stops.
   */
  async relayMany(tag: string, jobs: readonly RelayedEvent[]): Promise<void> {
    for (let at = 0; at < jobs.length; at += RELAY_JOBS_PER_CALL) {
      const chunk = jobs.slice(at, at + RELAY_JOBS_PER_CALL);
      const replies = await tagRelayScript(this.#redis, {
        tag,
        jobs: chunk.map(({ jobId, owner, prev, event }) => ({ jobId, owner, prev, events: [event] })),
        maxLen: this.#options.maxLen,
        maxBytes: this.#options.maxBytes ?? 0,
        ttlSeconds: this.#options.ttlSeconds,
        now: (this.#options.now ?? Date.now)(),
      });
      await Promise.all(
        replies.map(async (reply, i) => {
          if (reply.outcome === 'relayed') return;
          const { jobId, owner, event } = chunk[i]!;
          await this.#relayInto(tag, jobId, owner, reply.last, event, true);
        }),
      );
    }
  }

  /**
   * Settles a job a tag's feed holds as not ended when the job itself says otherwise: its
   * terminal event's relay never came (its publisher died between the two), or the job is gone
   * (a submission rolled back, keys lost). Until then it would hold every fresh stream of the tag
   * to its first event. An ended job's missing events are relayed from its Stream; a job that is
   * gone is forgotten by the tag. Either way it leaves both open sets, every key's and its
   * owner's (`owner`, the stream's key, names it when the job's snapshot is gone). Resolves to
   * whether the feed's open jobs changed.
   */
  async settle(tag: string, jobId: string, owner: string | null = null): Promise<boolean> {
    const [status = null, snapshotOwner = null] = await this.#redis.hmget(keys.snapshot(jobId), 'status', 'owner');
    if (status !== null && !isTerminal(status)) return false;
    const [last, before] = (await this.#redis.xrevrange(keys.events(jobId), '+', '-', 'COUNT', 2)) as [string, string[]][];
    if (status === null || !last) {
      const known = snapshotOwner ?? owner;
      const forget = this.#redis.multi().zrem(keys.tagOpen(tag), jobId).hdel(keys.tagRelayed(tag), jobId);
      if (known !== null) forget.zrem(keys.tagOpen(tag, known), jobId);
      await forget.exec();
      return true;
    }
    await this.#relayInto(tag, jobId, snapshotOwner, before?.[0] ?? null, feedEvent(last));
    return true;
  }

  /** `fromGap`: `prev` is where the job's chain stops, not the event before `event`: the events between come first. */
  async #relayInto(
    tag: string,
    jobId: string,
    owner: string | null,
    prev: string | null,
    event: FeedEvent,
    fromGap = false,
  ): Promise<void> {
    let after = prev;
    let events: readonly FeedEvent[] = fromGap ? await this.#between(jobId, after, event.id) : [event];
    if (events.length === 0) return;
    for (let round = 0; round < MAX_ROUNDS; round += 1) {
      const [reply] = await tagRelayScript(this.#redis, {
        tag,
        jobs: [{ jobId, owner, prev: after, events }],
        maxLen: this.#options.maxLen,
        maxBytes: this.#options.maxBytes ?? 0,
        ttlSeconds: this.#options.ttlSeconds,
        now: (this.#options.now ?? Date.now)(),
      });
      if (!reply) return;
      const lastGiven = events.at(-1)!.id;
      if (reply.outcome === 'relayed' && lastGiven === event.id) return;
      // A page of a gap went in (go on after it), or the chain stops short (fill from where it stops).
      after = reply.outcome === 'relayed' ? lastGiven : reply.last;
      events = await this.#between(jobId, after, event.id);
      // The job's Stream no longer holds them (trimmed, expired): nothing left to relay.
      if (events.length === 0) return;
    }
  }

  /**
   * Relays again an event already published (`eventId`, the job's), with any before it the feed
   * lacks: for a publish retried with its idempotency key, whose first try may have died between
   * its publish and its relay — a terminal event has no later publish to make that good. An
   * event the feed has is skipped (the script's chain is past it).
   */
  async relayPublished(tags: readonly string[], jobId: string, owner: string | null, eventId: string): Promise<void> {
    const [entry, before] = (await this.#redis.xrevrange(keys.events(jobId), eventId, '-', 'COUNT', 2)) as [string, string[]][];
    if (!entry || entry[0] !== eventId) return; // trimmed from the job's Stream, or gone with it
    await this.relay(tags, jobId, owner, before?.[0] ?? null, feedEvent(entry));
  }

  /** The job's events after `after` (null: from its first) up to `upTo`, at most a page. */
  async #between(jobId: string, after: string | null, upTo: string): Promise<FeedEvent[]> {
    const entries = (await this.#redis.xrange(keys.events(jobId), after === null ? '-' : `(${after}`, upTo, 'COUNT', GAP_PAGE)) as [
      string,
      string[],
    ][];
    return entries.map(feedEvent);
  }
}

/** One event of a job, to relay (TagRelay.relayMany). */
export interface RelayedEvent {
  readonly jobId: string;
  readonly owner: string | null;
  /** The job's event before `event` (null: `event` is its first). */
  readonly prev: string | null;
  readonly event: FeedEvent;
}

/** A job's Stream entry as a relay takes it. */
function feedEvent([id, fields]: [string, string[]]): FeedEvent {
  let status = '';
  let data = '';
  for (let i = 0; i + 1 < fields.length; i += 2) {
    if (fields[i] === 's') status = fields[i + 1]!;
    else if (fields[i] === 'd') data = fields[i + 1]!;
  }
  return { id, status, data };
}
