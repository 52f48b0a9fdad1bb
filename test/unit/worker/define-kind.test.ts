import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { createLogger } from '@herald/shared';
import { defineKind } from '../../../packages/worker/src/define-kind.ts';
import type { KindContext, Step } from '../../../packages/worker/src/jobs/kind.ts';
import { registeredKind } from '../../../packages/worker/src/registration.ts';

/** A run's own context that records what the kind's ctx did with it. */
function recordingContext() {
  const calls: (readonly [string, ...unknown[]])[] = [];
  const context: KindContext = {
    jobId: 'job-1',
    attempt: 2,
    attempts: 3,
    signal: new AbortController().signal,
    logger: createLogger('test', 'silent'),
    step: async (step: Step) => void calls.push(['step', step]),
    write: (delta, progress) => void calls.push(['write', delta, progress]),
    restart: () => void calls.push(['restart']),
    metadata: async (patch) => void calls.push(['metadata', patch]),
    stream: (name) => ({
      write: (delta) => void calls.push(['stream', name, delta]),
      restart: () => void calls.push(['stream-restart', name]),
    }),
  };
  return { context, calls };
}

describe('defineKind', () => {
  const kind = defineKind({
    name: 'resize',
    input: z.object({ width: z.number().int(), height: z.number().int() }),
    async run({ width, height }, ctx) {
      await ctx.progress(20, 'Reading');
      await ctx.progress(150.4, 'Almost', 'resizing');
      ctx.write('a', { progress: 40.6 });
      ctx.write('b');
      ctx.restart();
      ctx.stream('log').write('line');
      await ctx.metadata({ format: 'png' });
      return { width, height, attempt: ctx.attempt, attempts: ctx.attempts, jobId: ctx.jobId };
    },
  });

  it('maps ctx onto the run: progress is a step (stage "working" unless given, 0–99, whole), write carries the progress reached', async () => {
    const { context, calls } = recordingContext();
    const result = await kind.run({ width: 4, height: 2 }, context);
    expect(result).toEqual({ width: 4, height: 2, attempt: 2, attempts: 3, jobId: 'job-1' });
    expect(calls).toEqual([
      ['step', { stage: 'working', message: 'Reading', progress: 20 }],
      ['step', { stage: 'resizing', message: 'Almost', progress: 99 }],
      ['write', 'a', 99],
      ['write', 'b', 99],
      ['restart'],
      ['stream', 'log', 'line'],
      ['metadata', { format: 'png' }],
    ]);
  });

  it('never reports progress going back: a write with less keeps the progress reached', async () => {
    const { context, calls } = recordingContext();
    const slow = defineKind({
      name: 'slow',
      input: z.null(),
      async run(_input, ctx) {
        await ctx.progress(60, 'Half');
        ctx.write('x', { progress: 10 });
        ctx.write('y', { progress: 70.2 });
        return 'xy';
      },
    });
    await slow.run(null, context);
    expect(calls.filter(([call]) => call === 'write')).toEqual([
      ['write', 'x', 60],
      ['write', 'y', 70],
    ]);
  });

  it('registers the input as a submission writes it: its JSON Schema, defaults optional', () => {
    const withDefault = defineKind({
      name: 'thumb',
      input: z.object({ size: z.number().int().positive(), format: z.enum(['png', 'jpeg']).default('png') }),
      run: () => null,
    });
    expect(registeredKind(withDefault)).toMatchObject({
      name: 'thumb',
      inputSchema: {
        type: 'object',
        properties: { size: { type: 'integer', exclusiveMinimum: 0 }, format: { enum: ['png', 'jpeg'] } },
        required: ['size'],
      },
    });
  });
});
