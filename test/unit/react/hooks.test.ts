// @vitest-environment happy-dom
import { act, createElement, StrictMode, type ReactElement } from 'react';
import { createRoot } from 'react-dom/client';
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  HeraldError,
  type HeraldClient,
  type JobEvent,
  type WatchOptions,
  type WatchedBatchEvent,
  type WatchedEvent,
} from '@herald/client';
import {
  useBatch,
  useJob,
  useJobs,
  type BatchState,
  type HeraldHookOptions,
  type JobState,
  type JobsState,
} from '../../../packages/react/src/index.ts';

// The hooks' logic in React DOM (on happy-dom), against a client whose watches the test drives:
// one watch per mounted hook (StrictMode included), what each is given, when each is let go,
// and the state each change makes. With a real Herald: test/browser/react.test.ts.

(globalThis as { IS_REACT_ACT_ENVIRONMENT?: boolean }).IS_REACT_ACT_ENVIRONMENT = true;

/** One watch the fake client opened: what it was asked, and what the test feeds it. */
class Watch<Item> {
  readonly queue: Item[] = [];
  #wake: (() => void) | null = null;
  #ended = false;
  #failure: unknown = null;
  readonly method: string;
  readonly target: unknown;
  readonly options: WatchOptions;
  constructor(method: string, target: unknown, options: WatchOptions) {
    this.method = method;
    this.target = target;
    this.options = options;
  }
  get aborted(): boolean {
    return this.options.signal?.aborted ?? false;
  }
  push(...items: Item[]): void {
    this.queue.push(...items);
    this.#wake?.();
  }
  end(): void {
    this.#ended = true;
    this.#wake?.();
  }
  fail(error: unknown): void {
    this.#failure = error;
    this.#wake?.();
  }
  async *iterate(): AsyncGenerator<Item, void, undefined> {
    const signal = this.options.signal!;
    for (;;) {
      if (signal.aborted) throw signal.reason;
      const next = this.queue.shift();
      if (next !== undefined) {
        yield next;
        continue;
      }
      if (this.#failure !== null) throw this.#failure;
      if (this.#ended) return;
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
        signal.addEventListener('abort', () => resolve(), { once: true });
      });
    }
  }
}

function fakeClient() {
  const watches: Watch<any>[] = [];
  const open = (method: string) => (target: unknown, options: WatchOptions) => {
    const watch = new Watch<any>(method, target, options);
    watches.push(watch);
    return watch.iterate();
  };
  const client = { watch: open('watch'), watchBatch: open('watchBatch'), watchJobs: open('watchJobs') } as unknown as HeraldClient;
  /** The watches not let go. */
  const live = () => watches.filter((watch) => !watch.aborted);
  return { client, watches, live };
}

const event = (id: string, fields: Partial<JobEvent>, jobId = 'job-1'): WatchedEvent => ({
  id,
  event: { jobId, status: 'processing', progress: 10, message: 'Working', ts: 1, ...fields } as JobEvent,
  partial: '',
  metadata: {},
  streams: {},
  resync: false,
});

/** Lets the hooks' microtask start their watches, the fed items through, and a frame render them. */
const settle = () => act(() => new Promise<void>((resolve) => setTimeout(resolve, 30)));

const roots: { unmount(): void }[] = [];
afterEach(() => {
  for (const root of roots.splice(0)) act(() => root.unmount());
  vi.unstubAllGlobals();
});

/** Renders `make(state => …)` in StrictMode; `renders` gets every state the hook returned. */
function mount<State>(view: (props: { record: (state: State) => void }) => ReactElement) {
  const renders: State[] = [];
  // happy-dom's document (the root tsconfig has no DOM types: the tests run on Node).
  const { document } = globalThis as unknown as { document: { createElement(tag: string): Element } };
  const root = createRoot(document.createElement('div'));
  roots.push(root);
  const render = (element: ReactElement) => act(() => root.render(createElement(StrictMode, null, element)));
  const record = (state: State) => {
    renders.push(state);
  };
  render(view({ record }));
  return {
    renders,
    latest: () => renders.at(-1)!,
    rerender: (next: (props: { record: (state: State) => void }) => ReactElement) => render(next({ record })),
    unmount: () => act(() => root.unmount()),
  };
}

function JobProbe({
  jobId,
  options,
  record,
}: {
  jobId: string | null;
  options: HeraldHookOptions<any>;
  record: (state: JobState<any>) => void;
}) {
  record(useJob(jobId, options));
  return null;
}
function BatchProbe({
  batchId,
  options,
  record,
}: {
  batchId: string | null;
  options: HeraldHookOptions;
  record: (state: BatchState) => void;
}) {
  record(useBatch(batchId, options));
  return null;
}
function JobsProbe({
  jobIds,
  options,
  record,
}: {
  jobIds: string[] | null;
  options: HeraldHookOptions;
  record: (state: JobsState) => void;
}) {
  record(useJobs(jobIds, options));
  return null;
}

describe('useJob', () => {
  it('opens one watch under StrictMode, shows each event, and says idle, connecting, live, reconnecting, live, ended', async () => {
    const { client, watches } = fakeClient();
    const view = mount<JobState>(({ record }) => createElement(JobProbe, { jobId: 'job-1', options: { client }, record }));
    expect(view.renders[0]).toMatchObject({ connection: 'idle', status: null });
    await settle();
    expect(watches.map((watch) => [watch.method, watch.target])).toEqual([['watch', 'job-1']]);
    expect(view.latest().connection).toBe('connecting');
    const [watch] = watches;
    watch!.options.onOpen!();
    watch!.push(event('1-0', { status: 'queued', progress: 0, stage: 'queued', message: 'Queued' }));
    await settle();
    expect(view.latest()).toMatchObject({ connection: 'live', status: 'queued', stage: 'queued', message: 'Queued', lastEventId: '1-0' });
    watch!.options.onReconnect!({ attempt: 1, maxRetries: 8, delayMs: 300, reason: 'connection lost' });
    await settle();
    expect(view.latest().connection).toBe('reconnecting');
    watch!.options.onOpen!();
    watch!.push(event('2-0', { progress: 40, delta: 'Bees ', offset: 0 }), event('3-0', { progress: 60, delta: 'make honey.', offset: 5 }));
    await settle();
    expect(view.latest()).toMatchObject({ connection: 'live', partial: 'Bees make honey.', progress: 60, stage: 'queued' });
    watch!.push(event('4-0', { status: 'done', progress: 100, stage: 'done', result: 'Bees make honey.' }));
    watch!.end();
    await settle();
    expect(view.latest()).toMatchObject({
      connection: 'ended',
      status: 'done',
      result: 'Bees make honey.',
      error: null,
      lastEventId: '4-0',
    });
    expect(watches).toHaveLength(1);
  });

  it('renders once per animation frame, however many tasks the events came in', async () => {
    const frames: (() => void)[] = [];
    vi.stubGlobal('requestAnimationFrame', (run: () => void) => frames.push(run));
    vi.stubGlobal('cancelAnimationFrame', (id: number) => {
      frames[id - 1] = () => {};
    });
    const { client, watches } = fakeClient();
    const view = mount<JobState>(({ record }) => createElement(JobProbe, { jobId: 'job-1', options: { client }, record }));
    await settle();
    const before = view.renders.length;
    for (let i = 0; i < 50; i += 1) {
      watches[0]!.push(event(`${i + 1}-0`, { progress: 10, delta: 'x', offset: i }));
      await act(() => new Promise<void>((resolve) => setTimeout(resolve, 0))); // each in a task of its own
    }
    expect(view.renders.length).toBe(before); // no frame yet: nothing rendered
    act(() => {
      for (const run of frames.splice(0)) run();
    });
    expect(view.latest().partial).toBe('x'.repeat(50));
    expect(view.renders.length - before).toBeLessThanOrEqual(2); // one render (StrictMode renders it twice)
  });

  it('a new id lets the old watch go before the next opens; unmounting lets it go; null opens nothing', async () => {
    const { client, watches, live } = fakeClient();
    const view = mount<JobState>(({ record }) => createElement(JobProbe, { jobId: 'job-1', options: { client }, record }));
    await settle();
    watches[0]!.push(event('1-0', { progress: 30 }));
    await settle();
    view.rerender(({ record }) => createElement(JobProbe, { jobId: 'job-2', options: { client }, record }));
    // The render with the new id shows nothing of the old job.
    expect(view.latest()).toMatchObject({ status: null, progress: 0 });
    expect(watches[0]!.aborted).toBe(true);
    await settle();
    expect(watches.map((watch) => watch.target)).toEqual(['job-1', 'job-2']);
    expect(watches[1]!.options.lastEventId).toBeUndefined(); // a new job starts from its beginning
    expect(live()).toHaveLength(1);
    view.rerender(({ record }) => createElement(JobProbe, { jobId: null, options: { client }, record }));
    await settle();
    expect(live()).toHaveLength(0);
    expect(view.latest().connection).toBe('idle');
    const idle = view.latest();
    view.rerender(({ record }) => createElement(JobProbe, { jobId: null, options: { client }, record }));
    expect(view.latest()).toBe(idle); // the same object at every render: safe in an effect's dependencies
    view.rerender(({ record }) => createElement(JobProbe, { jobId: 'job-3', options: { client }, record }));
    await settle();
    view.unmount();
    expect(live()).toHaveLength(0);
    expect(watches).toHaveLength(3);
  });

  it('passes token and getToken to the watch; a new getToken reopens nothing and is the one called; a new token resumes from the cursor with the text', async () => {
    const { client, watches } = fakeClient();
    const calls: string[] = [];
    const first = async () => {
      calls.push('first');
      return 'fresh-1';
    };
    const view = mount<JobState>(({ record }) =>
      createElement(JobProbe, { jobId: 'job-1', options: { client, token: 'a', getToken: first }, record }),
    );
    await settle();
    expect(watches[0]!.options.token).toBe('a');
    await expect(watches[0]!.options.getToken!()).resolves.toBe('fresh-1');
    const second = async () => {
      calls.push('second');
      return 'fresh-2';
    };
    view.rerender(({ record }) => createElement(JobProbe, { jobId: 'job-1', options: { client, token: 'a', getToken: second }, record }));
    await settle();
    expect(watches).toHaveLength(1);
    await expect(watches[0]!.options.getToken!()).resolves.toBe('fresh-2');
    expect(calls).toEqual(['first', 'second']);

    watches[0]!.push(event('1-0', { delta: 'Bees ', offset: 0 }));
    await settle();
    view.rerender(({ record }) => createElement(JobProbe, { jobId: 'job-1', options: { client, token: 'b', getToken: second }, record }));
    await settle();
    expect(watches[0]!.aborted).toBe(true);
    expect(watches[1]!.options).toMatchObject({ token: 'b', lastEventId: '1-0' });
    watches[1]!.push(event('2-0', { delta: 'make honey.', offset: 5 }));
    await settle();
    expect(view.latest()).toMatchObject({ partial: 'Bees make honey.', lastEventId: '2-0' });
  });

  it('fails with the HeraldError the watch threw; a job that ended error has its own error and has ended', async () => {
    const { client, watches } = fakeClient();
    const view = mount<JobState>(({ record }) => createElement(JobProbe, { jobId: 'job-1', options: { client }, record }));
    await settle();
    const refused = new HeraldError(404, 'not_found', 'No such job');
    watches[0]!.fail(refused);
    await settle();
    expect(view.latest()).toMatchObject({ connection: 'failed', error: refused });

    const other = mount<JobState>(({ record }) => createElement(JobProbe, { jobId: 'job-2', options: { client }, record }));
    await settle();
    watches[1]!.push(
      event('1-0', { jobId: 'job-2', status: 'error', error: { code: 'model_failed', message: 'The model failed' } }, 'job-2'),
    );
    watches[1]!.end();
    await settle();
    expect(other.latest()).toMatchObject({
      connection: 'ended',
      status: 'error',
      error: { code: 'model_failed', message: 'The model failed' },
    });
    expect(other.latest().error).not.toBeInstanceOf(HeraldError);
  });

  it('typed: true gives the parsed result; a result that is not JSON fails the watch (invalid_event) and lets it go', async () => {
    const { client, watches } = fakeClient();
    const view = mount<JobState<{ words: number }>>(({ record }) =>
      createElement(JobProbe, { jobId: 'job-1', options: { client, typed: true }, record }),
    );
    await settle();
    watches[0]!.push(event('1-0', { status: 'done', progress: 100, result: '{"words":3}' }));
    watches[0]!.end();
    await settle();
    expect(view.latest().result).toEqual({ words: 3 });

    const bad = mount<JobState>(({ record }) => createElement(JobProbe, { jobId: 'job-2', options: { client, typed: true }, record }));
    await settle();
    watches[1]!.push(event('1-0', { status: 'done', progress: 100, result: 'plain text' }, 'job-2'));
    await settle();
    expect(bad.latest()).toMatchObject({ connection: 'failed', result: null, error: { code: 'invalid_event' } });
  });
});

describe('options', () => {
  it('a baseUrl is taken relative to the page; one that cannot be used fails the hook, thrown nowhere', async () => {
    const requested: string[] = [];
    vi.stubGlobal('fetch', (url: string) => {
      requested.push(url);
      return new Promise(() => {}); // never answers
    });
    vi.stubGlobal('location', { href: 'https://app.example/page/' });
    const view = mount<JobState>(({ record }) => createElement(JobProbe, { jobId: 'job 1', options: { baseUrl: '/herald' }, record }));
    await settle();
    expect(requested).toEqual(['https://app.example/herald/v1/jobs/job%201/events?typed=1']);
    expect(view.latest().connection).toBe('connecting');

    vi.stubGlobal('location', undefined);
    const bad = mount<JobState>(({ record }) => createElement(JobProbe, { jobId: 'job-1', options: { baseUrl: 'not a url' }, record }));
    await settle();
    expect(bad.latest()).toMatchObject({ connection: 'failed', error: { name: 'HeraldError', code: 'unreachable' } });
    expect(requested).toHaveLength(1);
  });
});

describe('useBatch', () => {
  it('shows the batch’s figures and each job on its one watch; a failure reaches every job not ended', async () => {
    const { client, watches } = fakeClient();
    const view = mount<BatchState>(({ record }) => createElement(BatchProbe, { batchId: 'b', options: { client }, record }));
    await settle();
    expect(watches.map((watch) => [watch.method, watch.target])).toEqual([['watchBatch', 'b']]);
    const job = (id: string, jobId: string, fields: Partial<JobEvent>): WatchedBatchEvent => ({ kind: 'job', ...event(id, fields, jobId) });
    const counts = { queued: 1, processing: 0, done: 1, error: 0, cancelled: 0 };
    watches[0]!.options.onOpen!();
    watches[0]!.push(
      job('1-0', 'b~0', { status: 'done', progress: 100, result: 'One.' }),
      job('2-0', 'b~1', { status: 'queued', progress: 0 }),
      { kind: 'batch', id: '3-0', resync: false, event: { batchId: 'b', status: 'processing', progress: 50, counts, ts: 1 } },
    );
    await settle();
    const state = view.latest();
    expect(state).toMatchObject({ status: 'processing', progress: 50, counts, connection: 'live', lastEventId: '3-0' });
    expect(Object.keys(state.jobs)).toEqual(['b~0', 'b~1']);
    expect(state.jobs['b~0']).toMatchObject({ status: 'done', result: 'One.', partial: 'One.', connection: 'ended', lastEventId: '1-0' });
    expect(state.jobs['b~1']).toMatchObject({ status: 'queued', connection: 'live' });
    const gaveUp = new HeraldError(0, 'gave_up', 'gave up after 9 failed attempts in a row');
    watches[0]!.fail(gaveUp);
    await settle();
    expect(view.latest()).toMatchObject({ connection: 'failed', error: gaveUp });
    expect(view.latest().jobs['b~0']).toMatchObject({ connection: 'ended', error: null });
    expect(view.latest().jobs['b~1']).toMatchObject({ connection: 'failed', error: gaveUp });
  });
});

describe('useJobs', () => {
  it('one watch for the list by value: the same ids in a new array keep it, another list reopens it; every id there from the start', async () => {
    const { client, watches, live } = fakeClient();
    const view = mount<JobsState>(({ record }) => createElement(JobsProbe, { jobIds: ['a', 'b', 'a'], options: { client }, record }));
    await settle();
    expect(watches.map((watch) => [watch.method, watch.target])).toEqual([['watchJobs', ['a', 'b']]]);
    expect(Object.keys(view.latest().jobs)).toEqual(['a', 'b']);
    watches[0]!.push(event('1-0,0-0', { progress: 20 }, 'a'));
    await settle();
    view.rerender(({ record }) => createElement(JobsProbe, { jobIds: ['a', 'b', 'a'], options: { client }, record }));
    view.rerender(({ record }) => createElement(JobsProbe, { jobIds: ['a', 'b'], options: { client }, record }));
    await settle();
    expect(watches).toHaveLength(1);
    expect(view.latest()).toMatchObject({ lastEventId: '1-0,0-0', jobs: { a: { progress: 20 }, b: { status: null } } });
    view.rerender(({ record }) => createElement(JobsProbe, { jobIds: ['b', 'c'], options: { client }, record }));
    await settle();
    expect(watches.map((watch) => watch.target)).toEqual([
      ['a', 'b'],
      ['b', 'c'],
    ]);
    expect(watches[1]!.options.lastEventId).toBeUndefined();
    expect(live()).toHaveLength(1);
    watches[1]!.push(event('0-0,1-0', { status: 'done', progress: 100, result: 'C.' }, 'c'));
    watches[1]!.end();
    await settle();
    expect(view.latest()).toMatchObject({ connection: 'ended', jobs: { c: { status: 'done', result: 'C.' } } });
    view.rerender(({ record }) => createElement(JobsProbe, { jobIds: [], options: { client }, record }));
    await settle();
    expect(view.latest().connection).toBe('idle');
    expect(watches).toHaveLength(2);
  });
});
