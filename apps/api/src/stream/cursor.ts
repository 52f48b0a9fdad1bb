import { compareStreamIds, formatStreamId, parseStreamId, type StreamId } from '@herald/contract';
import { badRequest } from '../http/errors.ts';
import type { StreamRequest } from './connection.ts';
import type { TopicGate } from './topic-gate.ts';

/**
 * The client's resume point: the Last-Event-ID header (what a reconnecting EventSource sends)
 * wins over the `lastEventId` query parameter (what a page or curl sets by hand).
 */
export function readCursor(req: Pick<StreamRequest, 'headers'>, query: URLSearchParams): StreamId | null {
  const raw = rawCursor(req, query);
  if (!raw) return null;
  const cursor = parseStreamId(raw);
  if (!cursor) throw badRequest('The event cursor is not an event id of the form <ms>-<seq>');
  return cursor;
}

function rawCursor(req: Pick<StreamRequest, 'headers'>, query: URLSearchParams): string | undefined {
  const fromQuery = query.getAll('lastEventId');
  if (fromQuery.length > 1) throw badRequest('lastEventId must be a single value');
  const header = req.headers['last-event-id'];
  return (typeof header === 'string' ? header.trim() : '') || fromQuery[0]?.trim();
}

/**
 * A multi-job stream's cursor: one event id per job, in the order of `?jobs=`, comma-separated.
 * Built for each event of such a stream, so without an array in between.
 */
export function formatCursors(first: TopicGate): string {
  let cursor = formatStreamId(first.position);
  for (let gate = first.next; gate !== null; gate = gate.next) cursor += `,${formatStreamId(gate.position)}`;
  return cursor;
}

/** The composite cursor of GET /v1/events (formatCursors), from the same places as readCursor. */
export function readCursors(req: Pick<StreamRequest, 'headers'>, query: URLSearchParams, jobs: number): StreamId[] | null {
  const raw = rawCursor(req, query);
  if (!raw) return null;
  const parts = raw.split(',');
  const cursors = parts.map(parseStreamId);
  if (parts.length !== jobs || cursors.some((cursor) => cursor === null)) {
    throw badRequest(`The event cursor of a ${jobs}-job stream is ${jobs} event ids, comma-separated, in the order of jobs`);
  }
  return cursors as StreamId[];
}

/**
 * A tag's stream's cursor (docs/api.md, "A tag's stream"): the feed entry last sent and, while
 * the stream still replays what came before it opened, that open point (`<entry>,<open point>`):
 * it tells which jobs the replay leaves out. Past the open point every watcher's cursor is the
 * entry's id alone, so those frames are shared.
 */
export interface TagCursor {
  readonly position: StreamId;
  readonly openPoint: StreamId | null;
}

export const formatTagCursor = (position: StreamId, openPoint: StreamId | null): string =>
  openPoint === null || compareStreamIds(position, openPoint) > 0
    ? formatStreamId(position)
    : `${formatStreamId(position)},${formatStreamId(openPoint)}`;

/** A tag stream's cursor (formatTagCursor), from the same places as readCursor. */
export function readTagCursor(req: Pick<StreamRequest, 'headers'>, query: URLSearchParams): TagCursor | null {
  const raw = rawCursor(req, query);
  if (!raw) return null;
  const comma = raw.indexOf(',');
  const position = parseStreamId(comma < 0 ? raw : raw.slice(0, comma));
  const openPoint = comma < 0 ? null : parseStreamId(raw.slice(comma + 1));
  if (!position || (comma >= 0 && !openPoint)) throw badRequest('The event cursor is not one a tag’s stream gave');
  return { position, openPoint };
}
