import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EventReader } from '@herald/shared';
import { createClient, type IssuedWatchToken, type WatchedEvent } from '../../packages/client/src/index.ts';
import { WHOLE_HISTORY } from '../support/assertions.ts';
import { runEntry, waitForOk, type Child } from '../support/child.ts';
import { freePort } from '../support/free-port.ts';
import { request } from '../support/http.ts';
import { redisEnv } from '../support/redis-target.ts';
import { startSystem, type TestSystem } from '../support/system.ts';

// Issue 27, "Tokens that last as long as the job": watch tokens live 10 s, the job runs 30 s, and
// the replica serving the watcher is SIGKILLed once the first token has expired. The watcher
// (@herald/client, whose getToken asks POST /v1/jobs/{id}/watch-tokens with the API key) must be
// refused with token_expired on the other replica, renew, and see the job's exact history.
const KEY = 'key-alpha-0123456789';
const AUTH = {
  API_KEYS: KEY,
  WATCH_TOKEN_SECRET: 'a-watch-token-secret-of-forty-characters!',
  WATCH_TOKEN_TTL_SECONDS: '10',
  SSE_RETRY_MS: '500',
};
const EVENTS = 30;
const PUBLISH_EVERY_MS = 1000;

let survivor: TestSystem;
let doomed: Child;
let doomedUrl: string;
beforeAll(async () => {
  // In this process: the replica that survives (it flushes Redis first, so it starts first).
  survivor = await startSystem({ replicas: 1, workers: 0, env: AUTH });
  const port = await freePort();
  doomed = runEntry('apps/api/src/main.ts', { ...redisEnv(), ...AUTH, PORT: String(port), HOST: '127.0.0.1', LOG_LEVEL: 'warn' });
  doomedUrl = `http://127.0.0.1:${port}`;
  await waitForOk(`${doomedUrl}/healthz`);
});
afterAll(async () => {
  if (doomed.process.exitCode === null && doomed.process.signalCode === null) doomed.process.kill('SIGKILL');
  await doomed.exited();
  await survivor.close();
});

describe('a watch that outlives its token and its replica', () => {
  it('renews its token after token_expired on the other replica and sees the job’s exact history to done', async () => {
    const survivorUrl = survivor.apis[0]!.url;
    const replicas = [
      { name: 'doomed', url: doomedUrl },
      { name: 'survivor', url: survivorUrl },
    ];
    /** What a load balancer does for a client: each request to the first replica that takes the connection. */
    const streams: { replica: string; status: number; code: string | null; lastEventId: string | null; token: string | null }[] = [];
    const failover: typeof fetch = async (input, init) => {
      const path = new URL(String(input));
      for (const [i, replica] of replicas.entries()) {
        let response: Response;
        try {
          response = await fetch(`${replica.url}${path.pathname}${path.search}`, init);
        } catch (error) {
          if (init?.signal?.aborted || i === replicas.length - 1) throw error;
          continue; // refused: the next one
        }
        if (path.pathname.endsWith('/events')) {
          const headers = new Headers(init?.headers);
          const refused = response.ok ? null : ((await response.clone().json()) as { error: { code: string } }).error.code;
          streams.push({
            replica: replica.name,
            status: response.status,
            code: refused,
            lastEventId: headers.get('last-event-id'),
            token: headers.get('authorization')?.replace(/^Bearer /, '') ?? null,
          });
        }
        return response;
      }
      throw new Error('no replica');
    };
    const base = 'http://herald.test'; // never reached: failover picks the replica
    const backend = createClient({ baseUrl: base, apiKey: KEY, fetch: failover });

    const created = await request(`${survivorUrl}/v1/jobs`, {
      json: { kind: 'external', title: 'thirty seconds' },
      headers: { Authorization: `Bearer ${KEY}` },
    });
    expect(created.status).toBe(202);
    const { jobId, publishToken } = created.body as { jobId: string; publishToken: string };

    // The producer publishes through the survivor, once a second for 30 s, then ends the job.
    const producing = (async () => {
      for (let i = 1; i <= EVENTS; i += 1) {
        await sleep(PUBLISH_EVERY_MS);
        const event =
          i < EVENTS ? { status: 'processing', progress: i * 3, message: `Step ${i}` } : { status: 'done', result: 'thirty steps' };
        const published = await request(`${survivorUrl}/v1/jobs/${jobId}/events`, {
          json: event,
          headers: { Authorization: `Bearer ${publishToken}` },
        });
        expect(published.status).toBe(201);
      }
    })();

    const issued: IssuedWatchToken[] = [];
    const getToken = async (): Promise<string> => {
      const token = await backend.watchToken(jobId);
      issued.push(token);
      return token.watchToken;
    };
    const seen: WatchedEvent[] = [];
    let lastBeforeKill: string | undefined;
    const killing = (async () => {
      // Once the first token has expired, and the doomed replica serves the stream.
      await expect.poll(() => issued.length, { timeout: 5_000 }).toBeGreaterThan(0);
      await sleep(Math.max(0, issued[0]!.expiresAt - Date.now()) + 500);
      expect(streams.map((stream) => [stream.replica, stream.status])).toEqual([['doomed', 200]]);
      lastBeforeKill = seen.at(-1)?.id;
      doomed.process.kill('SIGKILL');
      await doomed.exited();
    })();
    const watcher = createClient({ baseUrl: base, fetch: failover });
    for await (const item of watcher.watch(jobId, { getToken })) seen.push(item);
    await Promise.all([producing, killing]);

    // It renewed: the first token was refused as expired on the survivor, the second resumed
    // from the last event seen before the kill.
    expect(issued.length).toBeGreaterThanOrEqual(2);
    expect(lastBeforeKill).toBeDefined();
    const refused = streams.findIndex((stream) => stream.code === 'token_expired');
    expect(streams[refused]).toMatchObject({ replica: 'survivor', status: 401, token: issued[0]!.watchToken, lastEventId: lastBeforeKill });
    expect(streams.slice(refused + 1)).toEqual([
      { replica: 'survivor', status: 200, code: null, lastEventId: lastBeforeKill, token: issued[1]!.watchToken },
    ]);
    // The job's history, exactly: every event once, in order, to done.
    const stored = await new EventReader(survivor.redis).eventsAfter(jobId, null, WHOLE_HISTORY);
    expect(stored).toHaveLength(EVENTS + 1); // queued, then each publish
    expect(seen.map((item) => item.id)).toEqual(stored.map((event) => event.id));
    expect(seen.map((item) => item.event)).toEqual(stored.map((event) => JSON.parse(event.data)));
    expect(seen.at(-1)!.event.status).toBe('done');
  }, 60_000);
});
