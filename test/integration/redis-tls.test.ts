import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectRedis, loadConfig } from '@herald/shared';
import { startPrivateRedis, type PrivateRedis } from '@herald/shared/dev';
import { expectExactHistory } from '../support/assertions.ts';
import { submit } from '../support/http.ts';
import { freePort } from '../support/free-port.ts';
import { canRun } from '../support/requirements.ts';
import { SseClient } from '../support/sse-client.ts';
import { startSystem, type TestSystem } from '../support/system.ts';
import { BEES } from '../support/texts.ts';

// Redis over TLS, on one Redis and on a Cluster: a CA made here, servers with its certificate
// (redis-server processes, TLS only: no plain port), Herald trusting the CA (REDIS_TLS_CA_FILE).

const haveOpenssl = canRun('the Redis TLS tests', [
  spawnSync('openssl', ['version'], { stdio: 'ignore' }).status !== 0 && 'no openssl on the PATH',
]);
const PASSWORD = 'tls-test-password';

/** A throwaway CA and a server certificate for 127.0.0.1. */
function makeCertificates(): { dir: string; ca: string; cert: string; key: string } {
  const dir = mkdtempSync(join(tmpdir(), 'herald-tls-'));
  const run = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'ignore' });
  run('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '1', '-subj', '/CN=herald-test-ca');
  run('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'redis.key', '-out', 'redis.csr', '-subj', '/CN=127.0.0.1');
  writeFileSync(join(dir, 'ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
  run(
    'x509',
    '-req',
    '-in',
    'redis.csr',
    '-CA',
    'ca.crt',
    '-CAkey',
    'ca.key',
    '-CAcreateserial',
    '-out',
    'redis.crt',
    '-days',
    '1',
    '-extfile',
    'ext',
  );
  return { dir, ca: join(dir, 'ca.crt'), cert: join(dir, 'redis.crt'), key: join(dir, 'redis.key') };
}

async function tlsRedis(
  certs: ReturnType<typeof makeCertificates>,
  extra: readonly string[] = [],
): Promise<PrivateRedis & { tlsPort: number }> {
  const tlsPort = await freePort();
  const redis = await startPrivateRedis(tlsPort, [
    '--port',
    '0',
    '--tls-port',
    String(tlsPort),
    '--tls-cert-file',
    certs.cert,
    '--tls-key-file',
    certs.key,
    '--tls-ca-cert-file',
    certs.ca,
    '--tls-auth-clients',
    'no',
    '--requirepass',
    PASSWORD,
    '--masterauth',
    PASSWORD,
    ...extra,
  ]);
  return Object.assign(redis, { tlsPort });
}

async function runsAJob(system: TestSystem): Promise<void> {
  const [a, b] = system.apis.map((api) => api.url) as [string, string];
  const { body } = await submit(a, BEES);
  const watcher = SseClient.open(`${b}/v1/jobs/${body.jobId}/events`);
  await watcher.finished(20_000);
  expect(watcher.events.at(-1)!.json.status).toBe('done');
  await expectExactHistory(system.redis, body.jobId, watcher.events);
}

describe.skipIf(!haveOpenssl)('Redis over TLS', () => {
  let certs: ReturnType<typeof makeCertificates>;
  const servers: PrivateRedis[] = [];
  beforeAll(() => {
    certs = makeCertificates();
  });
  afterAll(async () => {
    await Promise.all(servers.map((server) => server.stop()));
  });

  it('works on one Redis: rediss:// with the CA in REDIS_TLS_CA_FILE, and refuses a server it cannot trust', async () => {
    const redis = await tlsRedis(certs);
    servers.push(redis);
    const system = await startSystem({
      redisEnv: { REDIS_URL: `rediss://:${PASSWORD}@127.0.0.1:${redis.tlsPort}`, REDIS_TLS_CA_FILE: certs.ca },
    });
    try {
      await runsAJob(system);
    } finally {
      await system.close();
    }
    // Without the CA, the server's certificate is not trusted: no connection.
    const untrusting = connectRedis(loadConfig({ REDIS_URL: `rediss://:${PASSWORD}@127.0.0.1:${redis.tlsPort}`, LOG_LEVEL: 'silent' }), {
      name: 'test:untrusting',
    });
    const errors: string[] = [];
    untrusting.on('error', (error: Error) => errors.push(error.message));
    await expect.poll(() => errors.some((message) => /self.signed|certificate/i.test(message))).toBe(true);
    untrusting.disconnect();
  });

  it('works on a Redis Cluster: REDIS_CLUSTER_NODES with REDIS_TLS and REDIS_PASSWORD reach every node', async () => {
    const nodes = await Promise.all(
      [0, 1, 2].map(async () => {
        const node = await tlsRedis(certs, [
          '--tls-cluster',
          'yes',
          '--tls-replication',
          'yes',
          '--cluster-enabled',
          'yes',
          '--cluster-config-file',
          join(certs.dir, `nodes-${Math.random().toString(36).slice(2)}.conf`),
        ]);
        servers.push(node);
        return node;
      }),
    );
    const addresses = nodes.map((node) => `127.0.0.1:${node.tlsPort}`);
    execFileSync(
      'redis-cli',
      ['--tls', '--cacert', certs.ca, '-a', PASSWORD, '--no-auth-warning', '--cluster', 'create', ...addresses, '--cluster-yes'],
      {
        stdio: 'ignore',
        timeout: 60_000,
      },
    );
    // Until every node agrees the cluster is up.
    for (const address of addresses) {
      const [, port] = address.split(':');
      for (let tries = 0; ; tries += 1) {
        const info = execFileSync(
          'redis-cli',
          ['--tls', '--cacert', certs.ca, '-a', PASSWORD, '--no-auth-warning', '-p', port!, 'CLUSTER', 'INFO'],
          {
            encoding: 'utf8',
          },
        );
        if (info.includes('cluster_state:ok')) break;
        if (tries > 100) throw new Error(`${address}: ${info}`);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
    const system = await startSystem({
      redisEnv: { REDIS_CLUSTER_NODES: addresses.join(','), REDIS_PASSWORD: PASSWORD, REDIS_TLS: 'true', REDIS_TLS_CA_FILE: certs.ca },
    });
    try {
      await runsAJob(system);
    } finally {
      await system.close();
    }
  }, 60_000);
});
