import { Router, type Request, type Response } from 'express';
import { DEFAULT_LIST_LIMIT, jobListQuerySchema } from '@herald/contract';
import type { Logger } from '@herald/shared';
import type { Access } from '../auth/access.ts';
import { requestLogger } from '../http/request-context.ts';
import { redisCall } from '../http/deadline.ts';
import { badRequest } from '../http/errors.ts';
import { type JobIndex, cursorMember } from '../jobs/job-index.ts';
import type { JobService } from '../jobs/job-service.ts';
import type { ActiveJobs } from '../limits/active-jobs.ts';
import type { SubmissionLimiter } from '../limits/submission-limiter.ts';
import { sendWatchToken } from './watch-token-answer.ts';
import {
  admission,
  bodyLimitBytes,
  bodyProblem,
  idempotencyKeyOf,
  jsonBody,
  producerEventBody,
  producerEventOf,
  queryToken,
  submissionGate,
} from './request-body.ts';

/** What the replica's metrics hear from the job routes. */
export interface JobRoutesObserver {
  /** A job was created (not an Idempotency-Key replay). */
  submitted(): void;
  /** A job was ended here by a cancel (queued, or external), so no worker will ever count it. */
  cancelledHere(): void;
}

export interface JobRoutesDeps {
  readonly jobs: JobService;
  /** What GET /v1/jobs lists. */
  readonly index: JobIndex;
  readonly access: Access;
  readonly submissions: SubmissionLimiter;
  readonly active: ActiveJobs;
  /** Snapshot reads per client IP (READ_RATE_PER_IP). */
  readonly reads: SubmissionLimiter;
  readonly observer: JobRoutesObserver;
  readonly maxTextChars: number;
  /** For requests that did not come through the server (each has its own, with reqId). */
  readonly logger: Logger;
}

/**
 * Where to find a job; the events link carries the watch token, ready for an EventSource. An
 * external job's also says where its producer publishes (with its publish token as a bearer).
 */
const links = (jobId: string, watchToken: string | null = null, external = false) => ({
  self: `/v1/jobs/${jobId}`,
  events: `/v1/jobs/${jobId}/events${watchToken === null ? '' : `?token=${watchToken}`}`,
  ...(external ? { publish: `/v1/jobs/${jobId}/events` } : {}),
});

/** A listed page counts as one snapshot read per this many jobs of its `limit` (READ_RATE_PER_IP), one at least. */
export const LISTED_JOBS_PER_READ = 20;

/** POST and GET /v1/jobs, GET and DELETE /v1/jobs/{id}, POST /v1/jobs/{id}/events and /watch-tokens (docs/api.md). */
export function jobRoutes({ jobs, index, access, submissions, active, reads, observer, maxTextChars, logger }: JobRoutesDeps): Router {
  const router = Router();
  const json = jsonBody(bodyLimitBytes(maxTextChars));
  const producerEvent = producerEventBody(bodyLimitBytes(maxTextChars));

  router.post('/v1/jobs', submissionGate(access, submissions), json, async (req: Request, res: Response) => {
    const caller = access.callerOf(req);
    const submitted = await jobs.submit(req.body, idempotencyKeyOf(req), caller.keyId, admission(caller, submissions, active));
    if (submitted.created) observer.submitted();
    // Never the text: its length says enough.
    const text = (req.body as { text?: unknown }).text;
    requestLogger(req, logger).info(
      {
        jobId: submitted.jobId,
        kind: submitted.kind,
        created: submitted.created,
        ...(typeof text === 'string' ? { chars: text.length } : {}),
        keyId: caller.keyId,
      },
      submitted.created ? 'job submitted' : 'job submission replayed (Idempotency-Key)',
    );
    const watchToken = access.watchToken(submitted.jobId);
    const external = submitted.kind === 'external';
    // Only to the request that created the job: a replay may come from anyone who guessed the
    // Idempotency-Key (with auth off all callers share them), and the token would let it publish.
    // The link stays: it is no secret. With auth on, the owning key publishes too (docs/api.md).
    const publishToken = external && submitted.created ? await access.publishToken(submitted.jobId) : null;
    res
      .status(submitted.created ? 202 : 200)
      .location(links(submitted.jobId).self)
      .json({
        jobId: submitted.jobId,
        status: submitted.status,
        ...(watchToken === null ? {} : { watchToken }),
        ...(publishToken === null ? {} : { publishToken }),
        links: links(submitted.jobId, watchToken, external),
      });
  });

  // The caller's jobs (an admin key's, or anyone's with auth off: every job), newest first, a
  // page at a time (jobs/job-index.ts). An API key, as for submitting: a watch token lists nothing.
  router.get('/v1/jobs', async (req, res) => {
    const caller = access.requireKey(req);
    const query = jobListQuerySchema.parse(req.query);
    const limit = query.limit ?? DEFAULT_LIST_LIMIT;
    const cursorAt = query.cursor === undefined ? null : cursorMember(query.cursor);
    if (query.cursor !== undefined && cursorAt === null) {
      throw badRequest('cursor is not one this server gave: pass a nextCursor as it came', [{ path: 'cursor', message: 'not a cursor' }]);
    }
    await reads.enforce(caller);
    await reads.enforceWeight(caller, limit / LISTED_JOBS_PER_READ);
    const owner = caller.admin || caller.keyId === null ? null : caller.keyId;
    const { jobs: listed, nextCursor } = await redisCall(index.page({ owner, tag: query.tag, status: query.status, limit }, cursorAt));
    res.json({ jobs: listed, nextCursor });
  });

  router.get('/v1/jobs/:id', async (req, res) => {
    const jobId = String(req.params.id);
    const caller = await access.requireWatcher(req, jobId, queryToken(req.query.token));
    await reads.enforce(caller);
    // A key that may not reach the job is refused on its owner alone, before the snapshot is read.
    if (access.ownerDecides(caller)) access.requireReach(caller, await jobs.head(jobId));
    const { snapshot } = await jobs.record(jobId);
    // A key holder may hand out a fresh watch link for a job it reaches (an EventSource cannot send the key).
    const watchToken = caller.keyId !== null ? access.watchToken(jobId) : null;
    res.json(watchToken === null ? snapshot : { ...snapshot, watchToken });
  });

  // A fresh watch token without reading the snapshot: what a backend's getToken asks for when a
  // watcher's token has expired (docs/api.md). One Redis read, the job's head; counted as a
  // snapshot read. A watch token cannot mint another: it is no API key (401).
  router.post('/v1/jobs/:id/watch-tokens', async (req, res) => {
    const caller = access.requireKey(req);
    const jobId = String(req.params.id);
    await reads.enforce(caller);
    access.requireReach(caller, await jobs.head(jobId));
    sendWatchToken(res, access, jobId);
  });

  router.delete('/v1/jobs/:id', async (req, res) => {
    const caller = access.requireKey(req);
    const jobId = String(req.params.id);
    access.requireReach(caller, await jobs.head(jobId));
    const { snapshot, endedHere } = await jobs.cancel(jobId);
    if (endedHere) observer.cancelledHere();
    requestLogger(req, logger).info({ jobId, endedHere }, 'job cancel requested');
    res.status(202).json({ ...snapshot, links: links(snapshot.jobId, null, snapshot.kind === 'external') });
  });

  // A producer's event into an external job. (GET on the same path is the stream, served beside Express.)
  router.post(
    '/v1/jobs/:id/events',
    async (req, _res, next) => {
      const jobId = String(req.params.id);
      // Who before what, as for submissions: a caller without the job's token learns nothing.
      const caller = await access.requirePublisher(req, jobId);
      if (caller.keyId !== null) access.requireReach(caller, await jobs.head(jobId));
      next(bodyProblem(req));
    },
    producerEvent,
    async (req: Request, res: Response) => {
      const jobId = String(req.params.id);
      const published = await jobs.publish(jobId, producerEventOf(req, maxTextChars), idempotencyKeyOf(req));
      if (published.terminal) requestLogger(req, logger).info({ jobId }, 'external job ended by its producer');
      res.status(published.created ? 201 : 200).json({ eventId: published.eventId });
    },
  );

  return router;
}
