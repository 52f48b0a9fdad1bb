import { defineConfig } from 'vitest/config';

/** Integration files that do not run on the shared Redis Cluster (see the project below). */
const CLUSTER_EXCLUDED = [
  'faults',
  'logs',
  'npm-scripts',
  'metrics',
  'redis-cluster',
  'redis-sentinel',
  'redis-tls',
  'published-packages',
  'openapi',
  'redis-oom',
];

export default defineConfig({
  test: {
    projects: [
      {
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
          // The same integration files on a Redis Cluster (3 masters, a replica each): Herald
          // must keep every promise there. Left out: files about one Redis of their own (killed,
          // restarted, ACL'd, started by npm start) and the ones that bring their own Cluster or
          // Sentinel (redis-cluster, redis-sentinel).
          name: 'integration-cluster',
          include: ['test/integration/**/*.test.ts'],
          exclude: CLUSTER_EXCLUDED.map((name) => `test/integration/${name}.test.ts`),
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
