import express, { Router, type Request, type Response } from 'express';
import type { Logger } from '@herald/shared';
import { HttpError } from '../errors.ts';
import type { JobService } from '../jobs/job-service.ts';
import type { ApiMetrics } from '../metrics.ts';
import { requestLogger } from './request-context.ts';

const links = (jobId: string) => ({ self: `/v1/jobs/${jobId}`, events: `/v1/jobs/${jobId}/events` });

/** Generous enough for MAX_TEXT_CHARS characters of any kind once JSON-escaped ("\uXXXX"). */
const bodyLimitBytes = (maxTextChars: number): number => maxTextChars * 6 + 64 * 1024;

/** `logger` only for requests that did not come through the server (each has its own, with reqId). */
export function jobRoutes(jobs: JobService, metrics: ApiMetrics, maxTextChars: number, logger: Logger): Router {
  const router = Router();
  const json = express.json({ limit: bodyLimitBytes(maxTextChars), strict: false });

  router.post(
    '/v1/jobs',
    (req, _res, next) => {
      next(req.is('application/json') ? undefined : new HttpError(415, 'unsupported_media_type', 'Send the job as application/json'));
    },
    json,
    async (req: Request, res: Response) => {
      const key = req.get('idempotency-key');
      const submitted = await jobs.submit(req.body, key === undefined || key === '' ? undefined : key);
      if (submitted.created) metrics.jobsSubmitted.inc();
      // Never the text: its length says enough.
      requestLogger(req, logger).info(
        { jobId: submitted.jobId, created: submitted.created, chars: (req.body as { text: string }).text.length },
        submitted.created ? 'job submitted' : 'job submission replayed (Idempotency-Key)',
      );
      res
        .status(submitted.created ? 202 : 200)
        .location(links(submitted.jobId).self)
        .json({ jobId: submitted.jobId, status: submitted.status, links: links(submitted.jobId) });
    },
  );

  router.get('/v1/jobs/:id', async (req, res) => {
    res.json(await jobs.snapshot(String(req.params.id)));
  });

  router.delete('/v1/jobs/:id', async (req, res) => {
    const jobId = String(req.params.id);
    const { snapshot, removedFromQueue } = await jobs.cancel(jobId);
    if (removedFromQueue) metrics.jobsCancelledQueued.inc();
    requestLogger(req, logger).info({ jobId, removedFromQueue }, 'job cancel requested');
    res.status(202).json({ ...snapshot, links: links(snapshot.jobId) });
  });

  return router;
}
