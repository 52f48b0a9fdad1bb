/** CLOCK_MONOTONIC in µs: one clock for every process on this host, so latency spans processes. */
export const nowMicros = (): number => Number(process.hrtime.bigint() / 1000n);

/** The bench's event message; subscribers read seq and t back from it without parsing JSON. */
export const benchMessage = (seq: number): string => `bench seq=${seq} t=${nowMicros()}`;
export const BENCH_MARK = /bench seq=(\d+) t=(\d+)/;
