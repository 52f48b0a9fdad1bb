import { batchOf, isTerminal, MAX_STREAMS_PER_JOB } from '@herald/contract';
import type { RedisClient } from '../connection.ts';
import { channels, keys } from '../keys.ts';
import { luaScript, replyTuple, ScriptReplyError } from './load.ts';

// Its name counts its keys (load.ts), not its versions: it stays publish-6.lua when its arguments
// change, as they did when the optional ones were packed into one. A rolling upgrade needs
// nothing more: each process runs the script text it ships (EVALSHA of that text; ioredis loads
// it on NOSCRIPT), so old and new replicas each call their own with their own arguments, and
// both write the same keys and the same JSON (events/event-layout.ts).
const script = luaScript('publish-6.lua');

export interface PublishInput {
  readonly jobId: string;
  readonly status: string;
  /** The progress asked for (see `mode`); null: the job's own, as it stands. */
  readonly progress: number | null;
  /** The event's JSON up to the progress value, and from just after it (event-layout.ts, jobEventJsonParts). */
  readonly jsonHead: string;
  readonly jsonTail: string;
  readonly streamMaxLen: number;
  readonly ttlSeconds: number;
  /** The event's ts (ms): the snapshot's updatedAt (and createdAt, for the first event). */
  readonly ts: number;
  /**
   * 'clamp' (Herald's own producers): a lower progress is raised to the job's. 'strict' (a
   * producer through the API): it is refused, and so is an event for a job that does not exist.
   */
  readonly mode: 'clamp' | 'strict';
  /**
   * The event's piece of the result being written, and where it goes (UTF-16 code units): the
   * answer, or the named `stream` (at most MAX_STREAMS_PER_JOB names a job).
   */
  readonly text?: { readonly delta: string; readonly offset: number; readonly stream?: string | undefined };
  /** The event's JSON Merge Patch to the job's metadata, its JSON as the event carries it (event-layout.ts, metadataJson). */
  readonly metadataPatch?: string;
  /** MAX_METADATA_BYTES: the most bytes of JSON the merged metadata may hold (0 or absent: no bound). */
  readonly maxMetadataBytes?: number;
  /**
   * 'strict' only, 0 for none: the producer's publishes a second (PUBLISH_RATE_PER_JOB), and the
   * bytes of event JSON the job's Stream may hold (MAX_JOB_STREAM_BYTES; a terminal event passes).
   */
  readonly ratePerSecond?: number;
  readonly maxStreamBytes?: number;
  /** A retried publish with this key returns the first one's event id and adds nothing. */
  readonly idempotencyKeyHash?: string;
  /** Written with the job's first event only: what the job is (kind, owner, …). */
  readonly jobFields?: Readonly<Record<string, string>>;
  /**
   * Wait until this many replicas have the event (WAIT, up to `timeoutMs`) before resolving;
   * `short` hears of fewer (the event is written, but its master's death now could lose it).
   */
  readonly durable?: { readonly replicas: number; readonly timeoutMs: number; readonly short: (replicated: number) => void };
}

export type PublishReply =
  | {
      readonly outcome: 'published';
      readonly id: string;
      readonly progress: number;
      readonly batchEnded: boolean;
      /** The job's event before this one (null: this is its first), its tags (JSON; null: none) and owner: what a tag's relay needs. */
      readonly prev: string | null;
      readonly tags: string | null;
      readonly owner: string | null;
    }
  | { readonly outcome: 'replayed'; readonly id: string }
  | { readonly outcome: 'ended'; readonly status: string }
  | { readonly outcome: 'missing' }
  | { readonly outcome: 'not_external' }
  | { readonly outcome: 'rate_limited'; readonly retryAfterMs: number }
  | { readonly outcome: 'backwards'; readonly progress: number }
  | { readonly outcome: 'bad_offset' }
  | { readonly outcome: 'stream_full' }
  | { readonly outcome: 'texts_full' }
  | { readonly outcome: 'too_many_streams' }
  | { readonly outcome: 'metadata_too_large' };

/**
 * publish-6.lua: appends the event to the job's Stream, updates its snapshot (and the text being
 * written) and publishes the wake-up, atomically, under the job's guards (and, for a producer,
 * its rate and its Stream's bytes).
 */
export async function publishScript(redis: RedisClient, input: PublishInput): Promise<PublishReply> {
  // A batch's job also writes its batch's keys; any other job passes unused keys of its own slot.
  const batchId = batchOf(input.jobId);
  const scriptKeys = [
    keys.events(input.jobId),
    keys.snapshot(input.jobId),
    keys.publishIdempotency(input.jobId, input.idempotencyKeyHash ?? '-'),
    keys.batch(batchId ?? input.jobId),
    keys.batchEvents(batchId ?? input.jobId),
    keys.text(input.jobId),
  ];
  const args = [
    channels.events(input.jobId),
    input.status,
    input.progress === null ? '' : Math.trunc(input.progress),
    input.jsonHead,
    input.jsonTail,
    input.streamMaxLen,
    input.ttlSeconds,
    input.ts,
    input.mode,
    input.text?.delta ?? '',
    packedOptions(input, batchId),
  ];
  let reply: unknown;
  if (input.durable === undefined) {
    reply = await script.run(redis, scriptKeys, args);
  } else {
    const { replicas, timeoutMs } = input.durable;
    const ran = await script.runAndWait(redis, scriptKeys, args, replicas, timeoutMs);
    reply = ran.reply;
    if (Array.isArray(reply) && reply[0] === 'ok' && ran.replicated < replicas) input.durable.short(ran.replicated);
  }
  if (!Array.isArray(reply) || reply.length === 0) throw new ScriptReplyError(`${script.name}: unexpected reply ${JSON.stringify(reply)}`);
  switch (reply[0]) {
    case 'ok': {
      const [, id, progress, batchEnded, prev, tags, owner] = replyTuple(script, reply, 7);
      return {
        outcome: 'published',
        id: String(id),
        progress: Number(progress),
        batchEnded: batchEnded === '1',
        prev: prev === '' ? null : String(prev),
        tags: tags === '' ? null : String(tags),
        owner: owner === '' ? null : String(owner),
      };
    }
    case 'replay':
      return { outcome: 'replayed', id: String(replyTuple(script, reply, 2)[1]) };
    case 'ended':
      return { outcome: 'ended', status: String(replyTuple(script, reply, 2)[1]) };
    case 'missing':
      return { outcome: 'missing' };
    case 'not_external':
      return { outcome: 'not_external' };
    case 'rate_limited':
      return { outcome: 'rate_limited', retryAfterMs: Number(replyTuple(script, reply, 2)[1]) };
    case 'stream_full':
      return { outcome: 'stream_full' };
    case 'backwards':
      return { outcome: 'backwards', progress: Number(replyTuple(script, reply, 2)[1]) };
    case 'bad_offset':
      return { outcome: 'bad_offset' };
    case 'texts_full':
      return { outcome: 'texts_full' };
    case 'too_many_streams':
      return { outcome: 'too_many_streams' };
    case 'metadata_too_large':
      return { outcome: 'metadata_too_large' };
    default:
      throw new ScriptReplyError(`${script.name}: unknown outcome ${JSON.stringify(reply[0])}`);
  }
}

/**
 * ARGV[11]: what only some events carry, as one JSON object (publish-6.lua's header), or '' when
 * there is none (the usual worker's event: the script then decodes nothing). Its keys are short
 * and written by hand, so building it costs a few concatenations, no object.
 */
/**
 * A field's text as its UTF-8 bytes would hold it: a lone surrogate (a title's `"\ud800"`) becomes
 * U+FFFD, as it does in an argument of its own. JSON.stringify would write it as a `\ud800`
 * escape, which the script's cjson refuses, failing the whole publish.
 */
const wellFormed = (text: string): string => text.toWellFormed();

function packedOptions(input: PublishInput, batchId: string | null): string {
  let packed = '';
  if (input.idempotencyKeyHash !== undefined) packed += ',"idem":1';
  // The delta's length in UTF-16 units (JavaScript's), so the script need not count them.
  if (input.text !== undefined) packed += `,"text":[${input.text.delta.length},${input.text.offset}]`;
  if (batchId !== null) packed += `,"batch":[${JSON.stringify(batchId)},${JSON.stringify(channels.batchEvents(batchId))}]`;
  if (input.ratePerSecond) packed += `,"rate":${input.ratePerSecond}`;
  if (input.maxStreamBytes) packed += `,"bytes":${input.maxStreamBytes}`;
  if (input.jobFields !== undefined) packed += `,"fields":${JSON.stringify(Object.entries(input.jobFields).flat().map(wellFormed))}`;
  // The patch's JSON as a string: cjson decodes the string, never the JSON in it (publish-6.lua, "Metadata").
  if (input.metadataPatch !== undefined) packed += `,"meta":${JSON.stringify(input.metadataPatch)}`;
  if (input.maxMetadataBytes) packed += `,"mb":${input.maxMetadataBytes}`;
  if (input.text?.stream !== undefined) packed += `,"stream":[${JSON.stringify(input.text.stream)},${MAX_STREAMS_PER_JOB}]`;
  if (input.text !== undefined || isTerminal(input.status)) packed += `,"sp":${JSON.stringify(keys.streamTextPrefix(input.jobId))}`;
  return packed === '' ? '' : `{${packed.slice(1)}}`;
}
