import { createElement, StrictMode } from 'react';
import { renderToString } from 'react-dom/server';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createClient } from '@herald/client';
import { useBatch, useJob, useJobs, type HeraldHookOptions } from '../../../packages/react/src/index.ts';

// Rendering on a server opens nothing: the hooks' streams open in effects, which a server
// render never runs, so the HTML says `idle` and no request leaves.

const fetchSpy = vi.fn(() => Promise.reject(new Error('no request may leave a server render')));

afterEach(() => {
  vi.unstubAllGlobals();
  fetchSpy.mockClear();
});

function Watches({ options }: { options: HeraldHookOptions }) {
  const job = useJob('job-1', options);
  const none = useJob(null, options);
  const batch = useBatch('batch-1', options);
  const jobs = useJobs(['job-1', 'job-2', 'job-1'], options);
  return createElement(
    'p',
    null,
    `job:${job.connection}:${String(job.status)}:${job.progress}:${job.partial}|none:${none.connection}|batch:${batch.connection}:${String(batch.status)}:${Object.keys(batch.jobs).length}|jobs:${jobs.connection}:${Object.keys(jobs.jobs).join(',')}:${jobs.jobs['job-2']?.connection}`,
  );
}

describe('@herald/react rendered on a server', () => {
  it.each([
    ['baseUrl', (): HeraldHookOptions => ({ baseUrl: 'http://127.0.0.1:9', token: 't', getToken: async () => 't' })],
    ['client', (): HeraldHookOptions => ({ client: createClient({ baseUrl: 'http://127.0.0.1:9', fetch: fetchSpy }) })],
  ])('returns idle from every hook and calls no fetch (options with %s), StrictMode on', async (_name, options) => {
    vi.stubGlobal('fetch', fetchSpy);
    const html = renderToString(createElement(StrictMode, null, createElement(Watches, { options: options() })));
    expect(html).toBe('<p>job:idle:null:0:|none:idle|batch:idle:null:0|jobs:idle:job-1,job-2:idle</p>');
    // Nothing is left to open later either: a server render's effects never run.
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(fetchSpy).not.toHaveBeenCalled();
  });
});
