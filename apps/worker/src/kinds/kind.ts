import type { ZodType } from 'zod';
import type { Step } from '../summarizer/index.ts';

/** What a kind's run sees of its job: who it is, the signal that stops it, how to tell watchers. */
export interface KindContext {
  readonly jobId: string;
  /** 1 for the first run; retries (after a failure or a stalled worker) count up. */
  readonly attempt: number;
  readonly attempts: number;
  /** Aborted when someone cancels the job (or it ended elsewhere): stop at once. */
  readonly signal: AbortSignal;
  /** A step of the work: published at once, as an event (stage, message, progress 0–99). */
  step(step: Step): Promise<void>;
  /** The result as it is written, with the progress reached: coalesced (STREAM_FLUSH_MS). */
  write(delta: string, progress: number): void;
  /** Drops what was written: the next write starts the result again, at offset 0. */
  restart(): void;
}

/**
 * A kind of job the workers run (README, "Add a job kind"): its name (the BullMQ job name), its
 * input as the queue carries it (checked again here: a job may have been queued by another
 * version), and a run that reports through the context and resolves to the result — the text
 * the `done` event carries. Throw to fail (retried, JOB_ATTEMPTS in all); a SummarizerError with
 * `retryable: false` fails the job at once.
 */
export interface JobKind<Input = unknown> {
  readonly name: string;
  readonly input: ZodType<Input>;
  /** The `done` event's message (default "Done"). */
  readonly doneMessage?: string;
  run(input: Input, context: KindContext): Promise<string>;
}

/** A kind of any input, as a registry of kinds holds them. */
// biome-ignore lint/suspicious/noExplicitAny: the registry holds kinds of every input type; each checks its own input
export type AnyJobKind = JobKind<any>;

/** Keeps a kind's input type tied to its run. */
export const defineKind = <Input>(kind: JobKind<Input>): JobKind<Input> => kind;
