import { MAX_CREDENTIAL_CHARS, type StreamId, TAG_PATTERN } from '@herald/contract';
import { topics } from '@herald/shared';
import { badRequest } from '../http/errors.ts';
import type { StreamRequest } from './connection.ts';
import { readCursor, readCursors, readTagCursor } from './cursor.ts';
import type { EventsRequest } from './events-route.ts';

/**
 * What a GET of an event stream asks for, read from its URL and its Last-Event-ID, every 400
 * here: the first of docs/api.md's checks, before draining, the credential and the lookups.
 */
export interface StreamAsk {
  readonly kind: EventsRequest['kind'];
  /** The job or batch ids, as the client named them (one, or `?jobs=` in order). */
  readonly ids: readonly string[];
  /** The hub's topics, in the same order: a job's id, or `batch:<batchId>`. */
  readonly topics: readonly string[];
  /** `?token=`: none or one for a job's or batch's stream; up to one per job for `?jobs=` (auth/ checks those). */
  readonly tokens: readonly string[];
  /** One resume point per topic, or null when the client gave none. */
  readonly cursors: readonly StreamId[] | null;
  /** `?typed=1`: named events (docs/api.md, "Typed events"). */
  readonly typed: boolean;
  /** What the stream's log lines name: `jobId`, `batchId`, how many jobs, or `tag`. */
  readonly about: Readonly<Record<string, string | number>>;
  /** A tag's stream resumed: the open point its cursor carries (null: past it, or no cursor). */
  readonly openPoint: StreamId | null;
}

export function readStreamRequest(req: Pick<StreamRequest, 'headers'>, request: EventsRequest, maxJobs: number): StreamAsk {
  const { query } = request;
  const typed = readTyped(query);
  if (request.kind === 'jobs') {
    if (query.has('tag')) throw badRequest('tag and jobs are two streams: ask for one');
    const ids = readJobList(query, maxJobs);
    const cursors = readCursors(req, query, ids.length);
    return { kind: 'jobs', ids, topics: ids, tokens: query.getAll('token'), cursors, typed, about: { jobs: ids.length }, openPoint: null };
  }
  if (request.kind === 'tag') {
    const tag = readTag(query);
    const cursor = readTagCursor(req, query);
    const token = readToken(query);
    return {
      kind: 'tag',
      ids: [tag],
      topics: [topics.tag(tag)],
      tokens: token === null ? [] : [token],
      cursors: cursor && [cursor.position],
      typed,
      about: { tag },
      openPoint: cursor?.openPoint ?? null,
    };
  }
  const cursor = readCursor(req, query);
  const token = readToken(query);
  const { kind, id } = request;
  return {
    kind,
    ids: [id],
    topics: [kind === 'job' ? id : topics.batch(id)],
    tokens: token === null ? [] : [token],
    cursors: cursor && [cursor],
    typed,
    about: kind === 'job' ? { jobId: id } : { batchId: id },
    openPoint: null,
  };
}

/** `?token=`: what an EventSource, which cannot send headers, authenticates with. */
function readToken(query: URLSearchParams): string | null {
  const tokens = query.getAll('token');
  if (tokens.length > 1 || (tokens[0]?.length ?? 0) > MAX_CREDENTIAL_CHARS) throw badRequest('token must be a single watch token');
  return tokens[0] ?? null;
}

/** `?typed=1`: named events (docs/api.md, "Typed events"). */
function readTyped(query: URLSearchParams): boolean {
  const values = query.getAll('typed');
  if (values.length === 0) return false;
  if (values.length > 1 || !['1', 'true', '0', 'false'].includes(values[0]!)) throw badRequest('typed must be 1 or 0');
  return values[0] === '1' || values[0] === 'true';
}

/** `?tag=`: one tag (docs/api.md, "Tags"). */
function readTag(query: URLSearchParams): string {
  const tags = query.getAll('tag');
  if (tags.length !== 1 || !TAG_PATTERN.test(tags[0]!))
    throw badRequest('tag must be one tag: 1 to 64 of the characters A-Z a-z 0-9 : _ . -');
  return tags[0]!;
}

/** `?jobs=a,b,c`: 1 to MAX_JOBS_PER_STREAM job ids, each once. */
function readJobList(query: URLSearchParams, max: number): string[] {
  const raw = query.getAll('jobs').join(',');
  const jobIds = raw === '' ? [] : raw.split(',');
  if (jobIds.length === 0) throw badRequest('jobs must list the job ids to follow, comma-separated: /v1/events?jobs=a,b,c');
  if (jobIds.length > max) throw badRequest(`jobs may list at most ${max} jobs (MAX_JOBS_PER_STREAM)`);
  if (new Set(jobIds).size !== jobIds.length) throw badRequest('jobs must list each job once');
  return jobIds;
}
