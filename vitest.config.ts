import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

/**
 * The integration files that also run on the shared Redis Cluster: opt-in, so a new file does
 * not double its CI time unless its subject depends on Redis's shape. These are: every Lua
 * script and its keys (publish, job record, rate and active-job limits, webhook host slots),
 * keys that span jobs (batches, idempotency, retention), and the fan-out's pub/sub (one
 * subscriber per shard, connections, replicas behind a load balancer). Files about HTTP, the
 * CLI, the client, the model or processes exercise the same scripts through the same code, and
 * `redis-cluster.test.ts` brings its own Cluster for moves and failovers.
 */
const ON_CLUSTER = [
  'job-listing',
  'tag-stream',
  'kinds',
  'batches',
  'cancel',
  'connections',
  'external',
  'failures',
  'json-results',
  'limits',
  'load-balancer',
  'long-history',
  'races',
  'retention',
  'run-data',
  'watch',
  'webhooks',
];
const clusterFiles = ON_CLUSTER.map((name) => `test/integration/${name}.test.ts`);
const missing = clusterFiles.filter((file) => !existsSync(new URL(file, import.meta.url)));
// A renamed file must not drop out of the Cluster pass unnoticed.
if (missing.length > 0) throw new Error(`vitest.config.ts: ON_CLUSTER names no file ${missing.join(', ')}`);

export default defineConfig({
  test: {
    projects: [
      {
        // @herald/react imports @herald/client by name (a peer dependency, as an app has it),
        // whose package "exports" point at its build: here it is the client's sources.
        resolve: { alias: { '@herald/client': fileURLToPath(new URL('packages/client/src/index.ts', import.meta.url)) } },
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts'],
          sequence: { groupOrder: 0 },
        },
      },
      {
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          globalSetup: ['test/support/global-setup.ts'],
          // One Redis for the run; files take turns so each can flush it and own the queue.
          fileParallelism: false,
          testTimeout: 30_000,
          hookTimeout: 30_000,
          // The projects that start processes take turns: on a 2-core machine, timing-sensitive
          // tests (kills, reconnects) must not share the CPU with a docker build or a browser.
          sequence: { groupOrder: 1 },
        },
      },
      {
        test: {
          // The files in ON_CLUSTER again, on a Redis Cluster (3 masters, a replica each).
          name: 'integration-cluster',
          include: clusterFiles,
          globalSetup: ['test/support/global-setup.ts'],
          fileParallelism: false,
          testTimeout: 30_000,
          hookTimeout: 60_000,
          sequence: { groupOrder: 2 },
        },
      },
      {
        test: {
          name: 'deploy',
          // The docker-compose stack (runs when HERALD_TEST_DEPLOY=1; it brings the stack up itself).
          include: ['test/deploy/**/*.test.ts'],
          fileParallelism: false,
          testTimeout: 120_000,
          hookTimeout: 300_000,
          sequence: { groupOrder: 4 },
        },
      },
      {
        test: {
          name: 'browser',
          // The page in Debian's chromium (skipped when /usr/bin/chromium is absent), through
          // nginx in front of real replica and worker processes.
          include: ['test/browser/**/*.test.ts'],
          globalSetup: ['test/support/global-setup.ts'],
          fileParallelism: false,
          testTimeout: 60_000,
          hookTimeout: 60_000,
          sequence: { groupOrder: 3 },
        },
      },
    ],
  },
});
