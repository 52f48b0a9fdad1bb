import * as z from 'zod';
import { MAX_METADATA_DEPTH } from './submit.ts';

/** Any JSON value: what a job's `result` may be (docs/api.md, "The event"). */
export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };

/** A non-string result nests at most this many levels deep, the value itself being the first (as metadata does). */
export const MAX_RESULT_DEPTH = MAX_METADATA_DEPTH;

/**
 * A job's result: any JSON value, a string staying a string. Checked as JSON.parse made it (the
 * value is never walked here, so no depth can exhaust a recursion): the server bounds a
 * producer's (producerEventSchema) before anything walks it.
 */
export const jobResultSchema = z
  .unknown()
  .refine((value) => value !== undefined, 'result must be a JSON value')
  .meta({
    // What JSON Schema (the OpenAPI document) says of it: any JSON value. z.json() would say it
    // too, but checks a value by recursion, member by member (50,000 members: 0.4 s).
    type: ['string', 'object', 'array', 'number', 'boolean', 'null'],
    description:
      'Any JSON value: a string (as before), an object, an array, a number, a boolean or null. Numbers are written with the digits the producer sent',
  }) as unknown as z.ZodType<JsonValue>;
