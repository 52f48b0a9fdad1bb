import type { RedisClient } from '../connection.ts';
import { channels, keys } from '../keys.ts';
import { luaScript, replyTuple, ScriptReplyError } from './load.ts';

// The three scripts of a tag's feed (docs/api.md, "A tag's stream"), each on the tag's slot:
// the relay a publisher runs, and the two reads a stream makes.

/** An entry as a Stream holds it: its id, its status (`s`) and its JSON (`d`). */
export interface FeedEvent {
  readonly id: string;
  readonly status: string;
  readonly data: string;
}

const relay = luaScript('tag-relay-n.lua');
const open = luaScript('tag-open-2.lua');
const page = luaScript('tag-page-2.lua');

/** One job's events as a relay gives them. */
export interface TagRelayJob {
  readonly jobId: string;
  /** The key that submitted the job (null: auth was off). */
  readonly owner: string | null;
  /** The job's event before the first of `events` (null: they begin with the job's first). */
  readonly prev: string | null;
  /** Consecutive events of the job, in its order, as its Stream holds them. */
  readonly events: readonly FeedEvent[];
}

export interface TagRelayInput {
  readonly tag: string;
  /** The jobs whose events go in, each its own chain (one for a publish, a batch's for its creation). */
  readonly jobs: readonly TagRelayJob[];
  /** TAG_FEED_MAXLEN. */
  readonly maxLen: number;
  /** TAG_FEED_MAX_BYTES (0: no bound). */
  readonly maxBytes: number;
  readonly ttlSeconds: number;
  readonly now: number;
}

export type TagRelayReply =
  | { readonly outcome: 'relayed'; readonly appended: number }
  /** The job's chain in the feed stops short of `prev`: relay from `last` (null: from the job's first event). */
  | { readonly outcome: 'gap'; readonly last: string | null };

/** tag-relay-n.lua: appends jobs' events to a tag's feed as the next links of each job's chain; a reply per job, in order. */
export async function tagRelayScript(redis: RedisClient, input: TagRelayInput): Promise<TagRelayReply[]> {
  const { tag, jobs } = input;
  const args: (string | number)[] = [channels.tagFeed(tag), input.maxLen, input.ttlSeconds, input.now, input.maxBytes];
  const scriptKeys = [keys.tagFeed(tag), keys.tagRelayed(tag), keys.tagOpen(tag), keys.tagEnded(tag)];
  // Each owner's open set once, named by its place among the keys (KEYS[4 + k]).
  const ownerKey = new Map<string, number>();
  for (const job of jobs) {
    let k = 0;
    if (job.owner !== null) {
      k = ownerKey.get(job.owner) ?? scriptKeys.push(keys.tagOpen(tag, job.owner)) - 4;
      ownerKey.set(job.owner, k);
    }
    args.push(job.jobId, job.owner ?? '-', k, job.prev ?? '', job.events.length);
    for (const event of job.events) args.push(event.id, event.status, event.data);
  }
  const reply = await relay.run(redis, scriptKeys, args);
  if (!Array.isArray(reply) || reply.length !== 2 * jobs.length) {
    throw new ScriptReplyError(`${relay.name}: unexpected reply ${JSON.stringify(reply)?.slice(0, 100)}`);
  }
  return jobs.map((_, i): TagRelayReply => {
    const [outcome, value] = [reply[2 * i], reply[2 * i + 1]];
    if (outcome === 'ok') return { outcome: 'relayed', appended: Number(value) };
    if (outcome === 'gap') return { outcome: 'gap', last: value === '' ? null : String(value) };
    throw new ScriptReplyError(`${relay.name}: unexpected reply ${JSON.stringify(reply).slice(0, 100)}`);
  });
}

export interface TagOpening {
  /** The feed's last entry when the stream opened (null: the feed is empty). */
  readonly openPoint: string | null;
  /** The ms of the oldest not-ended job's first feed entry, and that job (null: none is open). */
  readonly oldestOpenMs: number | null;
  readonly oldestOpenJob: string | null;
}

/**
 * tag-open-2.lua: where a tag's stream opened without a cursor begins, read at one instant; for
 * a stream that sees one key's jobs (`owner`), the oldest open job is that key's (null: anyone's).
 */
export async function tagOpenScript(redis: RedisClient, tag: string, owner: string | null = null): Promise<TagOpening> {
  const [last, oldest, job] = replyTuple(open, await open.run(redis, [keys.tagFeed(tag), keys.tagOpen(tag, owner)], []), 3);
  return {
    openPoint: last === '' ? null : String(last),
    oldestOpenMs: oldest === '' ? null : Number(oldest),
    oldestOpenJob: job === '' ? null : String(job),
  };
}

export interface TagPage {
  /** The entries kept, in order (the status is events/tag-entry.ts's). */
  readonly events: FeedEvent[];
  /** How many entries were read, kept or not: fewer than asked means the feed's end. */
  readonly read: number;
  /** The last entry read, kept or not (null: none was): where the next page starts after. */
  readonly lastRead: string | null;
}

/**
 * tag-page-2.lua: a page of the feed after `afterId`, less the jobs that had ended by the stream's
 * open point, and less other keys' jobs when `only` names one (null: every key's).
 */
export async function tagPageScript(
  redis: RedisClient,
  tag: string,
  afterId: string | null,
  count: number,
  openPoint: string | null,
  only: string | null = null,
): Promise<TagPage> {
  const reply = await page.run(redis, [keys.tagFeed(tag), keys.tagRelayed(tag)], [afterId ?? '', count, openPoint ?? '', only ?? '']);
  if (!Array.isArray(reply) || reply.length < 2 || (reply.length - 2) % 3 !== 0) {
    throw new ScriptReplyError(`${page.name}: unexpected reply ${JSON.stringify(reply)?.slice(0, 100)}`);
  }
  const events: FeedEvent[] = [];
  for (let i = 2; i < reply.length; i += 3) events.push({ id: String(reply[i]), status: String(reply[i + 1]), data: String(reply[i + 2]) });
  return { events, read: Number(reply[0]), lastRead: reply[1] === '' ? null : String(reply[1]) };
}

/** The id of a tag feed's first entry, null when it holds none (never made, expired, or emptied). */
export async function tagFeedFirstId(redis: RedisClient, tag: string): Promise<string | null> {
  const [first] = (await redis.xrange(keys.tagFeed(tag), '-', '+', 'COUNT', 1)) as [string, string[]][];
  return first?.[0] ?? null;
}
