import { Router } from 'express';

const PAGE = new URL('../../public/index.html', import.meta.url);

/** The demo page: no build step, one HTML file. `/jobs/{id}` opens it on an existing job. */
export function pageRoutes(): Router {
  const router = Router();
  const send = (res: import('express').Response) => res.sendFile(PAGE.pathname);
  router.get('/', (_req, res) => send(res));
  router.get('/jobs/:id', (_req, res) => send(res));
  return router;
}
