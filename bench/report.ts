export interface Result {
  scenario: string;
  system: 'herald' | 'nchan' | 'floor';
  C: number;
  J: number;
  E: number;
  rate: number;
  replicas: number;
  delivered: number;
  expected: number;
  lost: number;
  dup: number;
  reordered: number;
  failedConnections: number;
  timedOut: boolean;
  p50_ms: number;
  p99_ms: number;
  max_ms: number;
  deliveredPerSec: number;
  published: number;
  rssPerConnKB: number;
  rssLoadedPerConnKB: number;
  /** The API replicas' RSS together, after the publish phase. */
  serverRssMB: number;
  /** Each server process's RSS after the publish phase and its CPU over the measured seconds (% of a core). */
  perProcess: string;
  cpuMicrosPerDelivery: number;
  redisConnsPerReplica: number;
  redisCommandsPerEvent: number;
  redisShards: number;
  redisCpuMaxShardPct: number;
  redisCpuTotalPct: number;
  redisCpuMicrosPerEvent: number;
  seconds: number;
  /** Batch scenarios: batches watched, jobs in each, the batches' own events in all their streams. */
  batches?: number;
  batchSize?: number;
  batchEvents?: number;
  /** Watchers whose stream was not exactly its batch's Stream, in order, ending with its terminal event. */
  badStreams?: number;
  /** Latency of the batches' own events, from their `ts` (ms resolution). */
  batchEventP50_ms?: number;
  batchEventP99_ms?: number;
}

const COLUMNS: (keyof Result)[] = [
  'scenario',
  'system',
  'C',
  'J',
  'E',
  'rate',
  'delivered',
  'expected',
  'lost',
  'dup',
  'reordered',
  'p50_ms',
  'p99_ms',
  'deliveredPerSec',
  'rssPerConnKB',
  'rssLoadedPerConnKB',
  'cpuMicrosPerDelivery',
  'redisConnsPerReplica',
  'redisCommandsPerEvent',
  'redisShards',
  'redisCpuMaxShardPct',
  'redisCpuTotalPct',
];

/** The results as a markdown table, then Herald ÷ Nchan and Herald ÷ floor per scenario where both ran. */
export function markdownTable(results: readonly Result[]): string {
  const lines = [`| ${COLUMNS.join(' | ')} |`, `|${COLUMNS.map(() => '---').join('|')}|`];
  for (const result of results) lines.push(`| ${COLUMNS.map((column) => String(result[column])).join(' | ')} |`);
  const batchRuns = results.filter((r) => r.batches !== undefined);
  if (batchRuns.length > 0) {
    const columns: (keyof Result)[] = [
      'scenario',
      'batches',
      'batchSize',
      'published',
      'batchEvents',
      'badStreams',
      'batchEventP50_ms',
      'batchEventP99_ms',
      'serverRssMB',
      'redisCpuMicrosPerEvent',
    ];
    lines.push('', `| ${columns.join(' | ')} |`, `|${columns.map(() => '---').join('|')}|`);
    for (const result of batchRuns) lines.push(`| ${columns.map((column) => String(result[column])).join(' | ')} |`);
  }
  lines.push('', '| scenario | system | each server process (with --repeat, the first run’s): RSS, CPU (% of a core) |', '|---|---|---|');
  for (const result of results) lines.push(`| ${result.scenario} | ${result.system} | ${result.perProcess} |`);
  for (const [other, label] of [
    ['nchan', 'Nchan'],
    ['floor', 'floor'],
  ] as const) {
    const ratios: string[] = [];
    for (const herald of results.filter((r) => r.system === 'herald')) {
      const them = results.find((r) => r.system === other && r.scenario === herald.scenario);
      if (!them) continue;
      const ratio = (a: number, b: number) => (b > 0 ? (a / b).toFixed(2) : 'n/a');
      ratios.push(
        `| ${herald.scenario} | ${ratio(herald.deliveredPerSec, them.deliveredPerSec)} | ${ratio(herald.p50_ms, them.p50_ms)} | ${ratio(herald.p99_ms, them.p99_ms)} | ${ratio(herald.rssPerConnKB, them.rssPerConnKB)} | ${ratio(herald.rssLoadedPerConnKB, them.rssLoadedPerConnKB)} | ${ratio(herald.cpuMicrosPerDelivery, them.cpuMicrosPerDelivery)} |`,
      );
    }
    if (ratios.length === 0) continue;
    const h = `Herald ÷ ${label}`;
    lines.push(
      '',
      `| scenario | delivered/s ${h} | p50 ${h} | p99 ${h} | idle RSS/conn ${h} | loaded RSS/conn ${h} | CPU/delivery ${h} |`,
      '|---|---|---|---|---|---|---|',
      ...ratios,
    );
  }
  return lines.join('\n');
}

/** Each numeric measure's median over repeated runs; losses add up, so none hides. */
export function medianOf(runs: readonly Result[]): Result {
  const median = (values: number[]): number => {
    const sorted = [...values].sort((a, b) => a - b);
    const mid = Math.floor(sorted.length / 2);
    const value = sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
    return Math.round(value * 1000) / 1000;
  };
  const first = runs[0]!;
  const out: Record<string, unknown> = { ...first };
  for (const key of Object.keys(first) as (keyof Result)[]) {
    if (typeof first[key] !== 'number') continue;
    const values = runs.map((run) => run[key] as number);
    out[key] = ['lost', 'dup', 'reordered', 'failedConnections', 'badStreams'].includes(key)
      ? values.reduce((a, b) => a + b, 0)
      : median(values);
  }
  out.timedOut = runs.some((run) => run.timedOut);
  return out as unknown as Result;
}
