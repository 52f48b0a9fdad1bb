import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { createApiMetrics } from '../../apps/api/src/metrics.ts';
import { createWorkerMetrics } from '../../apps/worker/src/metrics.ts';
import { metricNames } from '../support/promql-names.ts';
import { canRun } from '../support/requirements.ts';

// deploy/prometheus/rules.yml and deploy/grafana/herald.json read Herald's metrics by name: a
// renamed metric or a misspelt suffix would leave an alert that never fires or an empty panel.

const root = fileURLToPath(new URL('../../', import.meta.url));
const RULES = 'deploy/prometheus/rules.yml';
const RULES_TESTS = 'deploy/prometheus/rules.test.yml';
const DASHBOARD = 'deploy/grafana/herald.json';

/**
 * Every series name the API's and the worker's registries can serve: each metric's own name, and
 * a histogram's _bucket, _sum and _count (a family with no series yet, such as the Redis
 * reconnects before a connection is counted, is still listed).
 */
async function exportedNames(): Promise<Set<string>> {
  const api = createApiMetrics({ watchers: () => 0, watchedJobs: () => 0, queueCounts: async () => ({}) });
  const worker = createWorkerMetrics();
  const names = new Set<string>();
  for (const registry of [api.registry, worker.registry]) {
    for (const { name, type } of await registry.getMetricsAsJSON()) {
      const suffixes = String(type) === 'histogram' ? ['_bucket', '_sum', '_count'] : [''];
      for (const suffix of suffixes) names.add(`${name}${suffix}`);
    }
  }
  return names;
}

/** The `expr:` of each rule in rules.yml, inline or a `|` block (the file's own two layouts). */
function ruleExprs(text: string): string[] {
  const lines = text.split('\n');
  const exprs: string[] = [];
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    const at = line.indexOf('expr:');
    if (at < 0 || line.trimStart().startsWith('#')) continue;
    const inline = line.slice(at + 'expr:'.length).trim();
    if (inline !== '|') {
      exprs.push(inline);
      continue;
    }
    const block: string[] = [];
    while (i + 1 < lines.length && (lines[i + 1]!.trim() === '' || indent(lines[i + 1]!) > at)) block.push(lines[++i]!.trim());
    exprs.push(block.join('\n').trim());
  }
  return exprs;
}
const indent = (line: string) => line.length - line.trimStart().length;

interface Panel {
  readonly title: string;
  readonly targets?: readonly { readonly expr: string }[];
}

const promtool = spawnSync('promtool', ['--version'], { encoding: 'utf8' });
const havePromtool = canRun('promtool rule checks', [
  promtool.error && "no promtool on the PATH (Debian's prometheus package: apt-get install prometheus)",
]);

describe('the Prometheus rules', () => {
  const text = readFileSync(`${root}${RULES}`, 'utf8');
  const exprs = ruleExprs(text);

  it('names only metrics Herald exports', async () => {
    const exported = await exportedNames();
    expect(exprs.length).toBe(text.split('- alert:').length - 1);
    for (const expr of exprs) {
      const names = metricNames(expr);
      expect(names, expr).not.toEqual([]);
      for (const name of names) expect(exported, `${name} in ${expr}`).toContain(name);
    }
  });

  it('gives every alert a for:, a severity and a summary and description', () => {
    const alerts = text.split('- alert:').slice(1);
    expect(alerts.length).toBeGreaterThanOrEqual(6);
    for (const alert of alerts) {
      expect(alert).toMatch(/\n\s+for: \d+m\n/);
      expect(alert).toMatch(/\n\s+severity: (warning|critical)\n/);
      expect(alert).toContain('summary:');
      expect(alert).toContain('description:');
    }
  });

  it.runIf(havePromtool)('pass promtool check rules', () => {
    const run = spawnSync('promtool', ['check', 'rules', RULES], { cwd: root, encoding: 'utf8' });
    expect(run.status, run.stdout + run.stderr).toBe(0);
    expect(run.stdout).toContain('SUCCESS');
  });

  it.runIf(havePromtool)('fire on synthetic sick series and stay quiet on healthy ones (promtool test rules)', () => {
    const run = spawnSync('promtool', ['test', 'rules', RULES_TESTS], { cwd: root, encoding: 'utf8' });
    expect(run.status, run.stdout + run.stderr).toBe(0);
    expect(run.stdout).toContain('SUCCESS');
    const tests = readFileSync(`${root}${RULES_TESTS}`, 'utf8');
    for (const alert of [
      'HeraldReplicaNearMaxSseClients',
      'HeraldRedisUnavailable',
      'HeraldQueueStalled',
      'HeraldLlmUpstreamFailing',
      'HeraldWebhooksFailing',
    ]) {
      expect(tests).toContain(`alertname: ${alert}`);
    }
  });
});

describe('the Grafana dashboard', () => {
  const dashboard = JSON.parse(readFileSync(`${root}${DASHBOARD}`, 'utf8')) as {
    schemaVersion: number;
    panels: readonly Panel[];
    templating: { list: readonly { name: string; type: string; query: string }[] };
  };

  it('picks its Prometheus data source from a variable', () => {
    expect(dashboard.schemaVersion).toBeGreaterThanOrEqual(39);
    expect(dashboard.templating.list).toContainEqual(
      expect.objectContaining({ name: 'datasource', type: 'datasource', query: 'prometheus' }),
    );
  });

  it('queries only metrics Herald exports', async () => {
    const exported = await exportedNames();
    const exprs = dashboard.panels.flatMap((panel) => (panel.targets ?? []).map((target) => target.expr));
    expect(exprs.length).toBeGreaterThanOrEqual(8);
    for (const expr of exprs) {
      const names = metricNames(expr);
      expect(names, expr).not.toEqual([]);
      for (const name of names) expect(exported, `${name} in ${expr}`).toContain(name);
    }
  });
});

describe('metricNames', () => {
  it('keeps the metric names and drops functions, labels, durations and keywords', () => {
    expect(
      metricNames(
        'histogram_quantile(0.99, sum by (instance, le) (rate(herald_fanout_latency_seconds_bucket{job="api",x=~"a|b"}[5m]))) > 2 and on (instance) up offset 1m',
      ),
    ).toEqual(['herald_fanout_latency_seconds_bucket', 'up']);
    expect(metricNames('deriv(max(herald_queue_depth{state="waiting"})[10m:1m]) > 0')).toEqual(['herald_queue_depth']);
  });
});
