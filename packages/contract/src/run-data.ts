import * as z from 'zod';
import { MAX_METADATA_DEPTH, nestsDeeperThan } from './json.ts';

// A job's data besides its answer (docs/api.md, "Metadata" and "Named streams"): metadata that
// changes during the run, one JSON Merge Patch (RFC 7396) per event, and named text streams
// written beside the answer, each folded as the answer's deltas are.

/** The most bytes of JSON a job's merged metadata may hold (MAX_METADATA_BYTES' default). */
export const DEFAULT_MAX_METADATA_BYTES = 16 * 1024;
/** The most named streams one job may have. */
export const MAX_STREAMS_PER_JOB = 8;
/** A stream's name: 1 to 32 of a–z, 0–9, `_` and `-`. One character class, bounded: linear on any input. */
export const STREAM_NAME = /^[a-z0-9_-]{1,32}$/;

/** The bytes of a value's JSON, as Herald stores it (UTF-8, JSON.stringify's escapes). */
export const jsonBytes = (value: unknown): number => new TextEncoder().encode(JSON.stringify(value)).byteLength;

/**
 * A metadata object (at creation, with `maxBytes`) or a patch to it (an event's, without): a
 * JSON object, at most MAX_METADATA_DEPTH deep, checked without recursion before anything walks
 * it recursively (JSON.stringify, for the size). A patch's size is bounded by its event's
 * (MAX_EVENT_BYTES), the merged object's by MAX_METADATA_BYTES, in the publish script.
 */
export const metadataObjectSchema = (maxBytes?: number) =>
  z.record(z.string(), z.unknown()).superRefine((metadata, ctx) => {
    if (nestsDeeperThan(metadata, MAX_METADATA_DEPTH)) {
      ctx.addIssue({ code: 'custom', message: `metadata must nest at most ${MAX_METADATA_DEPTH} levels deep` });
    } else if (maxBytes !== undefined && jsonBytes(metadata) > maxBytes) {
      ctx.addIssue({ code: 'custom', message: `metadata must be at most MAX_METADATA_BYTES (${maxBytes}) bytes of JSON` });
    }
  });

export const streamNameSchema = z
  .string()
  .regex(STREAM_NAME, 'stream must be 1 to 32 characters of a-z, 0-9, _ and -')
  .describe('A named stream of the job, written beside its answer');

type Json = unknown;
const isObject = (value: Json): value is Record<string, Json> => typeof value === 'object' && value !== null && !Array.isArray(value);

/**
 * RFC 7396 (JSON Merge Patch): `patch` applied to `target`. A member whose value is null is
 * removed, an object merges into an object member by member, anything else (an array, a
 * string, a number) replaces what was there. Neither argument is changed. Recursion is as deep
 * as the patch, which MAX_METADATA_DEPTH bounds. What the publish script does to a job's
 * metadata, and what a client folds.
 */
export function mergePatch(target: Json, patch: Json): Json {
  if (!isObject(patch)) return patch;
  const merged: Record<string, Json> = isObject(target) ? { ...target } : {};
  for (const [key, value] of Object.entries(patch)) {
    // Defined, not assigned: a member named `__proto__` (JSON.parse makes it an own one) stays a member.
    if (value === null) delete merged[key];
    else
      Object.defineProperty(merged, key, { value: mergePatch(merged[key], value), enumerable: true, writable: true, configurable: true });
  }
  return merged;
}

/** A job's metadata after one more event: its patch merged in (RFC 7396), or as it was. */
export function foldMetadata(
  metadata: Record<string, Json>,
  event: { readonly metadata?: Record<string, Json> | undefined },
): Record<string, Json> {
  return event.metadata === undefined ? metadata : (mergePatch(metadata, event.metadata) as Record<string, Json>);
}
