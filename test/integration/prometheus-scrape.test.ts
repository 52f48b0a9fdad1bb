import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../support/free-port.ts';
import { canRun } from '../support/requirements.ts';
import { startSystem, type TestSystem } from '../support/system.ts';

// A real Prometheus (Debian's) scrapes a running API replica and worker on loopback and loads
// deploy/prometheus/rules.yml: the names the rules and the dashboard use are the ones it stores.

const RULES = fileURLToPath(new URL('../../deploy/prometheus/rules.yml', import.meta.url));
const havePrometheus = canRun('a real Prometheus scraping Herald', [
  spawnSync('prometheus', ['--version']).error && "no prometheus on the PATH (Debian's prometheus package)",
]);

interface QueryAnswer {
  readonly status: string;
  readonly data: { readonly result: readonly { readonly metric: Record<string, string> }[] };
}

describe.runIf(havePrometheus)('a real Prometheus scraping Herald', () => {
  let system: TestSystem;
  let prometheus: ChildProcess;
  let dir: string;
  let base: string;
  beforeAll(async () => {
    system = await startSystem({ replicas: 1, workers: 1 });
    const target = (url: string) => new URL(url).host;
    dir = mkdtempSync(join(tmpdir(), 'herald-prometheus-'));
    const config = [
      'global:',
      '  scrape_interval: 1s',
      '  evaluation_interval: 1s',
      'rule_files:',
      `  - ${JSON.stringify(RULES)}`,
      'scrape_configs:',
      '  - job_name: herald-api',
      '    static_configs:',
      `      - targets: [${JSON.stringify(target(system.apis[0]!.url))}]`,
      '  - job_name: herald-worker',
      '    static_configs:',
      `      - targets: [${JSON.stringify(target(system.workers[0]!.metricsServer!.url))}]`,
      '',
    ].join('\n');
    writeFileSync(join(dir, 'prometheus.yml'), config);
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    prometheus = spawn(
      'prometheus',
      [
        `--config.file=${join(dir, 'prometheus.yml')}`,
        `--storage.tsdb.path=${join(dir, 'data')}`,
        `--web.listen-address=127.0.0.1:${port}`,
      ],
      { stdio: 'ignore' },
    );
  }, 30_000);
  afterAll(async () => {
    prometheus?.kill('SIGKILL');
    await system?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const query = async (promql: string): Promise<QueryAnswer | null> => {
    try {
      const response = await fetch(`${base}/api/v1/query?query=${encodeURIComponent(promql)}`);
      return response.ok ? ((await response.json()) as QueryAnswer) : null;
    } catch {
      return null; // not listening yet
    }
  };

  it('stores the API replica’s and the worker’s herald_ series, and loads the rules', async () => {
    const jobsOf = async (promql: string) => (await query(promql))?.data.result.map((series) => series.metric.job) ?? [];
    await expect.poll(() => jobsOf('herald_sse_watchers'), { timeout: 20_000, interval: 250 }).toEqual(['herald-api']);
    await expect
      .poll(() => jobsOf('herald_jobs_finished_total{status="done"}'), { timeout: 20_000, interval: 250 })
      .toEqual(['herald-worker']);
    expect((await jobsOf('herald_webhook_attempts_total')).length).toBe(5);
    expect((await jobsOf('herald_fanout_latency_seconds_bucket')).length).toBeGreaterThan(0);

    // Every rule loaded and evaluated without an error (health `ok`, not `err` or `unknown`).
    const rules = async () => {
      const answer = (await (await fetch(`${base}/api/v1/rules`)).json()) as {
        data: { groups: { rules: { name: string; health: string }[] }[] };
      };
      return answer.data.groups.flatMap((group) => group.rules);
    };
    await expect.poll(async () => (await rules()).filter((rule) => rule.health !== 'ok'), { timeout: 10_000, interval: 250 }).toEqual([]);
    const loaded = await rules();
    expect(loaded.map((rule) => rule.name)).toContain('HeraldRedisUnavailable');
    expect(loaded.length).toBeGreaterThanOrEqual(7);
  }, 45_000);
});
