// @herald/shared: what the API and the worker run on. The wire contract (events, snapshots,
// request bodies) is @herald/contract; dev-only helpers are @herald/shared/dev.
export * from './config.ts';
export * from './logger.ts';
export * from './events/publisher.ts';
export * from './events/reader.ts';
export * from './events/wire.ts';
export * from './events/event-layout.ts';
export * from './broker/broker.ts';
export * from './broker/redis-broker.ts';
export * from './broker/cluster-broker.ts';
export * from './broker/create-broker.ts';
export * from './jobs/queue.ts';
export * from './redis/keys.ts';
export * from './redis/connection.ts';
export * from './redis/unavailable.ts';
export * from './redis/memory-policy.ts';
export * from './redis/reconnect-metrics.ts';
export { publishScript, type PublishInput, type PublishReply } from './redis/scripts/publish.ts';
export { submitRateScript, type RateSubject, type SubmitRateInput, type SubmitRateReply } from './redis/scripts/submit-rate.ts';
export { activeJobsScript, type ActiveJobsReply } from './redis/scripts/active-jobs.ts';
export { streamSlotsScript, type StreamSlotsOp, type StreamSlotsReply, type StreamSlotsScope } from './redis/scripts/stream-slots.ts';
export { releaseWebhookHostSlot, takeWebhookHostSlot, type WebhookHostSlot } from './redis/scripts/webhook-host-slots.ts';
export { ScriptReplyError } from './redis/scripts/load.ts';
export * from './process/shutdown.ts';
export * from './process/run-service.ts';
export * from './jobs/chores.ts';
export * from './jobs/active-jobs.ts';
export * from './webhooks/addresses.ts';
