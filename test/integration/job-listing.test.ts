import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keys, type RedisClient } from '@herald/shared';
import { expectError } from '../support/assertions.ts';
import { request } from '../support/http.ts';
import { SseClient } from '../support/sse-client.ts';
import { connectTestRedis } from '../support/redis-target.ts';
import { startSystem, type TestSystem } from '../support/system.ts';
import { BEES } from '../support/texts.ts';

// Tags on jobs and batches, and GET /v1/jobs: the caller's jobs, newest first, a page at a time
// (docs/api.md, "Tags" and "GET /v1/jobs"). Other files share this Redis and submit jobs of their
// own at the same time: every listing here is of this run's own keys or its own random tags.

const run = randomBytes(4).toString('hex');
const KEY = `key-list-${run}-alpha-0123456789`;
const OTHER_KEY = `key-list-${run}-bravo-0123456789`;
const ADMIN_KEY = `key-list-${run}-admin-0123456789`;
const SECRET = 'a-watch-token-secret-of-forty-characters!';
const bearer = (credential: string) => ({ Authorization: `Bearer ${credential}` });
const uniqueTag = (name: string) => `${name}:${run}:${randomBytes(3).toString('hex')}`;

interface Listed {
  readonly jobId: string;
  readonly status: string;
  readonly tags?: string[];
  readonly createdAt: number;
  readonly partial?: string;
}

/** Every page of a listing, following nextCursor to its end. */
async function listAll(base: string, query: string, headers: Record<string, string> = {}) {
  const pages: Listed[][] = [];
  let cursor: string | null = null;
  do {
    const url = `${base}/v1/jobs?${query}${cursor === null ? '' : `&cursor=${cursor}`}`;
    const answer = await request(url, { headers });
    expect(answer.status, JSON.stringify(answer.body)).toBe(200);
    pages.push(answer.body.jobs);
    cursor = answer.body.nextCursor;
    expect(pages.length).toBeLessThan(50);
  } while (cursor !== null);
  return pages;
}

const external = async (base: string, body: Record<string, unknown>, headers: Record<string, string> = {}) => {
  const created = await request(`${base}/v1/jobs`, { json: { kind: 'external', ...body }, headers });
  expect(created.status, JSON.stringify(created.body)).toBe(202);
  return created.body as { jobId: string; publishToken: string };
};

describe('tags and GET /v1/jobs, with API keys', () => {
  let system: TestSystem;
  let a: string;
  let b: string;
  /** The 25 jobs KEY made, in the order made. */
  const made: { jobId: string; odd: boolean; done: boolean }[] = [];
  const runTag = uniqueTag('run');
  beforeAll(async () => {
    system = await startSystem({
      env: { API_KEYS: `${KEY}, ${OTHER_KEY}`, ADMIN_API_KEYS: ADMIN_KEY, WATCH_TOKEN_SECRET: SECRET },
    });
    [a, b] = system.apis.map((api) => api.url) as [string, string];
    for (let i = 0; i < 25; i += 1) {
      const odd = i % 2 === 1;
      const { jobId, publishToken } = await external(a, { tags: odd ? [runTag, 'odd'] : [runTag] }, bearer(KEY));
      const done = i % 5 === 0;
      if (done) {
        const ended = await request(`${a}/v1/jobs/${jobId}/events`, {
          json: { status: 'done', result: 'ok' },
          headers: bearer(publishToken),
        });
        expect(ended.status).toBe(201);
      }
      made.push({ jobId, odd, done });
      await sleep(2); // a distinct millisecond each: newest first is then one order
    }
  });
  afterAll(() => system.close());

  it('pages through 25 jobs 10 at a time, newest first, with neither repeat nor gap, from either replica', async () => {
    const pages = await listAll(a, 'limit=10', bearer(KEY));
    expect(pages.map((page) => page.length)).toEqual([10, 10, 5]);
    const ids = pages.flat().map((job) => job.jobId);
    expect(ids).toEqual(made.map((job) => job.jobId).reverse());
    const times = pages.flat().map((job) => job.createdAt);
    expect(times).toEqual([...times].sort((x, y) => y - x));
    // Each item is the snapshot less the text being written, tags included.
    const first = pages[0]![0]!;
    expect(first).not.toHaveProperty('partial');
    expect(first.tags).toEqual([runTag]);
    const snapshot = await request(`${b}/v1/jobs/${first.jobId}`, { headers: bearer(KEY) });
    const { watchToken: _token, ...asRead } = snapshot.body;
    expect(first).toEqual(asRead);
    // A cursor works on any replica: it names a place in the index, not a replica's state.
    const onA = await request(`${a}/v1/jobs?limit=10`, { headers: bearer(KEY) });
    const onB = await request(`${b}/v1/jobs?limit=10&cursor=${onA.body.nextCursor}`, { headers: bearer(KEY) });
    expect(onB.body.jobs.map((job: Listed) => job.jobId)).toEqual(ids.slice(10, 20));
    // The default page is 20.
    expect((await request(`${b}/v1/jobs`, { headers: bearer(KEY) })).body.jobs).toHaveLength(20);
  });

  it('filters by tag and by status, alone and together', async () => {
    const newestFirst = (keep: (job: (typeof made)[number]) => boolean) =>
      made
        .filter(keep)
        .map((job) => job.jobId)
        .reverse();
    const odd = (await listAll(a, 'tag=odd&limit=5', bearer(KEY))).flat();
    expect(odd.map((job) => job.jobId)).toEqual(newestFirst((job) => job.odd));
    expect(odd.every((job) => job.tags?.includes('odd'))).toBe(true);
    const done = (await listAll(a, 'status=done&limit=3', bearer(KEY))).flat();
    expect(done.map((job) => job.jobId)).toEqual(newestFirst((job) => job.done));
    const queuedOdd = (await listAll(b, 'status=queued&tag=odd', bearer(KEY))).flat();
    expect(queuedOdd.map((job) => job.jobId)).toEqual(newestFirst((job) => job.odd && !job.done));
    expect((await listAll(a, 'status=error', bearer(KEY))).flat()).toEqual([]);
    expect((await listAll(a, `tag=${uniqueTag('none')}`, bearer(KEY))).flat()).toEqual([]);
  });

  it('shows another key none of them, an admin all of them, and a caller without a key nothing (401)', async () => {
    await external(a, { tags: [runTag] }, bearer(OTHER_KEY));
    const others = (await listAll(a, `tag=${runTag}`, bearer(OTHER_KEY))).flat();
    expect(others).toHaveLength(1);
    expect(others.some((job) => made.some((mine) => mine.jobId === job.jobId))).toBe(false);
    const mine = (await listAll(a, `tag=${runTag}`, bearer(KEY))).flat();
    expect(mine).toHaveLength(25);
    const all = (await listAll(b, `tag=${runTag}&limit=100`, bearer(ADMIN_KEY))).flat();
    expect(all.map((job) => job.jobId)).toEqual([others[0]!.jobId, ...mine.map((job) => job.jobId)]);
    expectError(await request(`${a}/v1/jobs`), 401, 'unauthorized');
    expectError(await request(`${a}/v1/jobs`, { headers: bearer('key-nobody-0123456789') }), 401, 'unauthorized');
    // A watch token watches one job; it lists nothing.
    const { watchToken } = (await request(`${a}/v1/jobs/${made[0]!.jobId}`, { headers: bearer(KEY) })).body;
    expectError(await request(`${a}/v1/jobs`, { headers: bearer(watchToken) }), 401, 'unauthorized');
  });

  it('refuses a bad query with 400 invalid_request', async () => {
    const refused = async (query: string, path: string) => {
      const answer = await request(`${a}/v1/jobs?${query}`, { headers: bearer(KEY) });
      expectError(answer, 400, 'invalid_request');
      expect(answer.body.error.details?.[0]?.path, JSON.stringify(answer.body)).toBe(path);
    };
    await refused('limit=101', 'limit');
    await refused('limit=0', 'limit');
    await refused('limit=ten', 'limit');
    await refused('limit=1e2', 'limit');
    await refused('status=running', 'status');
    await refused('status=done&status=error', 'status');
    await refused('tag=a%20b', 'tag');
    await refused(`tag=${'t'.repeat(65)}`, 'tag');
    await refused('cursor=bm90LWEtY3Vyc29y', 'cursor'); // base64url of "not-a-cursor"
    await refused('cursor=***', 'cursor');
    await refused(`cursor=${'A'.repeat(129)}`, 'cursor');
    await refused('jobs=x', '');
  });
});

describe('tags on submission', () => {
  let system: TestSystem;
  let api: string;
  beforeAll(async () => {
    system = await startSystem({ replicas: 1 });
    api = system.apis[0]!.url;
  });
  afterAll(() => system.close());

  const refusedAt = async (body: unknown, path: string, message: RegExp, route = '/v1/jobs') => {
    const answer = await request(`${api}${route}`, { json: body });
    expectError(answer, 400, 'invalid_request');
    const detail = (answer.body.error.details as { path: string; message: string }[]).find((d) => d.path === path);
    expect(detail?.message, JSON.stringify(answer.body)).toMatch(message);
  };

  it('takes at most 10 tags of [A-Za-z0-9:_.-]{1,64}, none twice, on either kind; the snapshot carries them', async () => {
    const ten = Array.from({ length: 10 }, (_, i) => `t${i}`);
    await refusedAt({ text: BEES, tags: [...ten, 't10'] }, 'tags', /at most 10 tags/);
    await refusedAt({ kind: 'external', tags: [...ten, 't10'] }, 'tags', /at most 10 tags/);
    await refusedAt({ text: BEES, tags: ['user 1'] }, 'tags.0', /A-Z a-z 0-9 : _ \. -/);
    await refusedAt({ text: BEES, tags: ['ok', 'user/1'] }, 'tags.1', /A-Z a-z 0-9 : _ \. -/);
    await refusedAt({ text: BEES, tags: [''] }, 'tags.0', /A-Z a-z 0-9/);
    await refusedAt({ text: BEES, tags: ['x'.repeat(65)] }, 'tags.0', /at most 64/);
    await refusedAt({ text: BEES, tags: ['{slot}'] }, 'tags.0', /A-Z a-z 0-9/);
    await refusedAt({ text: BEES, tags: ['a', 'b', 'a'] }, 'tags', /must not repeat/);
    await refusedAt({ text: BEES, tags: 'user:1' }, 'tags', /array/);

    const tags = ['user:123', 'A-Z_a.z:09', 'x'.repeat(64), ...ten.slice(3)];
    const created = await request(`${api}/v1/jobs`, { json: { text: BEES, tags } });
    expect(created.status).toBe(202);
    expect((await request(`${api}/v1/jobs/${created.body.jobId}`)).body.tags).toEqual(tags);
    const ext = await external(api, { title: 'tagged', tags: ['user:123'] });
    expect((await request(`${api}/v1/jobs/${ext.jobId}`)).body.tags).toEqual(['user:123']);
    // A resync (here for a cursor from the future) is the snapshot as an event: the tags too.
    const resynced = SseClient.open(`${api}/v1/jobs/${ext.jobId}/events`, { 'Last-Event-ID': '9999999999999-0' });
    await resynced.waitFor((client) => client.events.length === 1);
    expect(resynced.events[0]!.json).toMatchObject({ resync: true, tags: ['user:123'] });
    resynced.close();
    // No tags: no field, as before.
    const plain = await request(`${api}/v1/jobs`, { json: { text: BEES } });
    expect(await request(`${api}/v1/jobs/${plain.body.jobId}`).then((r) => r.body)).not.toHaveProperty('tags');
  });

  it("gives a batch's jobs the batch's tags and then their item's, at most 10 together", async () => {
    const nine = Array.from({ length: 9 }, (_, i) => `b${i}`);
    const batch = '/v1/batches';
    await refusedAt({ items: [{ text: BEES }], tags: ['bad tag'] }, 'tags.0', /A-Z a-z/, batch);
    await refusedAt({ items: [{ text: BEES }, { text: BEES, tags: ['ok', 'no way'] }] }, 'items.1.tags.1', /A-Z a-z/, batch);
    await refusedAt({ items: [{ text: BEES, tags: ['c', 'c'] }] }, 'items.0.tags', /must not repeat/, batch);
    await refusedAt(
      {
        items: [
          { text: BEES, tags: ['x'] },
          { text: BEES, tags: ['y', 'z'] },
        ],
        tags: nine,
      },
      'items.1.tags',
      /together must be at most 10/,
      batch,
    );
    // A tag in both counts once: 9 + {b0, x} is 10.
    const created = await request(`${api}${batch}`, {
      json: { items: [{ text: BEES }, { text: BEES, tags: ['b0', 'x'] }, { text: BEES, tags: ['solo'] }], tags: nine },
    });
    expect(created.status, JSON.stringify(created.body)).toBe(202);
    const [first, second, third] = created.body.jobIds as string[];
    expect((await request(`${api}/v1/jobs/${first}`)).body.tags).toEqual(nine);
    expect((await request(`${api}/v1/jobs/${second}`)).body.tags).toEqual([...nine, 'x']);
    expect((await request(`${api}/v1/jobs/${third}`)).body.tags).toEqual([...nine, 'solo']);
    expect((await request(`${api}/v1/batches/${created.body.batchId}`)).body.tags).toEqual(nine);
    // Listed by a tag only one item has; and a batch's jobs share one createdAt, yet each comes once.
    const soloTag = uniqueTag('solo');
    const other = await request(`${api}${batch}`, {
      json: {
        items: Array.from({ length: 7 }, (_, i) => ({ text: BEES, ...(i === 3 ? { tags: [soloTag] } : {}) })),
        tags: [`${soloTag}-all`],
      },
    });
    expect((await listAll(api, `tag=${soloTag}`)).flat().map((job) => job.jobId)).toEqual([other.body.jobIds[3]]);
    const everyOne = (await listAll(api, `tag=${soloTag}-all&limit=2`)).flat().map((job) => job.jobId);
    expect([...everyOne].sort()).toEqual([...other.body.jobIds].sort());
  });
});

/** JOB_INDEX_GRACE_SECONDS for the expiry tests: not the default (7 days), so the setting is what is seen. */
const GRACE_SECONDS = 2 * 86_400;

describe('GET /v1/jobs with auth off, and jobs that expire', () => {
  let system: TestSystem;
  let api: string;
  let redis: RedisClient;
  beforeAll(async () => {
    system = await startSystem({ replicas: 1, env: { JOB_TTL_SECONDS: '1', JOB_INDEX_GRACE_SECONDS: String(GRACE_SECONDS) } });
    api = system.apis[0]!.url;
    redis = connectTestRedis();
  });
  afterAll(async () => {
    redis.disconnect();
    await system.close();
  });

  it('is open to anyone, as every read is, and lists a job until its TTL ends it', async () => {
    const tag = uniqueTag('open');
    const ended = await external(api, { tags: [tag] });
    const running = await external(api, { tags: [tag] });
    expect((await listAll(api, `tag=${tag}`)).flat().map((job) => job.jobId)).toEqual([running.jobId, ended.jobId]);
    const done = await request(`${api}/v1/jobs/${ended.jobId}/events`, { json: { status: 'done' }, headers: bearer(ended.publishToken) });
    expect(done.status).toBe(201);
    // Still listed while its TTL (1 s) runs, ended.
    expect((await listAll(api, `tag=${tag}&status=done`)).flat().map((job) => job.jobId)).toEqual([ended.jobId]);
    const gone = async () => (await request(`${api}/v1/jobs/${ended.jobId}`)).status === 404;
    for (let waited = 0; !(await gone()); waited += 100) {
      expect(waited).toBeLessThan(10_000);
      await sleep(100);
    }
    expect((await listAll(api, `tag=${tag}`)).flat().map((job) => job.jobId)).toEqual([running.jobId]);
    // The listing that met the expired job's entry removed it.
    expect(await redis.zcard(keys.jobIndex(null, tag))).toBe(1);
  });

  it('trims an index of entries past their horizon at each submission into it, and lets the index expire', async () => {
    const tag = uniqueTag('horizon');
    const index = keys.jobIndex(null, tag);
    // JOB_TTL_SECONDS (1 s) + JOB_INDEX_GRACE_SECONDS (2 days here) after its submission, an entry goes, listed or not.
    const old = `${String(Date.now() - GRACE_SECONDS * 1000 - 5_000).padStart(15, '0')}:AAAAAAAAAAAAAAAAAAAAAA`;
    const recent = `${String(Date.now() - GRACE_SECONDS * 1000 + 60_000).padStart(15, '0')}:BBBBBBBBBBBBBBBBBBBBBB`;
    await redis.zadd(index, 0, old, 0, recent);
    const { jobId } = await external(api, { tags: [tag] });
    expect(await redis.zrange(index, '0', '-1')).toEqual([recent, expect.stringMatching(new RegExp(`:${jobId}$`))]);
    const ttl = await redis.pttl(index);
    expect(ttl).toBeGreaterThan(GRACE_SECONDS * 1000);
    expect(ttl).toBeLessThanOrEqual((GRACE_SECONDS + 1) * 1000);
  });

  it('examines at most 500 entries a page: past many expired ones, a page may be short and still go on', async () => {
    const tag = uniqueTag('cap');
    const live = [await external(api, { tags: [tag] }), await external(api, { tags: [tag] })];
    // 700 entries older than the live jobs whose jobs are gone (as expired ones are), between and after them.
    const index = keys.jobIndex(null, tag);
    const dead = Array.from(
      { length: 700 },
      (_, i) => `${String(1_000_000 + i).padStart(15, '0')}:${randomBytes(16).toString('base64url').replace(/^-/, 'A')}`,
    );
    await redis.zadd(index, ...dead.flatMap((member) => [0, member]));
    const first = await request(`${api}/v1/jobs?tag=${tag}&limit=10`);
    expect(first.body.jobs.map((job: Listed) => job.jobId)).toEqual(live.map((job) => job.jobId).reverse());
    expect(first.body.nextCursor).not.toBeNull(); // 2 live + 498 dead examined: the cap, not the end
    const second = await request(`${api}/v1/jobs?tag=${tag}&limit=10&cursor=${first.body.nextCursor}`);
    expect(second.body).toEqual({ jobs: [], nextCursor: null }); // the 202 others, then the end
    expect(await redis.zcard(index)).toBe(2);
  });
});
