import type { JsonValue } from '@herald/contract';
import type { ProducerUpdate } from '@herald/shared';

// What each BullMQ event becomes on Herald's side (docs/api.md, "The BullMQ bridge"). BullMQ 6
// writes these into its `<prefix>:<queue>:events` Stream (its Lua: storeJob, prepareJobForProcessing,
// updateProgress, retryJob, moveToDelayed, moveToFinished):
//   added      {jobId, name}                       a job was added
//   active     {jobId, prev}                       a worker took it (each attempt)
//   progress   {jobId, data: JSON}                 job.updateProgress(data)
//   waiting    {jobId, prev: 'active'}             an attempt failed and is retried at once
//                                                  (retryJob; or a stalled job moved back)
//   delayed    {jobId, delay}                      an attempt failed and is retried after a
//                                                  backoff (moveToDelayed), or a delayed job
//   completed  {jobId, returnvalue: JSON}          the job's end (JSON.stringify of what the
//                                                  processor returned: '' when it returned nothing)
//   failed     {jobId, failedReason}               the job's final failure: BullMQ 6 writes it only
//                                                  when no attempt is left (a retried attempt writes
//                                                  `waiting` or `delayed`), and then
//   retries-exhausted {jobId, attemptsMade}        which adds nothing here.

/** One entry of BullMQ's events Stream, its fields as a record. */
export type BullmqEvent = Readonly<Record<string, string>>;

/** What the bridge does for one BullMQ event. */
export type BridgeStep =
  /** Nothing (an event Herald has no use for). */
  | { readonly kind: 'skip' }
  /** Make sure the Herald job exists (its `queued` event), nothing more. */
  | { readonly kind: 'create'; readonly bullmqJobId: string }
  /** Make sure it exists, then publish this. */
  | { readonly kind: 'publish'; readonly bullmqJobId: string; readonly update: ProducerUpdate }
  /** A failed attempt that BullMQ retries at once: its event, with the reason BullMQ holds. */
  | { readonly kind: 'retry'; readonly bullmqJobId: string }
  /**
   * A `delayed` event: a failed attempt waiting out its backoff when the job has failed before
   * (the bridge reads its failedReason), else a job added with a delay, which adds nothing.
   */
  | { readonly kind: 'retry-if-failed'; readonly bullmqJobId: string };

/** The `queued` event a bridged job begins with. */
export const QUEUED: ProducerUpdate & { readonly progress: number } = { status: 'queued', progress: 0, message: 'Queued in BullMQ' };

/** The event of a failed attempt that BullMQ retries (`reason`: the attempt's failedReason, when BullMQ still holds it). */
export function retryUpdate(reason: string | null): ProducerUpdate {
  return { status: 'processing', message: reason ? `Attempt failed, retrying: ${clip(reason)}` : 'Attempt failed, retrying' };
}

export function stepOf(event: BullmqEvent): BridgeStep {
  const bullmqJobId = event.jobId;
  if (bullmqJobId === undefined || bullmqJobId === '') return { kind: 'skip' };
  switch (event.event) {
    case 'added':
      return { kind: 'create', bullmqJobId };
    case 'active':
      return { kind: 'publish', bullmqJobId, update: { status: 'processing', message: 'Running' } };
    case 'progress':
      return { kind: 'publish', bullmqJobId, update: progressUpdate(parseJson(event.data)) };
    case 'waiting':
      return event.prev === 'active' ? { kind: 'retry', bullmqJobId } : { kind: 'skip' };
    case 'delayed':
      return { kind: 'retry-if-failed', bullmqJobId };
    case 'completed': {
      const result = parseJson(event.returnvalue);
      return {
        kind: 'publish',
        bullmqJobId,
        update: { status: 'done', progress: 100, message: 'Done', result: (result ?? null) as JsonValue },
      };
    }
    case 'failed': {
      const reason = clip(event.failedReason || 'the job failed');
      return {
        kind: 'publish',
        bullmqJobId,
        update: { status: 'error', message: reason, error: { code: 'bullmq_failed', message: reason } },
      };
    }
    default:
      return { kind: 'skip' };
  }
}

/**
 * job.updateProgress(n) or updateProgress({progress, message, stage, metadata}) as a Herald
 * `processing` event: the progress a whole number within 0..100 (Herald clamps one that goes
 * back to the job's); a field of the wrong type is left out rather than failing the event.
 */
export function progressUpdate(data: unknown): ProducerUpdate {
  if (typeof data === 'number') return { status: 'processing', message: '', ...percent(data) };
  if (typeof data === 'string') return { status: 'processing', message: clip(data) };
  if (data === null || typeof data !== 'object' || Array.isArray(data)) return { status: 'processing', message: '' };
  const fields = data as Record<string, unknown>;
  return {
    status: 'processing',
    message: typeof fields.message === 'string' ? clip(fields.message) : '',
    ...(typeof fields.progress === 'number' ? percent(fields.progress) : {}),
    ...(typeof fields.stage === 'string' && fields.stage !== '' ? { stage: clip(fields.stage) } : {}),
    ...(isRecord(fields.metadata) ? { metadata: fields.metadata } : {}),
  };
}

/**
 * The longest message, stage or failure reason a bridged event carries, in characters: the
 * queue's own jobs write them (a progress object, a thrown error's text), and Herald's own events
 * are bounded by what writes them, here.
 */
export const MAX_BRIDGED_TEXT_CHARS = 1000;
const clip = (text: string): string => text.slice(0, MAX_BRIDGED_TEXT_CHARS);

const percent = (value: number): { progress?: number } =>
  Number.isFinite(value) ? { progress: Math.min(100, Math.max(0, Math.floor(value))) } : {};

const isRecord = (value: unknown): value is Record<string, unknown> => value !== null && typeof value === 'object' && !Array.isArray(value);

/** BullMQ's JSON field, parsed; undefined for none ('' is what a processor returning nothing leaves) or a malformed one. */
function parseJson(text: string | undefined): unknown {
  if (text === undefined || text === '') return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
