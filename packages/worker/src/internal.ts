// What Herald's own worker process (apps/worker) builds on, beside the public API: its kinds are
// written against the run's own context (steps, a done message, failure codes of their own), and
// it wires the connections, metrics and chores itself. Not part of the published API's promise.
export { NO_OBSERVER, type ConsumerObserver, type FinalStatus } from './consumer.ts';
export { CancellationWatcher } from './jobs/cancellation.ts';
export { describeFailure, failureCodes, finalFailureEvent, isRetryable, retryEvent } from './jobs/failure.ts';
export { JobError } from './jobs/job-error.ts';
export {
  defineJobKind,
  type AnyJobKind,
  type FailureCodes,
  type JobKind,
  type KindContext,
  type RunReport,
  type Step,
  type StreamWriter,
} from './jobs/kind.ts';
export { RunEvents } from './jobs/run-events.ts';
export { runJob } from './jobs/run-job.ts';
export { startKindWorkers, type KindWorkers } from './kind-workers.ts';
export { startQueueJanitor } from './queue-janitor.ts';
export { registerKinds, registeredKind } from './registration.ts';
export { drainWithin, workerConfig } from './start-worker.ts';
export { workerContext } from './define-kind.ts';
