// A log-bucketed latency histogram (about 1 % resolution from 1 µs to hours) that child
// processes fill and the orchestrator merges by adding counts.

const SCALE = 100;
const BUCKETS = 2400;

export type Counts = number[];

export class Histogram {
  readonly counts = new Uint32Array(BUCKETS);
  total = 0;
  max = 0;

  record(micros: number): void {
    const value = Math.max(0, micros);
    const bucket = Math.min(BUCKETS - 1, Math.floor(Math.log1p(value) * SCALE));
    this.counts[bucket]! += 1;
    this.total += 1;
    if (value > this.max) this.max = value;
  }

  merge(counts: Counts, max: number): void {
    for (let i = 0; i < BUCKETS; i += 1) {
      const add = counts[i] ?? 0;
      this.counts[i]! += add;
      this.total += add;
    }
    if (max > this.max) this.max = max;
  }

  /** The value (µs) below which `q` of the samples lie; the bucket's upper edge. */
  quantile(q: number): number {
    if (this.total === 0) return 0;
    const rank = Math.ceil(q * this.total);
    let seen = 0;
    for (let i = 0; i < BUCKETS; i += 1) {
      seen += this.counts[i]!;
      if (seen >= rank) return Math.min(this.max, Math.expm1((i + 1) / SCALE));
    }
    return this.max;
  }

  toJSON(): { counts: Counts; max: number } {
    return { counts: Array.from(this.counts), max: this.max };
  }
}
