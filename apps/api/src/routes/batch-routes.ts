import { Router, type Request, type Response } from 'express';
import type { Logger } from '@herald/shared';
import type { Access } from '../auth/access.ts';
import { requestLogger } from '../http/request-context.ts';
import type { BatchService } from '../jobs/batch-service.ts';
import type { ActiveJobs } from '../limits/active-jobs.ts';
import type { SubmissionLimiter } from '../limits/submission-limiter.ts';
import type { JobRoutesObserver } from './job-routes.ts';
import { sendWatchToken } from './watch-token-answer.ts';
import { admission, bodyLimitBytes, idempotencyKeyOf, jsonBody, queryToken, submissionGate } from './request-body.ts';

export interface BatchRoutesDeps {
  readonly batches: BatchService;
  readonly access: Access;
  readonly submissions: SubmissionLimiter;
  readonly active: ActiveJobs;
  /** Snapshot reads per client IP (READ_RATE_PER_IP). */
  readonly reads: SubmissionLimiter;
  readonly observer: JobRoutesObserver;
  readonly maxTextChars: number;
  readonly maxBatchItems: number;
  readonly logger: Logger;
}

/**
 * A batch body may hold MAX_BATCH_ITEMS texts of MAX_TEXT_CHARS each, but never more than this
 * in one request: the body is held in memory while it is checked (docs/api.md, "Batches").
 */
export const MAX_BATCH_BODY_BYTES = 64 * 1024 * 1024;

/** A batch's snapshot counts as one read per this many of its jobs against READ_RATE_PER_IP. */
const BATCH_JOBS_PER_READ = 100;

/** Where to find a batch; the events link carries the watch token, ready for an EventSource. */
const links = (batchId: string, watchToken: string | null = null) => ({
  self: `/v1/batches/${batchId}`,
  events: `/v1/batches/${batchId}/events${watchToken === null ? '' : `?token=${watchToken}`}`,
});

/** POST /v1/batches, GET and DELETE /v1/batches/{id}, POST /v1/batches/{id}/watch-tokens (docs/api.md, "Batches"). */
export function batchRoutes({
  batches,
  access,
  submissions,
  active,
  reads,
  observer,
  maxTextChars,
  maxBatchItems,
  logger,
}: BatchRoutesDeps): Router {
  const router = Router();
  const limit = Math.min(MAX_BATCH_BODY_BYTES, maxBatchItems * bodyLimitBytes(maxTextChars));
  const json = jsonBody(limit);

  router.post(
    '/v1/batches',
    // As for a job: the gate counts one submission; the batch's other items once it is parsed.
    submissionGate(access, submissions),
    json,
    async (req: Request, res: Response) => {
      const caller = access.callerOf(req);
      const submitted = await batches.submit(req.body, idempotencyKeyOf(req), caller.keyId, admission(caller, submissions, active));
      if (submitted.created) for (const _ of submitted.jobIds) observer.submitted();
      requestLogger(req, logger).info(
        { batchId: submitted.batchId, jobs: submitted.jobIds.length, created: submitted.created, keyId: caller.keyId },
        submitted.created ? 'batch submitted' : 'batch submission replayed (Idempotency-Key)',
      );
      const watchToken = access.watchToken(submitted.batchId);
      res
        .status(submitted.created ? 202 : 200)
        .location(links(submitted.batchId).self)
        .json({
          batchId: submitted.batchId,
          status: submitted.status,
          jobIds: submitted.jobIds,
          ...(watchToken === null ? {} : { watchToken }),
          links: links(submitted.batchId, watchToken),
        });
    },
  );

  router.get('/v1/batches/:id', async (req, res) => {
    const batchId = String(req.params.id);
    const caller = await access.requireWatcher(req, batchId, queryToken(req.query.token), 'batch');
    await reads.enforce(caller);
    const head = await batches.head(batchId);
    // A key that may not reach the batch is refused on its owner alone, before every job's state is read.
    if (access.ownerDecides(caller)) access.requireReach(caller, head, 'batch');
    // Its snapshot reads every job's state: a read per 100 of them (READ_RATE_PER_IP).
    await reads.enforceWeight(caller, head.size / BATCH_JOBS_PER_READ);
    const { snapshot } = await batches.record(batchId);
    const watchToken = caller.keyId !== null ? access.watchToken(batchId) : null;
    res.json(watchToken === null ? snapshot : { ...snapshot, watchToken });
  });

  // A fresh watch token for the batch (and each of its jobs), as for a job: one read, the batch's head.
  router.post('/v1/batches/:id/watch-tokens', async (req, res) => {
    const caller = access.requireKey(req);
    const batchId = String(req.params.id);
    await reads.enforce(caller);
    access.requireReach(caller, await batches.head(batchId), 'batch');
    sendWatchToken(res, access, batchId);
  });

  router.delete('/v1/batches/:id', async (req, res) => {
    const caller = access.requireKey(req);
    const batchId = String(req.params.id);
    access.requireReach(caller, await batches.head(batchId), 'batch');
    const { snapshot, cancelledHere } = await batches.cancel(batchId);
    for (let i = 0; i < cancelledHere; i += 1) observer.cancelledHere();
    requestLogger(req, logger).info({ batchId, cancelledHere }, 'batch cancel requested');
    res.status(202).json({ ...snapshot, links: links(batchId) });
  });

  return router;
}
