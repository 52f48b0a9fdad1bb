import type { IncomingMessage } from 'node:http';

const EVENTS_PATH = /^\/v1\/jobs\/([^/?]+)\/events(?:\?(.*))?$/;

export interface EventsRequest {
  readonly jobId: string;
  readonly query: URLSearchParams;
}

/**
 * GET /v1/jobs/{id}/events is served beside Express rather than through it: a watcher holds
 * its request for minutes, and the router's per-request state would be held with it.
 */
export function matchEventsRoute(req: IncomingMessage): EventsRequest | null {
  if (req.method !== 'GET' || !req.url) return null;
  const match = EVENTS_PATH.exec(req.url);
  if (!match) return null;
  let jobId: string;
  try {
    jobId = decodeURIComponent(match[1]!);
  } catch {
    return null;
  }
  return { jobId, query: new URLSearchParams(match[2] ?? '') };
}
