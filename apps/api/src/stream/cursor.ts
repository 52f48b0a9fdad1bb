import type { IncomingMessage } from 'node:http';
import { parseStreamId, type StreamId } from '@herald/contract';
import { badRequest } from '../http/errors.ts';

/**
 * The client's resume point: the Last-Event-ID header (what a reconnecting EventSource sends)
 * wins over the `lastEventId` query parameter (what a page or curl sets by hand).
 */
export function readCursor(req: IncomingMessage, query: URLSearchParams): StreamId | null {
  const fromQuery = query.getAll('lastEventId');
  if (fromQuery.length > 1) throw badRequest('lastEventId must be a single value');
  const header = req.headers['last-event-id'];
  const raw = (typeof header === 'string' ? header.trim() : '') || fromQuery[0]?.trim();
  if (!raw) return null;
  const cursor = parseStreamId(raw);
  if (!cursor) throw badRequest('The event cursor is not an event id of the form <ms>-<seq>');
  return cursor;
}
