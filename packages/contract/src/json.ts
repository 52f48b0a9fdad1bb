import * as z from 'zod';

/** A job's metadata nests at most this many levels deep, the metadata object itself being the first. */
export const MAX_METADATA_DEPTH = 32;

/**
 * Whether a parsed JSON value nests containers (objects, arrays) deeper than `maxDepth`, the value
 * itself being level 1: a loop over an explicit stack, never recursion, so no depth can exhaust
 * the call stack (zod's z.json() recursed: 5,000 levels threw RangeError, a 500). It visits each
 * value once at most, and stops at the first one too deep (JSON.parse gives a tree).
 */
export function nestsDeeperThan(value: unknown, maxDepth: number): boolean {
  const stack: [unknown, number][] = [[value, 1]];
  for (let top = stack.pop(); top !== undefined; top = stack.pop()) {
    const [item, depth] = top;
    if (typeof item !== 'object' || item === null || isRawJson(item)) continue;
    if (depth > maxDepth) return true;
    for (const child of Array.isArray(item) ? item : Object.values(item)) stack.push([child, depth + 1]);
  }
  return false;
}

/** A number kept as the digits it was sent with (JSON.rawJSON, the server's exact parse): a leaf, not a container. */
const isRawJson = (item: object): boolean => (JSON as { isRawJSON?: (value: unknown) => boolean }).isRawJSON?.(item) === true;

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
