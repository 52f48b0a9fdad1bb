import { describe, expect, it } from 'vitest';
import { foldMetadata, foldPartial, foldStreams, type ProgressUpdate } from '@herald/contract';
import type { PublishedEvent } from '@herald/shared';
import { RunEvents } from '../../../packages/worker/src/jobs/run-events.ts';

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

  it('a metadata patch goes at once, after the text written before it, with the last step’s stage and message', async () => {
    const { sent, publish } = recorder();
    const events = new RunEvents(publish, 1000, () => {});
    await events.step({ stage: 'importing', message: 'Importing rows', progress: 20 });
    events.write('so far', 30);
    await events.metadata({ rows: { done: 400, total: 1000 }, errors: 3 });
    await events.metadata({ rows: { done: 700 }, errors: null });
    expect(sent.map(({ update }) => [update.stage, update.delta ?? null, update.metadata ?? null])).toEqual([
      ['importing', null, null],
      ['writing', 'so far', null],
      ['importing', null, { rows: { done: 400, total: 1000 }, errors: 3 }],
      ['importing', null, { rows: { done: 700 }, errors: null }],
    ]);
    expect(sent.at(-1)!.update).toMatchObject({ status: 'processing', message: 'Importing rows' });
    expect(sent.reduce<Record<string, unknown>>((metadata, { update }) => foldMetadata(metadata, update), {})).toEqual({
      rows: { done: 700, total: 1000 },
    });
    events.close();
  });

  it('named streams: each coalesced as the answer is, with its own offsets; a restart sends it again from 0', async () => {
    const { sent, publish } = recorder();
    const events = new RunEvents(publish, 20, () => {});
    const log = events.stream('log');
    const errors = events.stream('errors');
    log.write('frame 1\n');
    log.write('frame 2\n');
    errors.write('row 3\n');
    events.write('answer', 10);
    await events.flush();
    log.restart();
    log.write('again 1\n');
    errors.write('row 9\n');
    await events.flush();
    const streamed = sent
      .filter(({ update }) => update.stream !== undefined)
      .map(({ update }) => [update.stream, update.delta, update.offset]);
    expect(streamed).toEqual([
      ['log', 'frame 1\nframe 2\n', 0],
      ['errors', 'row 3\n', 0],
      ['log', 'again 1\n', 0],
      ['errors', 'row 9\n', 6],
    ]);
    expect(sent.reduce<Readonly<Record<string, string>>>((streams, { update }) => foldStreams(streams, update), {})).toEqual({
      log: 'again 1\n',
      errors: 'row 3\nrow 9\n',
    });
    // The answer's fold is its own: a named stream's delta never reaches it.
    expect(fold(sent)).toBe('answer');
    expect(() => events.stream('Bad name')).toThrow(TypeError);
    events.close();
  });
});
