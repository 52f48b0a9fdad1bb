import { describe, expect, it } from 'vitest';
import { formatLine, oneLine } from '../../apps/cli/src/render/format.ts';

describe('formatLine', () => {
  it('pads the percentage and prefers the stage over the status', () => {
    expect(
      formatLine({ jobId: 'j', status: 'processing', progress: 30, stage: 'analyzing', message: 'Analyzing 3 sentences', ts: 1 }),
    ).toBe('[ 30%] analyzing: Analyzing 3 sentences');
    expect(formatLine({ jobId: 'j', status: 'cancelled', progress: 100, message: 'Cancelled', ts: 1 })).toBe('[100%] cancelled: Cancelled');
  });
});

describe('oneLine', () => {
  it('writes a producer’s control characters (ESC, line breaks, tabs, C1) as one space a run, and keeps the rest', () => {
    expect(oneLine('Rows\r\n\t400\u001b]8;;https://evil.example\u0007click\u001b]8;;\u0007\u009b2J done é😀')).toBe(
      'Rows 400 ]8;;https://evil.example click ]8;; 2J done é😀',
    );
    expect(formatLine({ jobId: 'j', status: 'processing', progress: 5, stage: 'a\u001b[2Jb', message: 'x\u001b[31my', ts: 1 })).toBe(
      '[  5%] a [2Jb: x [31my',
    );
  });

  it('takes time linear in its text', () => {
    const text = '\u001b\n'.repeat(200_000) + 'a'.repeat(400_000);
    expect(oneLine(text)).toBe(` ${'a'.repeat(400_000)}`);
  });
});
