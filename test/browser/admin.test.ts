import { Queue } from 'bullmq';
import { describe, expect, it } from 'vitest';
import { QUEUE_NAME, bullConnection, loadConfig, queuePrefix, releaseBullConnection } from '@herald/shared';
import { redisEnv } from '../support/redis-target.ts';
import { canRunBrowserTests, setUpPageTests } from './support.ts';

const ADMIN_KEY = 'admin-key-0123456789abcdef';
const KEY = 'user-key-0123456789abcdef';

describe.skipIf(!canRunBrowserTests)("the admin view (/admin), in chromium, through nginx's operations listener", () => {
  const tests = setUpPageTests({
    API_KEYS: KEY,
    ADMIN_API_KEYS: ADMIN_KEY,
    WATCH_TOKEN_SECRET: 'admin-test-watch-token-secret-0123456789',
  });

  it('shows an admin the queues and a failed job; nobody else gets in', async () => {
    // A job no run can mend (its input is not a summary's): the worker fails it for good.
    const connection = bullConnection(loadConfig({ ...redisEnv(), LOG_LEVEL: 'silent' }), { name: 'test:admin' });
    const queue = new Queue(QUEUE_NAME, { connection, prefix: queuePrefix });
    const jobId = `broken-${Date.now()}`;
    try {
      await queue.add('summarize', { nothing: 'here' }, { jobId, attempts: 3 });
      await expect.poll(async () => (await queue.getJob(jobId))?.failedReason ?? '', { timeout: 15_000 }).toMatch(/input/);
    } finally {
      await queue.close();
      releaseBullConnection(connection);
    }

    // Only on the operations listener: the public one refuses it, whoever asks.
    const ops = tests.stack.opsUrl;
    const admin = await tests.open('/', { ops: true, httpCredentials: { username: 'admin', password: ADMIN_KEY } });
    const board = await admin.page.goto(`${ops}/admin`);
    expect(board?.status()).toBe(200);
    await admin.page.waitForSelector('text=summarize', { timeout: 15_000 });
    await admin.page.goto(`${ops}/admin/queue/summarize?status=failed`);
    await admin.page.waitForSelector(`text=${jobId}`, { timeout: 15_000 });
    // Only the UI's font link, refused by the policy: nothing else was blocked, nothing left loopback.
    expect(admin.problems.filter((problem) => !problem.includes('fonts.googleapis.com'))).toEqual([]);

    // In the browser: without a key Herald asks for one (Basic) and Chromium, with none to give,
    // gets nowhere; with a user's key it is refused.
    const nobody = await tests.open('/', { ops: true });
    await expect(nobody.page.goto(`${ops}/admin`)).rejects.toThrow(/ERR_INVALID_AUTH_CREDENTIALS/);
    const user = await tests.open('/', { ops: true, httpCredentials: { username: 'admin', password: KEY } });
    expect((await user.page.goto(`${ops}/admin`))?.status()).toBe(403);
    await expect(user.page.textContent('body')).resolves.toContain('not an admin key');
    const challenge = await fetch(`${ops}/admin`);
    expect(challenge.headers.get('www-authenticate')).toMatch(/^Basic /);
    const basic = (key: string) => ({ Authorization: `Basic ${Buffer.from(`admin:${key}`).toString('base64')}` });
    for (const [who, headers, status] of [
      ['nobody', {}, 401],
      ['a user key', basic(KEY), 403],
      ['a user key as a bearer', { Authorization: `Bearer ${KEY}` }, 403],
      ['a wrong key', basic('not-a-key-0123456789'), 401],
    ] as const) {
      for (const path of ['/admin', '/admin/api/queues']) {
        expect((await fetch(`${ops}${path}`, { headers })).status, `${who} ${path}`).toBe(status);
        // The public listener: not there at all, even with the admin key.
        expect((await fetch(`${tests.stack.url}${path}`, { headers })).status, `${who} ${path} (public)`).toBe(404);
      }
    }
    // A bearer works too, for scripts: the board's API, with the admin key.
    const queues = await fetch(`${ops}/admin/api/queues`, { headers: { Authorization: `Bearer ${ADMIN_KEY}` } });
    expect((await fetch(`${tests.stack.url}/admin/api/queues`, { headers: { Authorization: `Bearer ${ADMIN_KEY}` } })).status).toBe(404);
    expect(queues.status).toBe(200);
    expect(JSON.stringify(await queues.json())).toContain('"summarize"');
  }, 90_000);
});
