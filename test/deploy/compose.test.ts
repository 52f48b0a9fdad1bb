import { Cluster, Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keys } from '@herald/shared';
import { expectExactHistory } from '../support/assertions.ts';
import { EDGE_CERT, composeProject, eventually } from '../support/compose.ts';
import { h2Get } from '../support/h2.ts';
import { submit } from '../support/http.ts';
import { watchWithEventSource } from '../support/event-source.ts';
import { canRun } from '../support/requirements.ts';
import { BEES } from '../support/texts.ts';

// The docker-compose stack itself: images built from the real Dockerfiles, three replicas
// behind nginx on :8080, two workers, Redis with its AOF on :6380. Needs Docker and the base
// images (DEVELOPERS.md); .ci/run sets HERALD_TEST_DEPLOY=1 after building them.
const enabled = canRun('docker-compose tests', [
  process.env.HERALD_TEST_DEPLOY !== '1' && 'HERALD_TEST_DEPLOY is not 1 (they need Docker and the local base images: DEVELOPERS.md)',
]);
const LB = 'http://127.0.0.1:8080';
/** nginx's operations listener (loopback only): /metrics, /readyz and /admin, which LB refuses. */
const OPS = 'http://127.0.0.1:8090';
const REPLICAS = { 'api-1': 8081, 'api-2': 8082, 'api-3': 8083 } as const;
type Replica = keyof typeof REPLICAS;

// Auth on, as production runs it: the watcher resumes with its token through nginx.
const API_KEY = 'deploy-test-key-0123456789';
const { compose, inspect } = composeProject('herald-deploy-test', {
  // A job of ~6 s: time to find the replica serving the watcher and kill it mid-job.
  STAGE_DELAY_MS: '1500',
  API_KEYS: API_KEY,
  WATCH_TOKEN_SECRET: 'deploy-test-watch-token-secret-0123456789',
  LOG_LEVEL: 'info',
  HERALD_TAG: 'deploy-test',
});

async function watchersOn(replica: Replica): Promise<number> {
  const text = await fetch(`http://127.0.0.1:${REPLICAS[replica]}/metrics`).then((r) => r.text());
  return Number(/^herald_sse_watchers (\d+)/m.exec(text)?.[1] ?? 0);
}

describe.skipIf(!enabled)('the docker-compose stack, through nginx', () => {
  let redis: Redis;

  beforeAll(async () => {
    await compose('down', '-v', '--remove-orphans');
    await compose('up', '-d', '--build');
    redis = new Redis('redis://127.0.0.1:6380', { lazyConnect: true });
    for (const service of [...Object.keys(REPLICAS), 'worker-1', 'worker-2']) {
      await eventually(`${service} healthy`, async () =>
        (await inspect(service, '{{.State.Health.Status}}')) === 'healthy' ? true : undefined,
      );
    }
    await eventually('nginx', async () => ((await fetch(`${OPS}/readyz`)).ok ? true : undefined));
  }, 300_000);

  afterAll(async () => {
    redis?.disconnect();
    if (enabled && process.env.HERALD_TEST_KEEP_STACK !== '1') await compose('down', '-v', '--remove-orphans');
  }, 120_000);

  it('runs Node as a non-root user, Redis with its append-only file on', async () => {
    expect(await inspect('api-1', '{{.Config.User}}')).toBe('1000:1000');
    expect(await inspect('worker-1', '{{.Config.User}}')).toBe('1000:1000');
    expect(await redis.config('GET', 'appendonly')).toEqual(['appendonly', 'yes']);
  });

  it('keeps /metrics, /readyz and /admin off the public listener; the operations one, on loopback, serves them', async () => {
    for (const path of ['/metrics', '/readyz', '/admin']) expect((await fetch(`${LB}${path}`)).status, path).toBe(404);
    expect((await h2Get('https://localhost:8443', '/metrics', EDGE_CERT.cert)).status).toBe(404);
    const metrics = await fetch(`${OPS}/metrics`);
    expect(metrics.status).toBe(200);
    expect(await metrics.text()).toMatch(/^herald_sse_watchers /m);
    expect((await fetch(`${OPS}/readyz`)).status).toBe(200);
  });

  it('serves the page and the client it runs on: @herald/client bundled inside the image, from its sources', async () => {
    const page = await fetch(`${LB}/`);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('/assets/page.js');
    const client = await fetch(`${LB}/assets/herald-client.js`);
    expect(client.status).toBe(200);
    expect(client.headers.get('content-type')).toMatch(/^text\/javascript/);
    expect(await client.text()).toMatch(/\bexport\s*\{[^}]*\bcreateClient\b/);
  });

  it('serves HTTP/2 over TLS on :8443 (npm run cert), a job’s stream included, whole and ended', async () => {
    const ready = await h2Get('https://localhost:8443', '/healthz', EDGE_CERT.cert);
    expect([ready.protocol, ready.status]).toEqual(['h2', 200]);
    const accepted = await submit(LB, BEES, undefined, { Authorization: `Bearer ${API_KEY}` });
    const { jobId, watchToken } = accepted.body as { jobId: string; watchToken: string };
    const stream = await h2Get('https://localhost:8443', `/v1/jobs/${jobId}/events?token=${watchToken}`, EDGE_CERT.cert);
    expect(stream.status).toBe(200);
    expect(stream.headers['content-type']).toBe('text/event-stream; charset=utf-8');
    const ids = [...stream.body.matchAll(/^id: (\S+)$/gm)].map((match) => match[1]);
    const stored = (await redis.xrange(keys.events(jobId), '-', '+')).map(([id]) => id);
    expect(ids).toEqual(stored);
    expect(stream.body).toContain('"status":"done"');
  }, 60_000);

  it('resumes a watcher through nginx, nothing lost, when the replica serving it is killed', async () => {
    expect((await submit(LB, BEES)).status).toBe(401);
    const accepted = await submit(LB, BEES, undefined, { Authorization: `Bearer ${API_KEY}` });
    expect(accepted.status).toBe(202);
    const jobId: string = accepted.body.jobId;

    // A real EventSource: it reconnects by itself with Last-Event-ID (and its ?token=), through nginx.
    const { events, finished, opens } = watchWithEventSource(`${LB}${accepted.body.links.events}`);

    const serving = await eventually('the replica serving the watcher', async () => {
      const counts = await Promise.all((Object.keys(REPLICAS) as Replica[]).map(async (r) => [r, await watchersOn(r)] as const));
      const busy = counts.filter(([, n]) => n > 0);
      return busy.length === 1 ? busy[0]![0] : undefined;
    });
    await eventually('a progress event', async () => (events.some((e) => e.json.progress > 0) ? true : undefined));
    await compose('kill', '-s', 'SIGKILL', serving);

    await finished;
    expect(events.at(-1)?.json.status).toBe('done');
    expect(opens()).toBeGreaterThanOrEqual(2);
    expect(events.filter((e) => e.json.status !== 'done').length).toBeGreaterThan(1);
    await expectExactHistory(redis, jobId, events);

    await compose('start', serving);
    await eventually(`${serving} back`, async () => ((await fetch(`http://127.0.0.1:${REPLICAS[serving]}/readyz`)).ok ? true : undefined));
  }, 120_000);

  it('stops a replica on SIGTERM: Node itself drains and exits 0, well before Docker would kill it', async () => {
    const started = Date.now();
    await compose('stop', 'api-3');
    expect(Date.now() - started).toBeLessThan(14_000);
    expect(await inspect('api-3', '{{.State.ExitCode}}')).toBe('0');
    const logs = await compose('logs', '--no-color', 'api-3');
    expect(logs).toMatch(/"signal":"SIGTERM".*shutting down/);
    await compose('start', 'api-3');
  }, 60_000);
});

// docker-compose.redis-cluster.yml on top: the same stack on a Redis Cluster of six nodes.
const onCluster = composeProject('herald-deploy-cluster-test', { STAGE_DELAY_MS: '300', LOG_LEVEL: 'info', HERALD_TAG: 'deploy-test' }, [
  'docker-compose.redis-cluster.yml',
]);

describe.skipIf(!enabled)('the docker-compose stack on a Redis Cluster (docker-compose.redis-cluster.yml)', () => {
  let redis: Cluster;

  beforeAll(async () => {
    await onCluster.compose('down', '-v', '--remove-orphans');
    await onCluster.compose('up', '-d', '--build');
    for (const service of [...Object.keys(REPLICAS), 'worker-1', 'worker-2']) {
      await eventually(`${service} healthy`, async () =>
        (await onCluster.inspect(service, '{{.State.Health.Status}}')) === 'healthy' ? true : undefined,
      );
    }
    await eventually('nginx', async () => ((await fetch(`${OPS}/readyz`)).ok ? true : undefined));
    redis = new Cluster([{ host: '127.0.0.1', port: 7001 }]);
  }, 300_000);

  afterAll(async () => {
    redis?.disconnect();
    if (enabled && process.env.HERALD_TEST_KEEP_STACK !== '1') await onCluster.compose('down', '-v', '--remove-orphans');
  }, 120_000);

  it('runs a job through nginx, its events in the Cluster, watched to the end', async () => {
    const accepted = await submit(LB, BEES);
    expect(accepted.status).toBe(202);
    const { events, finished } = watchWithEventSource(`${LB}${accepted.body.links.events}`);
    await finished;
    expect(events.at(-1)?.json.status).toBe('done');
    await expectExactHistory(redis, accepted.body.jobId, events);
    const nodes = ((await redis.cluster('NODES')) as string).trim().split('\n');
    expect(nodes.filter((line) => line.includes('master')).length).toBe(3);
    expect(nodes.filter((line) => line.includes('slave')).length).toBe(3);
  }, 120_000);
});
