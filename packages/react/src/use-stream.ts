import { createClient, HeraldError, type HeraldClient, type WatchOptions } from '@herald/client';
import { useEffect, useMemo, useRef, useState } from 'react';
import type { Connection, HeraldHookOptions, Typed } from './types.ts';

/** What every hook's state has: where its stream stands, and its cursor. */
export interface StreamState {
  readonly connection: Connection;
  readonly lastEventId: string | null;
}

/**
 * Lets a stream with many jobs change its jobs' record in place between two renders: an object
 * made since the last render (adopted) is not React's yet. One copy per frame, not one per event.
 */
export interface Draft {
  owns(value: object): boolean;
  adopt<T extends object>(value: T): T;
}

/** A change to a stream's state. */
export type Change<State> = (state: State, draft: Draft) => State;

/** One kind of stream (a job, a batch, a list of jobs): its state and how it is watched. */
export interface StreamKind<Key, State extends StreamState, Result> {
  /** The state before anything arrived (`key` null: nothing to watch). */
  initial(key: Key | null, connection: Connection): State;
  /** The state with the stream's connection changed (and, when it failed, why). */
  connect(state: State, connection: Connection, error?: HeraldError): State;
  /** Reads the stream to its end, handing each change to `update`; `typed()`: the hook's latest `typed`. */
  watch(
    client: HeraldClient,
    key: Key,
    options: WatchOptions,
    update: (change: Change<State>) => void,
    typed: () => Typed<Result> | undefined,
  ): Promise<void>;
}

/**
 * One stream per mounted hook, for `key` (null: none). It opens in an effect (so never while
 * rendering on a server) a microtask after the effect ran, unless it was cleaned up by then:
 * StrictMode's mount–unmount–mount opens one stream, not two. Unmounting, or a new key, aborts
 * it. A new client or token for the same key reopens it from the cursor it had. Changes are
 * gathered and rendered once per animation frame (a timer without one), so a fast stream of
 * deltas costs one render per frame, not one per event.
 */
export function useStream<Key, State extends StreamState, Result>(
  key: Key | null,
  /** Identifies the key by value: the same value in a new array is the same stream. */
  keyId: string | null,
  options: HeraldHookOptions<Result>,
  kind: StreamKind<Key, State, Result>,
): State {
  const [shown, setShown] = useState<{ readonly keyId: string | null; readonly state: State } | null>(null);
  /** The freshest state (ahead of `shown` by up to a frame): where a reopened stream resumes. */
  const latest = useRef<{ keyId: string; state: State } | null>(null);
  // getToken and typed are read when used, so a new function each render reopens nothing.
  const settings = useRef(options);
  useEffect(() => {
    settings.current = options;
  });
  const { client: givenClient, baseUrl, token } = options;

  // biome-ignore lint/correctness/useExhaustiveDependencies: `key` is identified by `keyId` (by value: a new array of the same ids is the same stream); `kind` is a module constant.
  useEffect(() => {
    if (key === null || keyId === null) return;
    const controller = new AbortController();
    const resumed = latest.current?.keyId === keyId ? latest.current.state : kind.initial(key, 'connecting');
    let state = kind.connect(resumed, 'connecting');
    let cancelFrame: (() => void) | null = null;
    let drafts = new WeakSet<object>();
    const draft: Draft = {
      owns: (value) => drafts.has(value),
      adopt: (value) => {
        drafts.add(value);
        return value;
      },
    };
    const show = (): void => {
      cancelFrame = null;
      drafts = new WeakSet(); // what React has now is never changed again
      setShown({ keyId, state });
    };
    const update = (change: Change<State>): void => {
      if (controller.signal.aborted) return;
      state = change(state, draft);
      latest.current = { keyId, state };
      cancelFrame ??= nextFrame(show);
    };
    latest.current = { keyId, state };
    show();

    queueMicrotask(() => {
      if (controller.signal.aborted) return; // StrictMode's first mount: cleaned up already
      let client: HeraldClient;
      try {
        client = givenClient ?? createClient({ baseUrl: onThePage(baseUrl ?? '') });
      } catch (error) {
        const reason = error instanceof Error ? error.message : String(error);
        update((current) => kind.connect(current, 'failed', new HeraldError(0, 'unreachable', `cannot use baseUrl ${baseUrl}: ${reason}`)));
        return;
      }
      const opened = settings.current.getToken;
      const watch: WatchOptions = {
        signal: controller.signal,
        lastEventId: state.lastEventId ?? undefined,
        token,
        ...(opened ? { getToken: () => (settings.current.getToken ?? opened)() } : {}),
        onOpen: () => update((current) => kind.connect(current, 'live')),
        onReconnect: () => update((current) => kind.connect(current, 'reconnecting')),
      };
      kind
        .watch(client, key, watch, update, () => settings.current.typed)
        .then(
          () => update((current) => kind.connect(current, 'ended')),
          (error: unknown) => update((current) => kind.connect(current, 'failed', asHeraldError(error))),
        );
    });
    return () => {
      controller.abort();
      cancelFrame?.();
    };
  }, [keyId, givenClient, baseUrl, token]);

  // Before the stream's first state (and with no key): one idle object per key, not one per render.
  // biome-ignore lint/correctness/useExhaustiveDependencies: `key` is identified by `keyId`; `kind` is a module constant.
  const idle = useMemo(() => kind.initial(key, 'idle'), [keyId]);
  if (key === null || keyId === null || shown?.keyId !== keyId) return idle;
  return shown.state;
}

/** A baseUrl such as `/herald` is the page's (a browser's `location`); elsewhere it stays as given. */
function onThePage(baseUrl: string): string {
  const page = (globalThis as { location?: { href?: string } }).location?.href;
  return page ? new URL(baseUrl, page).href : baseUrl;
}

function asHeraldError(error: unknown): HeraldError {
  if (error instanceof HeraldError) return error;
  return new HeraldError(0, 'invalid_event', error instanceof Error ? error.message : String(error));
}

interface Frames {
  requestAnimationFrame?: (run: () => void) => number;
  cancelAnimationFrame?: (id: number) => void;
}

/** Runs `run` before the next paint (a browser), or on the next turn (no animation frames); returns its cancel. */
function nextFrame(run: () => void): () => void {
  const frames = globalThis as unknown as Frames;
  if (frames.requestAnimationFrame && frames.cancelAnimationFrame) {
    const id = frames.requestAnimationFrame(run);
    const cancel = frames.cancelAnimationFrame;
    return () => cancel(id);
  }
  const timer = setTimeout(run, 0);
  return () => clearTimeout(timer);
}
