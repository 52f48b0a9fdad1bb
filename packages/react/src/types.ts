import type { BatchEvent, HeraldClient, HeraldError, JobStatus } from '@herald/client';

/**
 * Where a hook's stream stands:
 * - `idle`: nothing is open (no id, an empty list, before the first effect, or rendered on a server);
 * - `connecting`: the stream is being opened;
 * - `live`: the stream is open and events arrive;
 * - `reconnecting`: the connection dropped (a replica died, a proxy cut it); the client waits and
 *   resumes from the last event it had, nothing lost;
 * - `ended`: the terminal event has arrived (for a batch: the batch's own end); nothing more comes;
 * - `failed`: the watch gave up (`error` says why: `gave_up` after its retries, a 4xx such as
 *   `404 not_found` or `401 token_expired` without a `getToken`).
 */
export type Connection = 'idle' | 'connecting' | 'live' | 'reconnecting' | 'ended' | 'failed';

/** A job's failure, as its `error` event carries it (docs/api.md, "Failures"): `{ code, message }`. */
export interface JobFailure {
  readonly code: string;
  readonly message: string;
}

/** One job as a hook shows it: the fields of its latest event, its text so far, its stream. */
export interface JobState<Result = string> {
  /** `null` until the first event arrives. */
  readonly status: JobStatus | null;
  /** 0–100. */
  readonly progress: number;
  readonly stage: string | null;
  readonly message: string | null;
  /**
   * The answer text as written so far (every `delta` folded); once `done`, the result when that is
   * a string (any other result leaves the text as written).
   */
  readonly partial: string;
  /**
   * The `done` event's result, any JSON value as it came (a string parsed when the hook's `typed`
   * says so); `null` before. Its type is the hook's `Result`, unchecked: `string` unless told.
   */
  readonly result: Result | null;
  /**
   * Why it went wrong, `null` while nothing has: a `HeraldError` when the watch failed
   * (`connection: 'failed'`), or the job's own `{ code, message }` when it ended `error`
   * (`connection: 'ended'`). `error instanceof HeraldError` tells them apart.
   */
  readonly error: HeraldError | JobFailure | null;
  /**
   * The job's metadata so far: every event's patch merged in (RFC 7396), from the job's first
   * event, which carries the metadata it was created with (a resync's replaces it). `{}` before.
   */
  readonly metadata: Readonly<Record<string, unknown>>;
  /** The job's named streams so far, name → text, each folded from its deltas (a resync's replace them). `{}` before. */
  readonly streams: Readonly<Record<string, string>>;
  readonly connection: Connection;
  /** The cursor after the last event applied (for a job of a batch or a list: the stream's cursor then). */
  readonly lastEventId: string | null;
}

/** The jobs of a stream by id, in the order they first appeared (for `useJobs`: the list's order). */
export type JobStates<Result = string> = Readonly<Record<string, JobState<Result>>>;

/** What `useBatch` gives: the batch's own figures and each of its jobs. */
export interface BatchState<Result = string> {
  /** `null` until the batch's first event (or its resync) arrives. */
  readonly status: BatchEvent['status'] | null;
  readonly progress: number;
  /** The batch's jobs by status (all zero until the batch's first event). */
  readonly counts: BatchEvent['counts'];
  readonly jobs: JobStates<Result>;
  /** The watch's failure (`connection: 'failed'`); a job's own failure is in `jobs[id].error`. */
  readonly error: HeraldError | null;
  readonly connection: Connection;
  readonly lastEventId: string | null;
}

/** What `useJobs` gives: each job, on one stream. */
export interface JobsState<Result = string> {
  readonly jobs: JobStates<Result>;
  /** The watch's failure (`connection: 'failed'`); a job's own failure is in `jobs[id].error`. */
  readonly error: HeraldError | null;
  /** `ended` once every job of the list has ended. */
  readonly connection: Connection;
  readonly lastEventId: string | null;
}

/**
 * How a `done` event's string `result` becomes the hook's `result` (any other JSON value, an
 * object for instance, is the hook's `result` as it came, whatever `typed` says):
 * - absent or `false`: the string as it came;
 * - `true`: `JSON.parse` of it (for producers that publish JSON in a string, as before results
 *   could be any JSON), typed as the hook's `Result` (unchecked: say what you expect, or pass a
 *   function that checks);
 * - a function: its return (e.g. a zod schema's `parse` after `JSON.parse`).
 * A result it cannot parse (it throws) fails the watch: `connection: 'failed'`, `error` a
 * HeraldError `invalid_event` naming why. `partial` is always the text.
 */
export type Typed<Result> = boolean | ((result: string) => Result);

interface WatchSettings<Result> {
  /**
   * A watch token (the job's, or its batch's), sent as a bearer. Changing it reopens the stream
   * from where it stood (same cursor, nothing shown again).
   */
  readonly token?: string | undefined;
  /**
   * Gets a fresh watch token: passed to the client's watch, which calls it before connecting and
   * after a `401 token_expired`, then resumes from the same cursor. The latest function given is
   * the one called (a new function each render is fine).
   */
  readonly getToken?: (() => Promise<string>) | undefined;
  readonly typed?: Typed<Result> | undefined;
}

/**
 * Options with `typed: true`: the result is JSON's, `unknown` unless the hook is told its type
 * (`useJob<Report>(id, { baseUrl, typed: true })`).
 */
export type ParsedAsJson<Result> = HeraldHookOptions<Result> & { readonly typed: true };

/**
 * A hook's options: where Herald is (`baseUrl`, absolute or, in a browser, relative to the page;
 * the hook makes its own client, without an API key: a browser watches with watch tokens) or a client of your own (`createClient(...)`), and
 * how to watch. Only `baseUrl`, `client` and `token` reopen the stream when they change.
 */
export type HeraldHookOptions<Result = string> =
  | (WatchSettings<Result> & { readonly baseUrl: string; readonly client?: undefined })
  | (WatchSettings<Result> & { readonly client: HeraldClient; readonly baseUrl?: undefined });
