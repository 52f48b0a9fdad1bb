import {
  batchEventSchema,
  batchSnapshotSchema,
  batchSubmittedSchema,
  foldMetadata,
  foldPartial,
  foldStreams,
  isTerminal,
  issuedWatchTokenSchema,
  jobCancelledSchema,
  jobEventSchema,
  jobListSchema,
  kindListSchema,
  type KindList,
  jobReadSchema,
  publishedSchema,
  submittedSchema,
  type BatchEvent,
  type BatchRequest,
  type BatchSnapshot,
  type IssuedWatchToken,
  type JobCancelled,
  type JobEvent,
  type JobList,
  type JobRead,
  type JobStatus,
  type ProducerEvent,
  type SubmitRequest,
} from '@herald/contract';
import type { z } from 'zod';
import { HeraldError, errorOf, issuesOf, networkReason } from './errors.ts';
import { resumingStream, type Frame, type ResumeOptions } from './event-stream.ts';

export interface ClientOptions {
  /** Where Herald answers, e.g. `https://herald.example.com` (a path prefix is kept). */
  readonly baseUrl: string;
  /** An API key (auth on): sent as a bearer to submit, cancel and read. */
  readonly apiKey?: string | undefined;
  /** The platform's fetch by default (browsers, Node ≥ 20). */
  readonly fetch?: typeof fetch | undefined;
}

export interface WatchOptions extends ResumeOptions {
  /**
   * A watch token (a job's, or its batch's, which covers each of its jobs; for `watchTag`, a
   * watch JWT listing the tag) instead of the API key. Sent as a bearer, like the key: it stays out of URLs, so out of proxies' access logs.
   */
  readonly token?: string | undefined;
  /**
   * Where a fresh watch token comes from, for a watch that may outlive its token (it wins over
   * `token` and the API key): called before the first connection and again after a
   * `401 token_expired`, then the watch resumes from the same cursor, nothing lost or repeated.
   * Typically your backend, which asks Herald with its API key (`watchToken(jobId)`). What it
   * throws ends the watch as it is, and so does an abort while it has not answered. A token
   * refused before it opened any stream counts as a failed attempt (`maxRetries`), and handing
   * back the very token just refused ends the watch at once: either way with Herald's
   * `token_expired` HeraldError.
   */
  readonly getToken?: (() => Promise<string>) | undefined;
}

/** One event of a job as `watch` yields it, with the job's text so far folded from its deltas. */
export interface WatchedEvent {
  /** The cursor after this event (for several jobs: the composite one). */
  readonly id: string;
  readonly event: JobEvent;
  /**
   * The answer text as written so far: every `delta` folded (a resync's `partial` replaces it).
   * A `done` event leaves it as it is, whatever its `result` (any JSON value: `event.result`).
   * A resync after the job's end, when the text is no longer kept, gives its result when that
   * is a string (the summary, for instance), and '' otherwise.
   */
  readonly partial: string;
  /**
   * The job's metadata so far: every event's patch merged in (RFC 7396), from the job's first
   * event, whose patch is the metadata it was created with (a resync's `metadata` replaces it).
   */
  readonly metadata: Readonly<Record<string, unknown>>;
  /** The job's named streams so far, name → text, each folded from its deltas (a resync's `streams` replace them). */
  readonly streams: Readonly<Record<string, string>>;
  /** The stream could not serve the cursor it was given: `event` is the job's whole state. */
  readonly resync: boolean;
}

const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

/** One event of a batch's stream: a job's (with its text so far), or the batch's own. */
export type WatchedBatchEvent =
  | (WatchedEvent & { readonly kind: 'job' })
  | {
      readonly kind: 'batch';
      readonly id: string;
      readonly event: BatchEvent | (BatchSnapshot & { resync: true });
      readonly resync: boolean;
    };

/**
 * One item of a tag's stream: a job's event with that job's state folded so far (`created`: its
 * first event, its fold started afresh), or a resync notice (events may have been missed there).
 */
export type WatchedTagEvent =
  | (WatchedEvent & { readonly kind: 'job'; readonly jobId: string; readonly created: boolean })
  | {
      readonly kind: 'resync';
      /** The cursor after the notice. */
      readonly id: string;
      readonly tag: string;
      readonly ts: number;
    };

/** A job as submitted: its id, where it stands, its tokens and links. */
export type Submitted = z.infer<typeof submittedSchema>;
export type BatchSubmitted = z.infer<typeof batchSubmittedSchema>;

/**
 * Herald's API from a browser or Node ≥ 20 (docs/api.md). Every method throws a HeraldError for
 * what Herald refuses; the watch methods resume by themselves across dropped connections and
 * end with their stream.
 */
export function createClient(options: ClientOptions) {
  const doFetch = options.fetch ?? globalThis.fetch.bind(globalThis);
  const base = new URL(options.baseUrl);
  // The base's path without trailing slashes, trimmed by index (`/\/+$/` is quadratic in V8).
  let baseEnd = base.pathname.length;
  while (baseEnd > 0 && base.pathname.charCodeAt(baseEnd - 1) === 0x2f) baseEnd -= 1;
  const basePath = base.pathname.slice(0, baseEnd);
  const url = (path: string, query: Record<string, string | undefined> = {}): string => {
    const target = new URL(base);
    target.pathname = basePath + path;
    for (const [name, value] of Object.entries(query)) if (value !== undefined) target.searchParams.set(name, value);
    return target.toString();
  };
  const bearer = (credential: string | undefined): Record<string, string> => (credential ? { Authorization: `Bearer ${credential}` } : {});
  const id = (value: string): string => encodeURIComponent(value);

  /** One JSON request; `token`: a watch token instead of the API key (a bearer either way). */
  async function call<T>(
    schema: z.ZodType<T>,
    method: string,
    path: string,
    init: {
      body?: unknown;
      headers?: Record<string, string>;
      token?: string | undefined;
      query?: Record<string, string | undefined>;
    } = {},
  ): Promise<T> {
    let response: Response;
    try {
      response = await doFetch(url(path, init.query), {
        method,
        headers: {
          Accept: 'application/json',
          ...bearer(init.token ?? options.apiKey),
          ...(init.body === undefined ? {} : { 'Content-Type': 'application/json' }),
          ...init.headers,
        },
        ...(init.body === undefined ? {} : { body: JSON.stringify(init.body) }),
      });
    } catch (error) {
      throw new HeraldError(0, 'unreachable', `cannot reach ${base.origin}: ${networkReason(error)}`);
    }
    if (!response.ok) throw await errorOf(response);
    const parsed = schema.safeParse(await response.json());
    if (!parsed.success)
      throw new HeraldError(
        response.status,
        'invalid_response',
        `Herald answered what this client does not know: ${issuesOf(parsed.error)}`,
      );
    return parsed.data;
  }

  /**
   * The stream's frames, typed, with each job's text folded as it goes. `lastOf` is asked after
   * each frame has been handled (the jobs ended so far include its own).
   */
  async function* jobEvents(
    path: string,
    watch: WatchOptions,
    query: Record<string, string | undefined>,
    lastOf: (frame: Frame, seen: Set<string>) => boolean,
    /**
     * For a stream no list of jobs bounds (a tag's): a job's fold is dropped at its terminal
     * event and started afresh at its `created` one, so memory holds only the jobs under way;
     * `lastOf` then sees no ended jobs.
     */
    foldsEndWithJob = false,
  ): AsyncGenerator<{ frame: Frame; watched: WatchedEvent | null }> {
    const partials = new Map<string, string>();
    const metadatas = new Map<string, Record<string, unknown>>();
    const named = new Map<string, Readonly<Record<string, string>>>();
    const ended = new Set<string>();
    const stream = resumingStream(
      {
        url: url(path, { ...query, typed: '1' }),
        headers: bearer(watch.token ?? options.apiKey),
        getToken: watch.getToken,
        fetch: doFetch,
        isLast: (frame) => lastOf(frame, ended),
      },
      watch,
    );
    for await (const frame of stream) {
      const data = frame.data as Record<string, unknown>;
      if (typeof data.jobId !== 'string') {
        // A tag's resync notice: events may be missing from any job's fold, so none is kept.
        if (foldsEndWithJob && frame.name === 'resync') {
          partials.clear();
          metadatas.clear();
          named.clear();
        }
        yield { frame, watched: null };
        continue;
      }
      const resync = frame.name === 'resync' || data.resync === true;
      const {
        resync: _flag,
        partial: statePartial,
        createdAt: _c,
        updatedAt: _u,
        lastEventId: _l,
        kind: _k,
        title: _t,
        metadata: stateMetadata,
        streams: stateStreams,
        tags: _tags,
        webhook: _w,
        ...rest
      } = data;
      const parsed = jobEventSchema.safeParse(resync ? { ts: Date.now(), ...rest } : data);
      if (!parsed.success) throw new HeraldError(0, 'invalid_event', `the server sent an invalid event: ${issuesOf(parsed.error)}`);
      const event = parsed.data;
      if (foldsEndWithJob && frame.name === 'created') forget(event.jobId);
      const partial = resync
        ? typeof statePartial === 'string'
          ? statePartial
          : typeof event.result === 'string'
            ? event.result
            : ''
        : foldPartial(partials.get(event.jobId) ?? '', event);
      partials.set(event.jobId, partial);
      // A resync carries the merged metadata and every stream's text as they stand: they replace what was folded.
      const metadata = resync ? (isRecord(stateMetadata) ? stateMetadata : {}) : foldMetadata(metadatas.get(event.jobId) ?? {}, event);
      metadatas.set(event.jobId, metadata);
      const streams = resync
        ? isRecord(stateStreams)
          ? (stateStreams as Record<string, string>)
          : {}
        : foldStreams(named.get(event.jobId) ?? {}, event);
      named.set(event.jobId, streams);
      if (isTerminal(event.status)) {
        if (foldsEndWithJob) forget(event.jobId);
        else ended.add(event.jobId);
      }
      yield { frame, watched: { id: frame.id, event, partial, metadata, streams, resync } };
    }
    function forget(jobId: string): void {
      partials.delete(jobId);
      metadatas.delete(jobId);
      named.delete(jobId);
    }
  }

  return {
    /** POST /v1/jobs. An `idempotencyKey` makes a retry safe: it gets the same job back. */
    submit(
      body: SubmitRequest | { text: string; options?: { maxSentences?: number } },
      init: { idempotencyKey?: string } = {},
    ): Promise<Submitted> {
      const request = 'kind' in body ? body : { kind: 'summarize' as const, ...body };
      return call(submittedSchema, 'POST', '/v1/jobs', {
        body: request,
        headers: init.idempotencyKey ? { 'Idempotency-Key': init.idempotencyKey } : {},
      });
    },
    /**
     * GET /v1/jobs/{id}: the job's latest state (with a watch token instead of the API key, when
     * given). Read with an API key on a server with auth on, it carries a fresh `watchToken`.
     */
    job(jobId: string, init: { token?: string } = {}): Promise<JobRead> {
      return call(jobReadSchema, 'GET', `/v1/jobs/${id(jobId)}`, { token: init.token });
    },
    /**
     * GET /v1/jobs: one page of the caller's jobs (an admin key's: everyone's), newest first,
     * filtered by a tag and a status; pass a page's `nextCursor` as `cursor` for the next one
     * (null: that was the last). A page may hold fewer than `limit` jobs and still not be the last.
     */
    jobs(query: { tag?: string; status?: JobStatus; limit?: number; cursor?: string | null } = {}): Promise<JobList> {
      return call(jobListSchema, 'GET', '/v1/jobs', {
        query: {
          tag: query.tag,
          status: query.status,
          limit: query.limit === undefined ? undefined : String(query.limit),
          cursor: query.cursor ?? undefined,
        },
      }) as Promise<JobList>;
    },
    /** GET /v1/kinds: the kinds a job may be (docs/api.md, "Kinds"), each registered one with its input's JSON Schema. */
    kinds(): Promise<KindList> {
      return call(kindListSchema, 'GET', '/v1/kinds') as Promise<KindList>;
    },
    /**
     * POST /v1/jobs/{id}/watch-tokens (with the API key): a fresh watch token for the job and its
     * `expiresAt` (epoch ms), without reading the snapshot. What a backend's `getToken` calls.
     */
    watchToken(jobId: string): Promise<IssuedWatchToken> {
      return call(issuedWatchTokenSchema, 'POST', `/v1/jobs/${id(jobId)}/watch-tokens`);
    },
    /** DELETE /v1/jobs/{id}: the job as the cancel left it (its `cancelled` event follows on the stream). */
    cancel(jobId: string): Promise<JobCancelled> {
      return call(jobCancelledSchema, 'DELETE', `/v1/jobs/${id(jobId)}`);
    },
    /** POST /v1/jobs/{id}/events: an external job's producer publishes (with its publish token, or the API key). */
    publish(
      jobId: string,
      event: ProducerEvent | Omit<ProducerEvent, 'message'>,
      init: { publishToken?: string; idempotencyKey?: string } = {},
    ): Promise<{ eventId: string }> {
      return call(publishedSchema, 'POST', `/v1/jobs/${id(jobId)}/events`, {
        body: event,
        headers: {
          ...bearer(init.publishToken ?? options.apiKey),
          ...(init.idempotencyKey ? { 'Idempotency-Key': init.idempotencyKey } : {}),
        },
      });
    },
    /**
     * The job's events, in order, each once, across dropped connections and replicas, ending
     * after its terminal event (or at once when `lastEventId` is already there).
     */
    async *watch(jobId: string, watch: WatchOptions = {}): AsyncGenerator<WatchedEvent, void, undefined> {
      // The terminal event ends the stream (a resync of an ended job is its last word too).
      for await (const { watched } of jobEvents(`/v1/jobs/${id(jobId)}/events`, watch, {}, (_frame, ended) => ended.size > 0)) {
        if (watched && watched.event.jobId !== jobId)
          throw new HeraldError(0, 'invalid_event', `the server sent an invalid event: it belongs to job ${watched.event.jobId}`);
        if (watched) yield watched;
      }
    },
    /** Several jobs on one connection (GET /v1/events?jobs=…), each in order; ends when every one has ended. */
    async *watchJobs(jobIds: readonly string[], watch: WatchOptions = {}): AsyncGenerator<WatchedEvent, void, undefined> {
      const all = new Set(jobIds).size;
      for await (const { watched } of jobEvents('/v1/events', watch, { jobs: jobIds.join(',') }, (_frame, ended) => ended.size >= all)) {
        if (watched) yield watched;
      }
    },
    /**
     * A tag's stream (GET /v1/events?tag=…): every event of every job with this tag that the
     * caller may see, the jobs under way when it opens (each from its first event) and every one
     * created after. It never ends by itself: stop it with `signal` (or by leaving the loop). It
     * resumes across drops and replicas as the other watches do, jobs created meanwhile included.
     * Each job's text, metadata and streams are folded while it runs and forgotten at its end,
     * so memory holds only the jobs under way however many pass. A `resync` item says the
     * server could no longer serve the cursor: events may have been missed, so every job's fold
     * is dropped (each starts again from nothing; read the jobs' snapshots for their state), then
     * it goes on.
     */
    async *watchTag(tag: string, watch: WatchOptions = {}): AsyncGenerator<WatchedTagEvent, void, undefined> {
      for await (const { frame, watched } of jobEvents('/v1/events', watch, { tag }, () => false, true)) {
        if (watched) {
          yield { kind: 'job', jobId: watched.event.jobId, created: frame.name === 'created', ...watched };
          continue;
        }
        const data = frame.data;
        if (!(isRecord(data) && data.resync === true && data.tag === tag))
          throw new HeraldError(0, 'invalid_event', 'the server sent an invalid event: neither a job’s nor a resync of this tag');
        yield { kind: 'resync', id: frame.id, tag, ts: typeof data.ts === 'number' ? data.ts : Date.now() };
      }
    },
    /** POST /v1/batches. */
    submitBatch(body: BatchRequest, init: { idempotencyKey?: string } = {}): Promise<BatchSubmitted> {
      return call(batchSubmittedSchema, 'POST', '/v1/batches', {
        body,
        headers: init.idempotencyKey ? { 'Idempotency-Key': init.idempotencyKey } : {},
      });
    },
    /** GET /v1/batches/{id}. */
    batch(batchId: string, init: { token?: string } = {}): Promise<BatchSnapshot> {
      return call(batchSnapshotSchema, 'GET', `/v1/batches/${id(batchId)}`, { token: init.token }) as Promise<BatchSnapshot>;
    },
    /** POST /v1/batches/{id}/watch-tokens (with the API key): a fresh token for the batch and each of its jobs. */
    batchWatchToken(batchId: string): Promise<IssuedWatchToken> {
      return call(issuedWatchTokenSchema, 'POST', `/v1/batches/${id(batchId)}/watch-tokens`);
    },
    /** DELETE /v1/batches/{id}: cancels every job of the batch that has not ended. */
    cancelBatch(batchId: string): Promise<BatchSnapshot> {
      return call(batchSnapshotSchema, 'DELETE', `/v1/batches/${id(batchId)}`) as Promise<BatchSnapshot>;
    },
    /** The batch's stream: every job's events and the batch's own, ending after the batch's end. */
    async *watchBatch(batchId: string, watch: WatchOptions = {}): AsyncGenerator<WatchedBatchEvent, void, undefined> {
      const batchEnds = (frame: Frame): boolean => {
        const data = frame.data as { jobId?: unknown; status?: unknown };
        return data.jobId === undefined && (data.status === 'done' || data.status === 'cancelled');
      };
      for await (const { frame, watched } of jobEvents(`/v1/batches/${id(batchId)}/events`, watch, {}, batchEnds)) {
        if (watched) {
          yield { kind: 'job', ...watched };
          continue;
        }
        const resync = frame.name === 'resync';
        const parsed = (resync ? batchSnapshotSchema : batchEventSchema).safeParse(resync ? stripResync(frame.data) : frame.data);
        if (!parsed.success) throw new HeraldError(0, 'invalid_event', `the server sent an invalid batch event: ${issuesOf(parsed.error)}`);
        const event = (resync ? { ...parsed.data, resync: true } : parsed.data) as BatchEvent | (BatchSnapshot & { resync: true });
        yield { kind: 'batch', id: frame.id, event, resync };
      }
    },
  };
}

/** A resync's state without the fields the snapshot schema does not have. */
function stripResync(data: unknown): unknown {
  const { resync: _resync, ts: _ts, ...rest } = data as Record<string, unknown>;
  return rest;
}

export type HeraldClient = ReturnType<typeof createClient>;
