import { describe, expect, it } from 'vitest';
import { isJobId, newJobId } from '../../apps/api/src/jobs/job-id.ts';

describe('job ids', () => {
  it('are 22 base64url characters, all different, and never start with a dash (a CLI argument)', () => {
    // 1 in 64 raw draws starts with '-': 5000 ids would hold ~78 of them.
    const ids = Array.from({ length: 5000 }, newJobId);
    expect(new Set(ids).size).toBe(ids.length);
    for (const id of ids) {
      expect(isJobId(id)).toBe(true);
      expect(id.startsWith('-')).toBe(false);
    }
  });
});
