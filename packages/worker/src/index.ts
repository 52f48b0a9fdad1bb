// @herald/worker: run job kinds of your own on Herald (docs/api.md, "Kinds"). Define a kind
// (defineKind: a name, a zod input, a run), start a worker with it (startWorker), and submit
// {"kind": name, "input": …} to any API replica.
export { defineKind, type KindDefinition, type WorkerContext } from './define-kind.ts';
export { startWorker, type RedisSettingsInput, type StartWorkerOptions, type StartedWorker } from './start-worker.ts';
export { JobError } from './jobs/job-error.ts';
export type { AnyJobKind, JobKind } from './jobs/kind.ts';
export { bridgeQueue, type BridgeQueueOptions, type BullmqBridge } from './bridge/bridge.ts';
