import { JOB_STATUSES, type JobEvent, type ProgressUpdate } from '@herald/contract';

// The owner of an event's JSON as Herald stores, publishes and fans it out (docs/api.md, "The
// event"). Three places read or write that text without parsing it, and each relies on its
// layout: the publisher writes it (events/publisher.ts), the publish script splices the progress
// into it and writes a batch's own events itself (redis/scripts/publish-6.lua, whose header block
// "The event's JSON" lists what it relies on), and an API replica's fan-out names and dates it
// (apps/api/src/stream/fanout-event.ts). All three take their layout from here, and
// test/unit/event-layout.test.ts and test/integration/event-layout.test.ts check them against it.

/**
 * A job's event, key by key, in the order its JSON has them: `jobId` first (and `batchId` right
 * after it, for a batch's job), `status`, then `progress` (where the JSON is split for the
 * script), then the rest, and `ts` last. A key without a value is left out. The rest is in the
 * order Herald's own events have always had (`stage` before `message`, as the README shows them);
 * a producer's follow it too, whatever order its request body had. `metadata` (a JSON object whose
 * keys are written as they are, unescaped) comes after every key read unparsed but `ts`, and
 * `delta`'s `offset` comes last before `ts`, so neither a patch nor a JSON result can be taken for
 * text being written (carriesDelta).
 */
export const JOB_EVENT_KEYS = [
  'jobId',
  'batchId',
  'status',
  'progress',
  'stage',
  'message',
  'result',
  'error',
  'metadata',
  'stream',
  'delta',
  'offset',
  'ts',
] as const satisfies readonly (keyof JobEvent)[];

/** A job error's keys, in order. */
export const JOB_ERROR_KEYS = ['code', 'message'] as const satisfies readonly (keyof NonNullable<JobEvent['error']>)[];

/**
 * A batch's own event (written here for its first, by publish-6.lua for the rest): `batchId`
 * first, which is how it is told from a job's event, and `ts` last; `counts` by status, in
 * BATCH_COUNT_KEYS' order.
 */
export const BATCH_EVENT_KEYS = ['batchId', 'status', 'progress', 'counts', 'ts'] as const;
export const BATCH_COUNT_KEYS = JOB_STATUSES;

/** How every job's event begins: no other event does. */
export const JOB_EVENT_START = '{"jobId":';
/** How every batch's own event begins: a job's event never does (JOB_EVENT_START). */
export const BATCH_EVENT_START = '{"batchId":';
/** The head of a job's JSON ends here, just before the progress value the script writes. */
export const PROGRESS_KEY = '"progress":';
/** The last key of every event. Quoted and followed by a colon, it cannot occur inside a JSON string (its quotes would be escaped). */
export const TS_KEY = '"ts":';
/** A top-level `delta` (text being written); inside a JSON string the quotes would be escaped. */
export const DELTA_KEY = '"delta":';
/** `delta`'s offset: the last key before `ts` of an event that carries text. */
export const OFFSET_KEY = '"offset":';

/** The keys of a job's event, checked complete against JobEvent: a field added there and not here fails the typecheck. */
type Unplaced = Exclude<keyof JobEvent, (typeof JOB_EVENT_KEYS)[number]>;
const everyKeyPlaced: Unplaced extends never ? true : never = true;
void everyKeyPlaced;

/** What a job's event says besides jobId, batchId and ts; `progress` may be missing (a producer's: the job's own). */
export type EventBody = Omit<ProgressUpdate, 'progress'> & { readonly progress?: number | undefined };

/**
 * A job's event JSON around its progress value, in JOB_EVENT_KEYS' order: the head ends with
 * PROGRESS_KEY, the tail starts with the comma after the value and ends with `ts`. The script
 * writes head + progress + tail, raising the progress without parsing anything. Built by
 * concatenation, key by key, so the order is this function's whatever the caller's object.
 */
export function jobEventJsonParts(jobId: string, batchId: string | null, body: EventBody, ts: number): [string, string] {
  const head = `{"jobId":${JSON.stringify(jobId)},${batchId === null ? '' : `"batchId":${JSON.stringify(batchId)},`}"status":${JSON.stringify(body.status)},${PROGRESS_KEY}`;
  // As JSON.stringify would: a key whose value is undefined is left out.
  let tail = '';
  if (body.stage !== undefined) tail += `,"stage":${JSON.stringify(body.stage)}`;
  if (body.message !== undefined) tail += `,"message":${JSON.stringify(body.message)}`;
  if (body.result !== undefined) tail += `,"result":${JSON.stringify(body.result)}`;
  if (body.error !== undefined)
    tail += `,"error":{"code":${JSON.stringify(body.error.code)},"message":${JSON.stringify(body.error.message)}}`;
  if (body.metadata !== undefined) tail += `,"metadata":${metadataJson(body.metadata)}`;
  if (body.stream !== undefined) tail += `,"stream":${JSON.stringify(body.stream)}`;
  if (body.delta !== undefined) tail += `,${DELTA_KEY}${JSON.stringify(body.delta)}`;
  if (body.offset !== undefined) tail += `,"offset":${JSON.stringify(body.offset)}`;
  return [head, `${tail},${TS_KEY}${ts}}`];
}

/** A job's whole event JSON, as the publish script writes it for `progress`. */
export function jobEventJson(jobId: string, batchId: string | null, body: ProgressUpdate, ts: number): string {
  const [head, tail] = jobEventJsonParts(jobId, batchId, body, ts);
  return `${head}${Math.trunc(body.progress)}${tail}`;
}

export type BatchCounts = Readonly<Record<(typeof BATCH_COUNT_KEYS)[number], number>>;

/** A batch's own event JSON, in BATCH_EVENT_KEYS' order: what publish-6.lua writes for the later ones. */
export function batchEventJson(batchId: string, status: string, progress: number, counts: BatchCounts, ts: number): string {
  const byStatus = `{"queued":${counts.queued},"processing":${counts.processing},"done":${counts.done},"error":${counts.error},"cancelled":${counts.cancelled}}`;
  return `${BATCH_EVENT_START}${JSON.stringify(batchId)},"status":${JSON.stringify(status)},"progress":${progress},"counts":${byStatus},${TS_KEY}${ts}}`;
}

/** A batch's own event, told from a job's by its first key, unparsed. */
export const isBatchEvent = (data: string): boolean => data.startsWith(BATCH_EVENT_START);

/**
 * A metadata patch's JSON as the event carries it and the publish script merges it: JSON.stringify's,
 * compact, one escape for each string (the script compares keys as written).
 */
export const metadataJson = (patch: Readonly<Record<string, unknown>>): string => JSON.stringify(patch);

/**
 * Whether the event carries text being written, unparsed: its last key before `ts` is `offset`,
 * which only goes with `delta` (JOB_EVENT_KEYS). Not a search for `"delta":` anywhere, which a
 * metadata patch's own keys (written unescaped) could hold. Reads back from `ts`: O(1).
 */
export function carriesDelta(data: string): boolean {
  const ts = data.lastIndexOf(`,${TS_KEY}`);
  let at = ts - 1;
  while (at >= 0 && data.charCodeAt(at) >= 0x30 && data.charCodeAt(at) <= 0x39) at -= 1;
  return at < ts - 1 && data.startsWith(OFFSET_KEY, at - OFFSET_KEY.length + 1) && data[at - OFFSET_KEY.length] === ',';
}

/** The event's `ts` (ms epoch), unparsed: the last key of every event; null when it has none. */
export function publishedAt(data: string): number | null {
  const at = data.lastIndexOf(TS_KEY);
  if (at < 0) return null;
  const ts = Number.parseInt(data.slice(at + TS_KEY.length, at + TS_KEY.length + 20), 10);
  return Number.isFinite(ts) ? ts : null;
}
