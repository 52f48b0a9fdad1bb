import type { JsonValue } from '@herald/contract';
import type { Logger } from '@herald/shared';
import type { ZodType } from 'zod';

/** A step of the work, as watchers see it: stage, message, and how far along (0–99). */
export interface Step {
  readonly stage: string;
  readonly message: string;
  readonly progress: number;
}

/**
 * How a run tells its watchers what happens. The runner makes these once per run, as functions
 * that need no `this`: a kind hands them on as they are (the summarize kind, to its summarizer).
 */
export interface RunReport {
  /** A step of the work: published at once, as an event of its own (after any text written before it). */
  readonly step: (step: Step) => Promise<void>;
  /**
   * More of the result, as it is written, with the progress reached: published at most once per
   * STREAM_FLUSH_MS (several writes become one event with their text together).
   */
  readonly write: (delta: string, progress: number) => void;
  /** Drops what was written: the next write starts the result again, at offset 0 (a retried call). */
  readonly restart: () => void;
}

/** One named stream of a job, as a kind writes it (KindContext.stream). */
export interface StreamWriter {
  readonly write: (delta: string) => void;
  readonly restart: () => void;
}

/** What a kind's run sees of its job: who it is, the signal that stops it, how to tell watchers. */
export interface KindContext extends RunReport {
  readonly jobId: string;
  /** 1 for the first run; retries (after a failure or a stalled worker) count up. */
  readonly attempt: number;
  readonly attempts: number;
  /** Aborted when someone cancels the job (or it ended elsewhere): stop at once. */
  readonly signal: AbortSignal;
  /** The worker's logger, with the job's id and attempt. */
  readonly logger: Logger;
  /**
   * Changes the job's metadata: `patch` is a JSON Merge Patch (RFC 7396: null removes a member,
   * an object merges, anything else replaces), published at once as an event of its own (after
   * any text written before it), with the last step's stage and message. Rejects when the merged
   * metadata would pass MAX_METADATA_BYTES (nothing is published then).
   */
  readonly metadata: (patch: Readonly<Record<string, unknown>>) => Promise<void>;
  /**
   * A named stream of the job (`[a-z0-9_-]{1,32}`, at most 8 a job), written beside the result
   * as the result is: `write` appends, coalesced as `write` above; `restart` starts it again at
   * offset 0. Its events carry the last step's stage and message. Throws for a bad name.
   */
  readonly stream: (name: string) => StreamWriter;
}

/** The `error.code` of a kind's failures that are not a JobError of its own. */
export interface FailureCodes {
  /** Any other error its run threw. */
  readonly failed: string;
  /** Its run resolved to an empty (or white space) string, or to nothing at all (undefined). */
  readonly empty: string;
}

/**
 * A kind of job the workers run (README, "Add a job kind"): its name (the BullMQ job name), its
 * input as the queue carries it (checked again here: a job may have been queued by another
 * version), and a run that reports through the context and resolves to the result the `done`
 * event carries: any JSON value. A string result is the text written, when the run wrote it
 * (`write`), and must not be empty (white space); any other value is the result as it is, the
 * text written staying what watchers read as `partial` (docs/api.md, "The event"). Throw to
 * fail (retried, JOB_ATTEMPTS in all); a JobError with `retryable: false` fails the job at once.
 */
export interface JobKind<Input = unknown> {
  readonly name: string;
  readonly input: ZodType<Input>;
  /** The `done` event's message (default "Done"). */
  readonly doneMessage?: string;
  /** Default `job_failed` for both. */
  readonly failureCodes?: FailureCodes;
  /** The message of an event that carries written text, given its length so far (default "Writing: N characters so far"). */
  readonly writingMessage?: (characters: number) => string;
  run(input: Input, context: KindContext): Promise<JsonValue>;
}

/** A kind of any input, as a registry of kinds holds them. */
// biome-ignore lint/suspicious/noExplicitAny: the registry holds kinds of every input type; each checks its own input
export type AnyJobKind = JobKind<any>;

/** Keeps a kind's input type tied to its run (Herald's own kinds; a kind of yours is define-kind.ts's defineKind). */
export const defineJobKind = <Input>(kind: JobKind<Input>): JobKind<Input> => kind;
