// @herald/react: React hooks on @herald/client (docs/api.md; README.md here). Each mounted hook
// holds one resuming stream, opened in an effect (never while rendering on a server) and closed
// when the component unmounts or its id changes.
export { useJob } from './use-job.ts';
export { useBatch } from './use-batch.ts';
export { useJobs } from './use-jobs.ts';
export type {
  BatchState,
  Connection,
  HeraldHookOptions,
  JobFailure,
  JobState,
  JobStates,
  JobsState,
  ParsedAsJson,
  Typed,
} from './types.ts';
