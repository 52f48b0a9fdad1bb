import type { Response } from 'express';
import type { Access } from '../auth/access.ts';
import { HttpError } from '../http/errors.ts';

/**
 * The 201 of POST /v1/jobs/{id}/watch-tokens and POST /v1/batches/{id}/watch-tokens, once the
 * caller and the job (or batch) were checked: a fresh token and its expiry. Without
 * WATCH_TOKEN_SECRET (auth off) there is nothing to mint, and nothing a token would be needed
 * for: 404, as for a route that is not there. Never cached: a token is a credential.
 */
export function sendWatchToken(res: Response, access: Access, id: string): void {
  const issued = access.issueWatchToken(id);
  if (issued === null) {
    throw new HttpError(404, 'not_found', 'Watch tokens are off: WATCH_TOKEN_SECRET is not set (with auth off, watching needs no token)');
  }
  res.status(201).set('Cache-Control', 'no-store').json(issued);
}
