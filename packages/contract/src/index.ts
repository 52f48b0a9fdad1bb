// Herald's wire contract (docs/api.md), shared by the server and its clients.
export * from './batch.ts';
export * from './credentials.ts';
export * from './errors.ts';
export * from './event.ts';
export * from './event-id.ts';
export * from './ids.ts';
export * from './json.ts';
export * from './producer.ts';
export * from './snapshot.ts';
export * from './submit.ts';
export * from './tags.ts';
export * from './responses.ts';
export * from './run-data.ts';
