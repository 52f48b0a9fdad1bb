// @herald/client: Herald's API for browsers and Node ≥ 20 (docs/api.md). The event and
// snapshot types are the server's own zod schemas (packages/contract), compiled in.
export {
  createClient,
  type ClientOptions,
  type HeraldClient,
  type WatchOptions,
  type WatchedEvent,
  type WatchedBatchEvent,
  type WatchedTagEvent,
  type Submitted,
  type BatchSubmitted,
} from './client.ts';
export { HeraldError, type ClientErrorCode, type HeraldErrorCode } from './errors.ts';
export type { Reconnect, ResumeOptions } from './event-stream.ts';
export {
  batchEventSchema,
  batchSnapshotSchema,
  foldMetadata,
  foldPartial,
  foldStreams,
  isTerminal,
  jobEventSchema,
  jobSnapshotSchema,
  type BatchEvent,
  type BatchRequest,
  type BatchSnapshot,
  type ErrorCode,
  type IssuedWatchToken,
  type JobCancelled,
  type JobEvent,
  type JobList,
  type KindList,
  type JobListItem,
  type JobRead,
  type JobSnapshot,
  type JobStatus,
  type JsonValue,
  type ProducerEvent,
  type SubmitRequest,
} from '@herald/contract';
