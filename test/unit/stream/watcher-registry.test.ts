import { afterEach, describe, expect, it, vi } from 'vitest';
import { WatcherRegistry, type RegisteredWatcher } from '../../../apps/api/src/stream/watcher-registry.ts';

// The replica's watchers as one set: one heartbeat timer for all, and the drain.

class RecordingWatcher implements RegisteredWatcher {
  readonly log: string[] = [];
  readonly chunks: Buffer[] = [];
  backlogSince = 0;

  cutOff(): void {
    this.log.push('cut-off');
  }

  writeRaw(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.log.push(`write ${JSON.stringify(chunk.toString())}`);
  }

  end(how: 'drained'): void {
    this.log.push(`end ${how}`);
  }
}

const DEADLINE_MS = 30_000;

afterEach(() => {
  vi.useRealTimers();
});

describe('WatcherRegistry', () => {
  it('sends every watcher a comment each HEARTBEAT_MS, one shared buffer for all, never all in one tick', () => {
    vi.useFakeTimers();
    const registry = new WatcherRegistry(15_000, DEADLINE_MS); // 150 slices of 100 ms
    const watchers = Array.from({ length: 300 }, () => new RecordingWatcher());
    for (const watcher of watchers) registry.add(watcher);
    const written = () => watchers.reduce((sum, watcher) => sum + watcher.chunks.length, 0);
    let most = 0;
    for (let t = 0; t < 15_000; t += 100) {
      const before = written();
      vi.advanceTimersByTime(100);
      most = Math.max(most, written() - before);
    }
    expect(most).toBe(2); // 300 watchers over 150 slices
    expect(watchers.map((watcher) => watcher.log)).toEqual(watchers.map(() => ['write ":\\n\\n"']));
    expect(new Set(watchers.map((watcher) => watcher.chunks[0])).size).toBe(1);
    vi.advanceTimersByTime(30_000);
    expect(watchers.every((watcher) => watcher.chunks.length === 3)).toBe(true);
    registry.stop();
  });

  it('counts its watchers, and forgets one that was deleted', () => {
    vi.useFakeTimers();
    const registry = new WatcherRegistry(1000, DEADLINE_MS);
    const [a, b] = [new RecordingWatcher(), new RecordingWatcher()];
    registry.add(a);
    registry.add(b);
    registry.delete(a);
    expect(registry.size).toBe(1);
    vi.advanceTimersByTime(1000);
    expect(a.log).toEqual([]);
    expect(b.log).toHaveLength(1);
    registry.stop();
  });

  it('drains: tells every watcher when to come back, then ends it as drained', () => {
    const registry = new WatcherRegistry(1000, DEADLINE_MS);
    const watchers = [new RecordingWatcher(), new RecordingWatcher()];
    for (const watcher of watchers) registry.add(watcher);
    registry.drain(1500);
    for (const watcher of watchers) expect(watcher.log).toEqual(['write "retry: 1500\\n\\n"', 'end drained']);
    registry.stop();
  });

  it('drains with a spread: each watcher its own retry:, evenly from SSE_RETRY_MS over the window', () => {
    const registry = new WatcherRegistry(1000, DEADLINE_MS);
    const watchers = Array.from({ length: 4 }, () => new RecordingWatcher());
    for (const watcher of watchers) registry.add(watcher);
    registry.drain(1000, 2000);
    expect(watchers.map((watcher) => watcher.log)).toEqual(
      [1000, 1500, 2000, 2500].map((retry) => [`write "retry: ${retry}\\n\\n"`, 'end drained']),
    );
    registry.stop();
  });

  it('drains safely while ending watchers delete themselves from it', () => {
    const registry = new WatcherRegistry(1000, DEADLINE_MS);
    const ended: string[] = [];
    const selfRemoving = (name: string): RegisteredWatcher => {
      const watcher: RegisteredWatcher = {
        backlogSince: 0,
        cutOff() {},
        writeRaw() {},
        end() {
          ended.push(name);
          registry.delete(watcher);
        },
      };
      return watcher;
    };
    for (const name of ['a', 'b', 'c']) registry.add(selfRemoving(name));
    registry.drain(1000);
    expect(ended).toEqual(['a', 'b', 'c']);
    expect(registry.size).toBe(0);
    registry.stop();
  });

  it('sends no heartbeat after stop', () => {
    vi.useFakeTimers();
    const registry = new WatcherRegistry(1000, DEADLINE_MS);
    const watcher = new RecordingWatcher();
    registry.add(watcher);
    registry.stop();
    vi.advanceTimersByTime(5000);
    expect(watcher.log).toEqual([]);
  });

  it('cuts off, instead of a heartbeat, each watcher whose backlog has not drained for SSE_WRITE_DEADLINE_MS', () => {
    vi.useFakeTimers();
    const registry = new WatcherRegistry(1000, 5000); // 10 slices of 100 ms
    const [flowing, recent, stuck] = [new RecordingWatcher(), new RecordingWatcher(), new RecordingWatcher()];
    for (const watcher of [flowing, recent, stuck]) registry.add(watcher);
    recent.backlogSince = Date.now() - 4000;
    stuck.backlogSince = Date.now() - 5000;
    vi.advanceTimersByTime(1000);
    expect(flowing.log).toEqual(['write ":\\n\\n"']);
    expect(recent.log).toEqual(['write ":\\n\\n"']);
    expect(stuck.log).toEqual(['cut-off']);
    // A second later the one still waiting is past the deadline too.
    vi.advanceTimersByTime(1000);
    expect(recent.log).toEqual(['write ":\\n\\n"', 'cut-off']);
    registry.stop();
  });
});
