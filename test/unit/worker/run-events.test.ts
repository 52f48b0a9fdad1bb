import { describe, expect, it } from 'vitest';
import { foldPartial, type ProgressUpdate } from '@herald/contract';
import type { PublishedEvent } from '@herald/shared';
import { RunEvents } from '../../../apps/worker/src/jobs/run-events.ts';

// A run's events on their own: the text being written coalesced into at most one event per
// flush interval, each piece with its offset, the fold always equal to what was written.

interface Sent {
  readonly update: ProgressUpdate;
  readonly at: number;
}

function recorder(endAfter = Number.POSITIVE_INFINITY) {
  const sent: Sent[] = [];
  const publish = async (update: ProgressUpdate): Promise<PublishedEvent | null> => {
    if (sent.length >= endAfter) return null;
    sent.push({ update, at: Date.now() });
    return { id: `${sent.length}-0`, event: { jobId: 'j', ts: Date.now(), ...update } };
  };
  return { sent, publish };
}

const fold = (sent: readonly Sent[]): string => sent.reduce((text, { update }) => foldPartial(text, update), '');
const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('RunEvents', () => {
  it('coalesces writes into at most one event per interval, whose fold is the text written', async () => {
    const { sent, publish } = recorder();
    const events = new RunEvents(publish, 50, () => {});
    for (let i = 0; i < 20; i += 1) {
      events.write(`w${i} `, 10 + i);
      await pause(10);
    }
    await events.flush();
    expect(sent.length).toBeGreaterThanOrEqual(3);
    expect(sent.length).toBeLessThan(10);
    for (let i = 1; i < sent.length; i += 1) expect(sent[i]!.at - sent[i - 1]!.at).toBeGreaterThanOrEqual(48);
    expect(fold(sent)).toBe(events.text);
    expect(events.text).toBe(Array.from({ length: 20 }, (_, i) => `w${i} `).join(''));
    // Each event: where its piece goes (the end of what was sent before), the progress reached.
    let before = '';
    for (const { update } of sent) {
      expect(update.offset).toBe(before.length);
      before = foldPartial(before, update);
      expect(update).toMatchObject({ status: 'processing', stage: 'writing' });
    }
    expect(sent.at(-1)!.update.progress).toBe(29);
    events.close();
  });

  it('counts offsets in UTF-16 code units, as JavaScript does', async () => {
    const { sent, publish } = recorder();
    const events = new RunEvents(publish, 0, () => {});
    events.write('蜂蜜 🐝', 50);
    await events.flush();
    events.write('！', 60);
    await events.flush();
    expect(sent.map(({ update }) => update.offset)).toEqual([0, '蜂蜜 🐝'.length]);
    expect('蜂蜜 🐝'.length).toBe(5);
    expect(fold(sent)).toBe('蜂蜜 🐝！');
  });

  it('after a restart sends the new text from offset 0, which replaces the old in the fold', async () => {
    const { sent, publish } = recorder();
    const events = new RunEvents(publish, 0, () => {});
    events.write('An answer that broke', 40);
    await events.flush();
    events.restart();
    events.write('The new one.', 40);
    await events.flush();
    expect(sent.map(({ update }) => [update.offset, update.delta])).toEqual([
      [0, 'An answer that broke'],
      [0, 'The new one.'],
    ]);
    expect(fold(sent)).toBe('The new one.');
  });

  it('publishes a step at once, after the text written before it', async () => {
    const { sent, publish } = recorder();
    const events = new RunEvents(publish, 1000, () => {});
    events.write('first', 20);
    await events.step({ stage: 'summarizing', message: 'Summarized part 1 of 2', progress: 40 });
    expect(sent.map(({ update }) => update.stage)).toEqual(['writing', 'summarizing']);
    expect(events.wrote).toBe(true);
    events.close();
  });

  it('says once when the job turned out to have ended, and publishes nothing more', async () => {
    const { sent, publish } = recorder(1);
    let told = 0;
    const events = new RunEvents(publish, 0, () => (told += 1));
    await events.step({ stage: 'received', message: 'Received', progress: 10 });
    await events.step({ stage: 'analyzing', message: 'Analyzing', progress: 30 });
    events.write('late text', 50);
    await events.flush();
    expect(sent).toHaveLength(1);
    expect([told, events.jobEnded]).toEqual([1, true]);
  });

  it('makes a failed publish the next flush’s failure', async () => {
    const events = new RunEvents(
      async () => Promise.reject(new Error('Redis went away')),
      0,
      () => {},
    );
    events.write('text', 20);
    await expect(events.flush()).rejects.toThrow('Redis went away');
  });
});
