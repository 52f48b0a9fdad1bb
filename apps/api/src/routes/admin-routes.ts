import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { ExpressAdapter } from '@bull-board/express';
import type { Queue } from 'bullmq';
import { Router, type RequestHandler } from 'express';
import type { Access } from '../auth/access.ts';

export interface AdminRoutesDeps {
  readonly access: Access;
  /** The queues an operator looks at: jobs, webhooks (chores) and watchdogs. */
  readonly queues: readonly Queue[];
}

export const ADMIN_PATH = '/admin';

/**
 * The bull-board UI and its API, its scripts and styles served from the package itself (no CDN),
 * behind an admin key. Read-only: a job retried from here would run again though its
 * end is already published, so Herald's own rules (one terminal event) would only swallow it;
 * cleaning or promoting belongs to Herald's janitor and chores.
 */
export function adminRoutes({ access, queues }: AdminRoutesDeps): Router {
  const board = new ExpressAdapter();
  board.setBasePath(ADMIN_PATH);
  createBullBoard({
    queues: queues.map((queue) => new BullMQAdapter(queue, { readOnlyMode: true })),
    serverAdapter: board,
    options: { uiConfig: { boardTitle: 'Herald queues' } },
  });
  // The UI's own scripts and styles (inline styles too) from here, and nothing from elsewhere:
  // its stylesheet link to a font CDN is refused, and the page falls back to system fonts.
  const policy: RequestHandler = (_req, res, next) => {
    res.setHeader(
      'Content-Security-Policy',
      "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self'; connect-src 'self'; base-uri 'self'; frame-ancestors 'none'",
    );
    next();
  };
  const router = Router();
  const adminOnly: RequestHandler = (req, _res, next) => {
    access.requireAdmin(req); // throws the 401 (a Basic challenge: a browser asks) or the 403
    next();
  };
  router.use(ADMIN_PATH, adminOnly, policy, board.getRouter() as RequestHandler);
  return router;
}
