import { describe, expect, it } from 'vitest';
import { formatLine } from '../../apps/cli/src/render/format.ts';

describe('formatLine', () => {
  it('pads the percentage and prefers the stage over the status', () => {
    expect(
      formatLine({ jobId: 'j', status: 'processing', progress: 30, stage: 'analyzing', message: 'Analyzing 3 sentences', ts: 1 }),
    ).toBe('[ 30%] analyzing: Analyzing 3 sentences');
    expect(formatLine({ jobId: 'j', status: 'cancelled', progress: 100, message: 'Cancelled', ts: 1 })).toBe('[100%] cancelled: Cancelled');
  });
});
