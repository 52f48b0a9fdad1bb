import { type JobList, type JobListItem, type JobStatus, isJobId } from '@herald/contract';
import { type EventReader, type RedisClient, keys } from '@herald/shared';

/**
 * The indexes GET /v1/jobs reads (docs/api.md, "GET /v1/jobs"): sorted sets of `<createdAt>:<jobId>`
 * (keys.jobIndex), one for every job, one per tag, and the same per API key. Written at
 * submission (after the job exists, so a listing never finds an entry before its job), read a
 * page at a time newest first; an entry whose job has expired is dropped when a listing passes
 * it, and any entry once its horizon (JOB_TTL_SECONDS + JOB_INDEX_GRACE_SECONDS after its job's submission) has
 * passed, so an index that nobody lists does not grow without end.
 */

/** A job as the indexes file it: who made it (null: auth off), its tags. */
export interface IndexedJob {
  readonly jobId: string;
  readonly owner: string | null;
  readonly tags: readonly string[];
}

export interface JobListRequest {
  /** Whose jobs: one API key's id, or null for every job (an admin key; auth off). */
  readonly owner: string | null;
  readonly tag?: string | undefined;
  readonly status?: JobStatus | undefined;
  readonly limit: number;
  /** A nextCursor this class gave, still encoded. */
  readonly cursor?: string | undefined;
}

/** Index entries one page examines at most: expired jobs and other statuses cost no more than this. */
export const LIST_SCAN_ENTRIES = 500;
/** Entries read from an index at once: one round trip for the index, one for their jobs' heads. */
const SCAN_CHUNK = 100;
/** Epoch ms as fixed-width digits: members sort by time as strings (every score is 0). */
const TIME_DIGITS = 15;
const MEMBER = /^(\d{15}):(.{1,40})$/;

const memberOf = (at: number, jobId: string): string => `${String(at).padStart(TIME_DIGITS, '0')}:${jobId}`;

/** The member a cursor names, or null when it is not one this class gave (then a 400). Linear. */
export function cursorMember(cursor: string): string | null {
  const member = Buffer.from(cursor, 'base64url').toString('latin1');
  const match = MEMBER.exec(member);
  return match && isJobId(match[2]!) && Buffer.from(member, 'latin1').toString('base64url') === cursor ? member : null;
}

export class JobIndex {
  readonly #redis: RedisClient;
  readonly #reader: EventReader;
  readonly #horizonMs: number;

  /**
   * `graceSeconds` (JOB_INDEX_GRACE_SECONDS): how long past `jobTtlSeconds` an entry may outlive
   * its job's submission. It bounds an index's memory (submissions in that time); a job still
   * running that long after it began leaves the listing.
   */
  constructor(redis: RedisClient, reader: EventReader, jobTtlSeconds: number, graceSeconds: number) {
    this.#redis = redis;
    this.#reader = reader;
    this.#horizonMs = (jobTtlSeconds + graceSeconds) * 1000;
  }

  /**
   * Files jobs just created at `at` (ms): one ZADD per index they enter (every job's, and each
   * tag's; the same under the owner's key), whatever their number — a batch of N jobs costs at
   * most 2 + 2 × its distinct tags commands — each with the trim of that index's entries past
   * their horizon and the index's own expiry, in one MULTI on its one slot.
   */
  async add(jobs: readonly IndexedJob[], at: number): Promise<void> {
    const byIndex = new Map<string, string[]>();
    const file = (owner: string | null, tag: string | null, member: string): void => {
      const key = keys.jobIndex(owner, tag);
      const members = byIndex.get(key);
      if (members) members.push(member);
      else byIndex.set(key, [member]);
    };
    for (const job of jobs) {
      const member = memberOf(at, job.jobId);
      for (const owner of job.owner === null ? [null] : [null, job.owner]) {
        file(owner, null, member);
        for (const tag of job.tags) file(owner, tag, member);
      }
    }
    const oldest = memberOf(Math.max(0, at - this.#horizonMs), '');
    await Promise.all(
      [...byIndex].map(async ([key, members]) => {
        const replies = await this.#redis
          .multi()
          .zadd(key, ...members.flatMap((member) => [0, member]))
          .zremrangebylex(key, '-', `(${oldest}`)
          .pexpire(key, this.#horizonMs)
          .exec();
        const failed = replies?.find(([error]) => error !== null)?.[0];
        if (failed) throw failed;
      }),
    );
  }

  /**
   * One page, newest first: at most `limit` jobs, examining at most LIST_SCAN_ENTRIES entries
   * (each a small HMGET of its job's head; only the jobs taken are read whole). A page cut short
   * by that bound still has a nextCursor, so a page may hold fewer jobs than `limit`, even none,
   * before the last; nextCursor is null once the index is read to its end. Entries of expired
   * jobs met on the way are removed.
   */
  async page(request: JobListRequest, cursorAt: string | null): Promise<JobList & { examined: number }> {
    const key = keys.jobIndex(request.owner, request.tag ?? null);
    let start = cursorAt === null ? '+' : `(${cursorAt}`;
    const taken: string[] = [];
    const gone: string[] = [];
    let examined = 0;
    let last: string | null = null;
    let more = true;
    while (taken.length < request.limit && examined < LIST_SCAN_ENTRIES) {
      const ask = Math.min(LIST_SCAN_ENTRIES - examined, Math.max(request.limit - taken.length + 1, SCAN_CHUNK));
      const members = (await this.#redis.zrange(key, start, '-', 'BYLEX', 'REV', 'LIMIT', 0, ask)) as string[];
      const heads = await Promise.all(members.map((member) => this.#reader.jobHead(member.slice(TIME_DIGITS + 1))));
      let i = 0;
      for (; i < members.length && taken.length < request.limit; i += 1) {
        examined += 1;
        last = members[i]!;
        const head = heads[i];
        if (!head) gone.push(last);
        else if (request.status === undefined || head.status === request.status) taken.push(last);
      }
      if (members.length < ask && i === members.length) {
        more = false;
        break;
      }
      start = `(${last}`;
    }
    const items = await Promise.all(taken.map((member) => this.#reader.listItem(member.slice(TIME_DIGITS + 1))));
    if (gone.length > 0) await this.#redis.zrem(key, ...gone);
    return {
      // A job that expired (or moved on) between its head and its read is left out.
      jobs: items.filter((item): item is JobListItem => item !== null && (request.status === undefined || item.status === request.status)),
      nextCursor: more && last !== null ? Buffer.from(last, 'latin1').toString('base64url') : null,
      examined,
    };
  }
}
