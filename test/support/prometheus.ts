import { readFileSync } from 'node:fs';

export interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

export interface Scrape {
  /** Metric family name → its # TYPE. */
  readonly types: ReadonlyMap<string, string>;
  readonly samples: readonly Sample[];
  /** The value of one sample (exact name, and every given label matching), or undefined. */
  value(name: string, labels?: Record<string, string>): number | undefined;
}

const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

/** Parses Prometheus text exposition (what prom-client's registry.metrics() writes). */
export function parsePrometheus(text: string): Scrape {
  const types = new Map<string, string>();
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line.startsWith('# TYPE ')) {
      const [, , name, type] = line.split(' ');
      types.set(name!, type!);
      continue;
    }
    if (line.startsWith('#') || line.trim() === '') continue;
    const match = SAMPLE.exec(line);
    if (!match) throw new Error(`unparseable metrics line: ${line}`);
    const labels: Record<string, string> = {};
    for (const [, key, value] of (match[2] ?? '').matchAll(LABEL)) labels[key!] = value!;
    samples.push({ name: match[1]!, labels, value: Number(match[3]) });
  }
  return {
    types,
    samples,
    value(name, labels = {}) {
      return samples.find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))?.value;
    },
  };
}

export async function scrape(baseUrl: string): Promise<Scrape> {
  const response = await fetch(`${baseUrl}/metrics`);
  if (response.status !== 200) throw new Error(`${baseUrl}/metrics answered ${response.status}`);
  return parsePrometheus(await response.text());
}

export interface DocumentedMetric {
  readonly name: string;
  readonly type: string;
  /** 'api' and/or 'worker'. */
  readonly where: readonly string[];
}

/** The metrics table of docs/metrics.md: rows whose first cell is a `herald_…` name. */
export function documentedMetrics(path: string | URL = new URL('../../docs/metrics.md', import.meta.url)): DocumentedMetric[] {
  const rows: DocumentedMetric[] = [];
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    const cells = line.split('|').map((cell) => cell.trim());
    const name = /^`(herald_[a-z0-9_]+)`$/.exec(cells[1] ?? '')?.[1];
    if (!name) continue;
    rows.push({ name, type: cells[2]!, where: cells[4]!.split(',').map((w) => w.trim()) });
  }
  return rows;
}
