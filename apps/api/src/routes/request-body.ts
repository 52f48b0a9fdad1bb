import { MIMEType } from 'node:util';
import { MAX_CREDENTIAL_CHARS } from '@herald/contract';
import { keepDigits, withPlainNumbers } from '@herald/shared';
import express, { type Request, type RequestHandler } from 'express';
import type { Access } from '../auth/access.ts';
import { badRequest, unsupportedMediaType, type HttpError } from '../http/errors.ts';
import type { Admission } from '../jobs/job-service.ts';
import type { ActiveJobs } from '../limits/active-jobs.ts';
import type { SubmissionLimiter, Submitter } from '../limits/submission-limiter.ts';

/**
 * What runs before a submission's body is read (POST /v1/jobs, POST /v1/batches): who before
 * what — an unauthenticated caller learns nothing about the body's validity — then the
 * submission limits, which count every authenticated attempt, valid or not, and refuse it before
 * its body is read; then an empty or non-JSON body is refused.
 */
export function submissionGate(access: Access, submissions: SubmissionLimiter): RequestHandler {
  return async (req, _res, next) => {
    const caller = access.requireKey(req);
    await submissions.enforce(caller);
    next(bodyProblem(req));
  };
}

/**
 * What a submission's jobs pass once its body is read (JobService's Admission), in this order: a
 * batch larger than a submission limit (413: it can never fit), the key's jobs not ended (413 past
 * the limit itself, else 429), then a batch's other items against the submission limits (429);
 * a refusal there gives the jobs' places back.
 */
export function admission(caller: Submitter, submissions: SubmissionLimiter, active: ActiveJobs): Admission {
  return async (jobIds) => {
    submissions.refuseNeverFitting(caller, jobIds.length);
    const release = await active.admit(caller.keyId, jobIds);
    try {
      await submissions.enforceItems(caller, jobIds.length);
    } catch (error) {
      await release().catch(() => {});
      throw error;
    }
    return release;
  };
}

/** The Idempotency-Key header, when one is given (an empty one is none). */
export function idempotencyKeyOf(req: Request): string | undefined {
  const key = req.get('idempotency-key');
  return key === undefined || key === '' ? undefined : key;
}

/** `?token=` on the snapshot: at most one, of a sane length (the token's own check does the rest). */
export function queryToken(value: unknown): string | null {
  if (value === undefined) return null;
  if (typeof value !== 'string' || value.length > MAX_CREDENTIAL_CHARS) throw badRequest('token must be a single watch token');
  return value;
}

/**
 * What is wrong with the body before it is read, if anything: none at all is a 400 whatever its
 * type (there is nothing to parse); one that is compressed, or not JSON, a 415.
 */
export function bodyProblem(req: Request): HttpError | undefined {
  const length = req.headers['content-length'];
  if (req.headers['transfer-encoding'] === undefined && (length === undefined || Number(length) === 0)) {
    return badRequest('The request body is empty: send the job as JSON, e.g. {"text": "…"}');
  }
  if (!isIdentity(req.headers['content-encoding'])) {
    return unsupportedMediaType('Send the body uncompressed: Herald reads no Content-Encoding but identity');
  }
  return isJson(req.headers['content-type']) ? undefined : unsupportedMediaType('Send the job as application/json');
}

/**
 * Compressed bodies are refused, never inflated: the byte limit then bounds what is parsed, as
 * nginx's client_max_body_size does (a 198 KB gzip body inflated to a 66 MB batch; twelve took a
 * replica to 2 GB). An empty header is none (node has trimmed its blanks already).
 */
const isIdentity = (encoding: string | undefined): boolean =>
  encoding === undefined || encoding === '' || encoding.toLowerCase() === 'identity';

/**
 * The JSON parser of every route that reads a body, after `bodyProblem`: at most `limitBytes`,
 * and never inflated (`inflate: false` refuses a compressed body itself, should it get here).
 */
export const jsonBody = (limitBytes: number): RequestHandler => express.json({ limit: limitBytes, strict: false, inflate: false });

/**
 * A producer's event's parser (POST /v1/jobs/{id}/events): as jsonBody, but a number a double
 * would change keeps its digits (exact-json.ts), so that a result's big integer or `1.10` reaches
 * its watchers as it was sent. Read it through `producerEventOf`, which makes every other field's
 * numbers plain again.
 */
export const producerEventBody = (limitBytes: number): RequestHandler =>
  express.json({ limit: limitBytes, strict: false, inflate: false, reviver: keepDigits });

/** The body producerEventBody parsed: its `result` as sent, every other field's numbers plain (a progress of `50.0` is 50). */
export function producerEventOf(req: Request): unknown {
  const body: unknown = req.body;
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return withPlainNumbers(body);
  const fields = body as Record<string, unknown>;
  for (const key of Object.keys(fields)) if (key !== 'result') fields[key] = withPlainNumbers(fields[key]);
  return fields;
}

function isJson(contentType: string | undefined): boolean {
  if (contentType === undefined) return false;
  try {
    return new MIMEType(contentType).essence === 'application/json';
  } catch {
    return false; // not a media type at all
  }
}

/** Generous enough for MAX_TEXT_CHARS characters of any kind once JSON-escaped ("\uXXXX"). */
export const bodyLimitBytes = (maxTextChars: number): number => maxTextChars * 6 + 64 * 1024;
