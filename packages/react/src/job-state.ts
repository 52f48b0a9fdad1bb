import { HeraldError, foldMetadata, foldPartial, foldStreams, isTerminal, type JsonValue, type WatchedEvent } from '@herald/client';
import type { Connection, JobState, Typed } from './types.ts';

// What a job's state becomes with each event: pure functions, one new object per change, so
// React sees a change by identity and a job that did not move keeps its object.

export function initialJob<Result>(connection: Connection): JobState<Result> {
  return {
    status: null,
    progress: 0,
    stage: null,
    message: null,
    partial: '',
    result: null,
    error: null,
    metadata: {},
    streams: {},
    connection,
    lastEventId: null,
  };
}

/**
 * The job after one more event. The text, the metadata and the named streams are folded here
 * from the state's own rather than taken from the client, whose folds start empty on each watch:
 * a stream reopened from a cursor (a new token) then carries on what it had. A resync replaces everything; `done`
 * with a string result makes the text that result (a summary written without deltas has it
 * there alone), while any other result leaves the text as the deltas wrote it.
 * `connection`: the stream's, unless the event ends the job (`ended`).
 */
export function applyJobEvent<Result>(
  job: JobState<Result>,
  update: WatchedEvent,
  connection: Connection,
  typed: Typed<Result> | undefined,
): JobState<Result> {
  const { event } = update;
  const ended = isTerminal(event.status);
  // A summary written without deltas (the extractive summarizer) has its text in `done` alone.
  const done = event.status === 'done' && event.result !== undefined;
  const partial =
    done && typeof event.result === 'string' ? event.result : update.resync ? update.partial : foldPartial(job.partial, event);
  return {
    status: event.status,
    progress: event.progress,
    stage: event.stage ?? (update.resync ? null : job.stage),
    message: event.message,
    partial,
    result: done ? parseResult(event.result!, typed) : null,
    error: event.error ?? null,
    metadata: update.resync ? update.metadata : foldMetadata(job.metadata as Parameters<typeof foldMetadata>[0], event),
    streams: update.resync ? update.streams : foldStreams(job.streams, event),
    connection: ended ? 'ended' : connection,
    lastEventId: update.id,
  };
}

/** The job with the stream's new connection state; an ended job stays `ended`, a job already there stays as it is. */
export function withConnection<Result>(job: JobState<Result>, connection: Connection, error?: HeraldError): JobState<Result> {
  if (job.connection === 'ended' || (job.connection === connection && error === undefined)) return job;
  return { ...job, connection, ...(error ? { error } : {}) };
}

/** `typed` reads a string result; any other JSON value is the result as it came (docs: `typed`). */
function parseResult<Result>(result: JsonValue, typed: Typed<Result> | undefined): Result {
  if (!typed || typeof result !== 'string') return result as Result;
  try {
    return typeof typed === 'function' ? typed(result) : (JSON.parse(result) as Result);
  } catch (error) {
    throw new HeraldError(
      0,
      'invalid_event',
      `the job's result could not be parsed (typed): ${error instanceof Error ? error.message : String(error)}`,
    );
  }
}
