import type { JsonValue } from '@herald/contract';
import type { Logger } from '@herald/shared';
import type { z } from 'zod';
import type { JobKind, KindContext } from './jobs/kind.ts';

/** What a run of your kind sees of its job, and how it tells the job's watchers. */
export interface WorkerContext {
  readonly jobId: string;
  /** 1 for the first run; a retry (after a failure, or a worker that died) counts up. */
  readonly attempt: number;
  readonly attempts: number;
  /** Aborted when someone cancels the job (DELETE /v1/jobs/{id}): stop at once. */
  readonly signal: AbortSignal;
  /** The worker's logger, with the job's id and attempt. */
  readonly logger: Logger;
  /** A step of the work, published at once: how far along (0–99), what is happening, and its stage (default "working"). */
  progress(percent: number, message: string, stage?: string): Promise<void>;
  /** More of the job's answer (watchers fold it into `partial`), with the progress reached; sent at most every STREAM_FLUSH_MS. */
  write(delta: string, options?: { progress?: number }): void;
  /** Drops the answer written so far: the next write starts it again at offset 0. */
  restart(): void;
  /** A named stream beside the answer (`[a-z0-9_-]{1,32}`, at most 8 a job), written as the answer is. */
  stream(name: string): { write(delta: string): void; restart(): void };
  /** Changes the job's metadata: a JSON Merge Patch (RFC 7396), published at once. */
  metadata(patch: Readonly<Record<string, unknown>>): Promise<void>;
}

export interface KindDefinition<Schema extends z.ZodType> {
  /** What `kind` says in POST /v1/jobs: a-z first, then up to 47 of a-z 0-9 _ - (docs/api.md, "Kinds"). */
  readonly name: string;
  /** The job's input: registered as its JSON Schema (the API refuses a submission that does not fit), and checked again here. */
  readonly input: Schema;
  /**
   * Runs one job: resolves to its result (any JSON value; a string is the answer written, when
   * the run wrote one). Throw to fail: the job is retried (JOB_ATTEMPTS in all); a JobError
   * with `retryable: false` fails it at once.
   */
  run(input: z.output<Schema>, ctx: WorkerContext): Promise<JsonValue> | JsonValue;
}

/** Processing progress is a whole number below 100 (100 is `done`'s). */
const clampProgress = (percent: number): number => (Number.isFinite(percent) ? Math.min(99, Math.max(0, Math.round(percent))) : 0);

/** The context a kind of yours sees, on the run's own (the one Herald's kinds use). */
export function workerContext(context: KindContext): WorkerContext {
  let reached = 0;
  const reach = (percent: number | undefined): number => {
    if (percent !== undefined) reached = Math.max(reached, clampProgress(percent));
    return reached;
  };
  return {
    jobId: context.jobId,
    attempt: context.attempt,
    attempts: context.attempts,
    signal: context.signal,
    logger: context.logger,
    progress: (percent, message, stage = 'working') => context.step({ stage, message, progress: reach(percent) }),
    write: (delta, options) => context.write(delta, reach(options?.progress)),
    restart: () => context.restart(),
    stream: (name) => context.stream(name),
    metadata: (patch) => context.metadata(patch),
  };
}

/** A kind of job your workers run: give it to startWorker. */
export function defineKind<Schema extends z.ZodType>(definition: KindDefinition<Schema>): JobKind<z.output<Schema>> {
  return {
    name: definition.name,
    input: definition.input as z.ZodType<z.output<Schema>>,
    run: async (input, context) => definition.run(input, workerContext(context)),
  };
}
