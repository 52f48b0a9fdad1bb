import { MIMEType } from 'node:util';
import { MAX_CREDENTIAL_CHARS, MAX_RESULT_DEPTH, nestsDeeperThan } from '@herald/contract';
import { hasInexactNumber, parseKeepingDigits } from '@herald/shared';
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

/** A producer's event's body as it came (UTF-8 only), kept by producerEventBody for producerEventOf. */
const rawBodies = new WeakMap<object, Buffer>();

/**
 * A producer's event's parser (POST /v1/jobs/{id}/events): jsonBody's, keeping the body's text
 * too (UTF-8, the usual one; another charset's body keeps none), for producerEventOf.
 */
export const producerEventBody = (limitBytes: number): RequestHandler =>
  express.json({
    limit: limitBytes,
    strict: false,
    inflate: false,
    verify: (req, _res, buf, encoding) => {
      if (/^utf-?8$/i.test(encoding)) rawBodies.set(req, buf); // decoded only for a result that needs it
    },
  });

/**
 * The body producerEventBody parsed, its `result`'s numbers with the digits the producer wrote
 * (exact-json.ts): a big integer or `1.10` reaches watchers as it was sent. Parsing again with a
 * reviver costs a call per value, so it is done only when the result holds numbers, its body a
 * number a double would change, and the result at most `maxChars` values (MAX_TEXT_CHARS: more
 * could not fit its JSON) and MAX_RESULT_DEPTH levels: bounded by the setting, not the body.
 * Anything else is the body as parsed; the event's schema checks the result's bounds after.
 */
export function producerEventOf(req: Request, maxChars: number): unknown {
  const body: unknown = req.body;
  const raw = rawBodies.get(req);
  rawBodies.delete(req);
  if (raw === undefined || typeof body !== 'object' || body === null || Array.isArray(body)) return body;
  const { result } = body as { result?: unknown };
  if (typeof result !== 'number' && (typeof result !== 'object' || result === null)) return body;
  if (nestsDeeperThan(result, MAX_RESULT_DEPTH) || holdsMoreValuesThan(result, maxChars)) return body;
  const text = raw.toString('utf8');
  if (!hasInexactNumber(text)) return body;
  const exact = parseKeepingDigits(text) as { result?: unknown };
  return { ...body, result: exact.result };
}

/**
 * Whether a parsed JSON value holds more than `limit` values (itself, its members, theirs, …):
 * then its JSON, a character a value at least, is over `limit` characters however its numbers are
 * written, and the schema refuses it anyway. A loop over an explicit stack, stopping at the limit.
 */
function holdsMoreValuesThan(value: unknown, limit: number): boolean {
  const stack: unknown[] = [value];
  let count = 0;
  while (stack.length > 0) {
    const item = stack.pop();
    count += 1;
    if (count > limit) return true;
    if (typeof item === 'object' && item !== null) for (const child of Array.isArray(item) ? item : Object.values(item)) stack.push(child);
  }
  return false;
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
