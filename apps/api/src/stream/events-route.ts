import type { StreamRequest } from './connection.ts';

/** The stream routes, as the OpenAPI document names them (GET only; a POST to the first is a producer's publish, through Express). */
export const STREAM_PATHS = ['/v1/jobs/{id}/events', '/v1/batches/{id}/events', '/v1/events'] as const;

const JOB_EVENTS = /^\/v1\/jobs\/([^/?]+)\/events(?:\?(.*))?$/;
const BATCH_EVENTS = /^\/v1\/batches\/([^/?]+)\/events(?:\?(.*))?$/;
const MANY_EVENTS = /^\/v1\/events(?:\?(.*))?$/;

/** Which stream a GET asks for (docs/api.md, "Events"): a job's, a batch's, several jobs' on one connection, or a tag's. */
export type EventsRequest =
  | { readonly kind: 'job'; readonly id: string; readonly query: URLSearchParams }
  | { readonly kind: 'batch'; readonly id: string; readonly query: URLSearchParams }
  | { readonly kind: 'jobs'; readonly id: string; readonly query: URLSearchParams }
  | { readonly kind: 'tag'; readonly id: string; readonly query: URLSearchParams };

/**
 * The event streams are served beside Express rather than through it: a watcher holds its
 * request for minutes, and the router's per-request state would be held with it. `id` is the
 * job's or batch's id (for several jobs, the `jobs` parameter as sent, checked by the stream).
 */
export function matchEventsRoute(req: Pick<StreamRequest, 'method' | 'url'>): EventsRequest | null {
  if (req.method !== 'GET' || !req.url) return null;
  const many = MANY_EVENTS.exec(req.url);
  if (many) {
    const query = new URLSearchParams(many[1] ?? '');
    // `tag` alone is a tag's stream; with `jobs` too, the stream refuses the mix.
    if (query.has('tag') && !query.has('jobs')) return { kind: 'tag', id: query.getAll('tag').join(','), query };
    return { kind: 'jobs', id: query.getAll('jobs').join(','), query };
  }
  const job = JOB_EVENTS.exec(req.url);
  const batch = job ? null : BATCH_EVENTS.exec(req.url);
  const match = job ?? batch;
  if (!match) return null;
  let id: string;
  try {
    id = decodeURIComponent(match[1]!);
  } catch {
    return null;
  }
  return { kind: job ? 'job' : 'batch', id, query: new URLSearchParams(match[2] ?? '') };
}
