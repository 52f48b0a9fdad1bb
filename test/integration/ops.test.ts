import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startApi, type RunningApi } from '@herald/api';
import { createLogger, loadConfig } from '@herald/shared';
import { runEntry } from '../support/child.ts';
import { freePort } from '../support/free-port.ts';
import { request, submit } from '../support/http.ts';
import { startSystem, type TestSystem } from '../support/system.ts';
import { BEES } from '../support/texts.ts';

describe('with Redis up', () => {
  let system: TestSystem;
  let api: string;
  beforeAll(async () => {
    system = await startSystem({ replicas: 1 });
    api = system.apis[0]!.url;
  });
  afterAll(() => system.close());

  it('is alive and ready', async () => {
    expect(await request(`${api}/healthz`)).toMatchObject({ status: 200, body: { status: 'ok' } });
    expect(await request(`${api}/readyz`)).toMatchObject({ status: 200, body: { status: 'ready' } });
  });

  it('serves Prometheus metrics', async () => {
    await submit(api, BEES);
    const metrics = await request(`${api}/metrics`);
    expect(metrics.status).toBe(200);
    expect(metrics.headers.get('content-type')).toMatch(/^text\/plain/);
    expect(metrics.body).toMatch(/^herald_jobs_submitted_total [1-9]/m);
    expect(metrics.body).toMatch(/^herald_sse_watchers \d+/m);
  });

  it('serves the demo page at / and /jobs/{id}, and its script, which only that page may run', async () => {
    for (const path of ['/', '/jobs/AAAAAAAAAAAAAAAAAAAAAA']) {
      const page = await request(`${api}${path}`);
      expect(page.status).toBe(200);
      expect(page.headers.get('content-type')).toMatch(/^text\/html/);
      expect(page.body).toContain('<script type="module" src="/assets/page.js"></script>');
      expect(page.body).toContain('<textarea');
      expect(page.headers.get('content-security-policy')).toContain("script-src 'self'");
    }
    const script = await request(`${api}/assets/page.js`);
    expect(script.status).toBe(200);
    expect(script.headers.get('content-type')).toMatch(/^text\/javascript/);
    expect(script.headers.get('x-content-type-options')).toBe('nosniff');
    // The page talks to Herald through @herald/client, which the replica bundles from its sources.
    expect(script.body).toContain("from './herald-client.js'");
    const client = await request(`${api}/assets/herald-client.js`);
    expect(client.status).toBe(200);
    expect(client.headers.get('content-type')).toMatch(/^text\/javascript/);
    expect(client.body).toMatch(/\bexport\s*\{[^}]*\bcreateClient\b/);
  });

  it('serves the API reference at /api-docs, rendered by RapiDoc from this origin alone', async () => {
    const docs = await request(`${api}/api-docs`);
    expect(docs.status).toBe(200);
    expect(docs.body).toContain('<rapi-doc spec-url="/openapi.json"');
    expect(docs.headers.get('content-security-policy')).toMatch(/default-src 'none'.*script-src 'self'.*connect-src 'self'/);
    const script = await request(`${api}/assets/rapidoc-min.js`);
    expect(script.status).toBe(200);
    expect(script.headers.get('content-type')).toMatch(/^text\/javascript/);
    expect(script.body).toContain('rapi-doc');
  });
});

describe('with Redis away', () => {
  let api: RunningApi;
  beforeAll(async () => {
    const port = await freePort(); // nothing listens there
    const config = loadConfig({ REDIS_URL: `redis://127.0.0.1:${port}`, PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'silent' });
    api = await startApi({ config, logger: createLogger('api', 'silent') });
  });
  afterAll(() => api.close());

  it('starts anyway, stays alive, and says it is not ready', async () => {
    expect((await request(`${api.url}/healthz`)).status).toBe(200);
    expect(await request(`${api.url}/readyz`)).toMatchObject({ status: 503, body: { redis: false } });
  });

  it('answers 503 with Retry-After at once instead of hanging', async () => {
    for (const attempt of [
      () => submit(api.url, BEES),
      () => request(`${api.url}/v1/jobs/AAAAAAAAAAAAAAAAAAAAAA`),
      () => request(`${api.url}/v1/jobs/AAAAAAAAAAAAAAAAAAAAAA/events`),
    ]) {
      const response = await attempt();
      expect(response.status).toBe(503);
      expect(response.body.error.code).toBe('redis_unavailable');
      expect(response.headers.get('retry-after')).toBe('1');
    }
  });
});

describe('configuration', () => {
  it.each([
    ['PORT', 'eighty'],
    ['HEARTBEAT_MS', '-5'],
    ['REDIS_URL', 'http://nope'],
    ['LOG_LEVEL', 'loud'],
  ])('a bad %s stops the process with a message naming it', async (name, value) => {
    const api = runEntry('apps/api/src/main.ts', { [name]: value });
    expect(await api.exited()).toBe(1);
    expect(api.output()).toContain(`${name}=`);
    expect(api.output()).not.toMatch(/\n\s+at /);
  });
});
