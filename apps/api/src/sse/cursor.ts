import type { Request } from 'express';
import { parseStreamId, type StreamId } from '@herald/shared';
import { badRequest } from '../errors.ts';

/**
 * The client's resume point: the Last-Event-ID header (what a reconnecting EventSource sends)
 * wins over the `lastEventId` query parameter (what a page or curl sets by hand).
 */
export function readCursor(req: Request): StreamId | null {
  const header = req.get('last-event-id')?.trim();
  const query = req.query.lastEventId;
  const raw = header || (typeof query === 'string' ? query.trim() : undefined);
  if (query !== undefined && typeof query !== 'string') throw badRequest('lastEventId must be a single value');
  if (!raw) return null;
  const cursor = parseStreamId(raw);
  if (!cursor) throw badRequest('The event cursor is not an event id of the form <ms>-<seq>');
  return cursor;
}
