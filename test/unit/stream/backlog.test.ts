import { EventEmitter } from 'node:events';
import type { ServerResponse } from 'node:http';
import { describe, expect, it } from 'vitest';
import { Backlog } from '../../../apps/api/src/stream/backlog.ts';

// A watcher's unsent bytes and since when (what SSE_WRITE_DEADLINE_MS is checked against), on a
// response whose socket is played by the test: full or not, 'drain' told or not.

class PlayedResponse extends EventEmitter {
  writableLength = 0;
  full = false;

  write(chunk: string): boolean {
    this.writableLength += chunk.length;
    return !this.full;
  }
}

const backlogOn = (res: PlayedResponse) => new Backlog(res as unknown as ServerResponse);

describe('Backlog', () => {
  it('starts its clock at the write that fills the socket, keeps it through more, and stops it at the drain', () => {
    const res = new PlayedResponse();
    const backlog = backlogOn(res);
    expect(backlog.write('a')).toBe(true);
    expect(backlog.since).toBe(0);
    res.full = true;
    const before = Date.now();
    expect(backlog.write('b')).toBe(false);
    const since = backlog.since;
    expect(since).toBeGreaterThanOrEqual(before);
    backlog.write('c');
    expect(backlog.since).toBe(since);
    res.full = false;
    res.emit('drain');
    expect(backlog.since).toBe(0);
    expect(res.listenerCount('drain')).toBe(0);
  });

  it('counts a backlog gone to nothing as drained even when no drain is told, without piling up listeners', () => {
    const res = new PlayedResponse();
    const backlog = backlogOn(res);
    for (let round = 0; round < 20; round += 1) {
      res.full = true;
      backlog.write('x');
      expect(backlog.since).not.toBe(0);
      res.writableLength = 0; // the socket took it all; the response heard nothing
      expect(backlog.since).toBe(0);
    }
    expect(res.listenerCount('drain')).toBe(0);
  });

  it('keeps its clock running while a catch-up write waits for a drain that does not come, however empty the socket', async () => {
    const res = new PlayedResponse();
    const backlog = backlogOn(res);
    res.full = true;
    const paced = backlog.writePaced('h');
    res.writableLength = 0;
    expect(backlog.since).not.toBe(0); // a stream stuck for want of a 'drain' is cut off all the same
    res.emit('drain');
    await paced;
    expect(backlog.since).toBe(0);
  });
});
