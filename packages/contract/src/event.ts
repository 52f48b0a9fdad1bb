import { z } from 'zod';

export const JOB_STATUSES = ['queued', 'processing', 'done', 'error', 'cancelled'] as const;
export type JobStatus = (typeof JOB_STATUSES)[number];

const TERMINAL: ReadonlySet<JobStatus> = new Set<JobStatus>(['done', 'error', 'cancelled']);
export const isTerminal = (status: string): boolean => TERMINAL.has(status as JobStatus);

export const jobErrorSchema = z.strictObject({
  code: z.string().min(1),
  message: z.string(),
});
export type JobError = z.infer<typeof jobErrorSchema>;

/** One progress event, exactly as it travels in `data:` lines (docs/api.md, "The event"). */
export const jobEventSchema = z.strictObject({
  jobId: z.string().min(1),
  status: z.enum(JOB_STATUSES),
  progress: z.number().int().min(0).max(100),
  message: z.string(),
  stage: z.string().min(1).optional(),
  result: z.string().optional(),
  error: jobErrorSchema.optional(),
  ts: z.number().int().nonnegative(),
});
export type JobEvent = z.infer<typeof jobEventSchema>;

/** What a producer says; the publisher adds jobId and ts, and may raise progress. */
export type ProgressUpdate = Omit<JobEvent, 'jobId' | 'ts'>;
