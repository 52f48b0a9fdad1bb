import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { freePort } from './free-port.ts';
import { startTestRedis, type TestRedis } from './redis.ts';

export interface TestSentinels {
  readonly master: TestRedis;
  readonly replica: TestRedis;
  /** What points Herald at it: REDIS_SENTINELS, REDIS_SENTINEL_NAME, REDIS_PASSWORD. */
  readonly env: Record<string, string>;
  /** The port of the master now, as the Sentinels say. */
  currentMasterPort(): Promise<number>;
  /** SENTINEL FAILOVER: Sentinel's forced hand-over to the replica; resolves once the Sentinels name the new master. */
  failover(): Promise<void>;
  /** Until the Sentinels name a master other than `port`. */
  waitForMasterOtherThan(port: number, timeoutMs?: number): Promise<number>;
  stop(): Promise<void>;
}

const NAME = 'herald';

/**
 * Redis behind Sentinel on loopback: a master and its replica (containers or processes, as
 * every test Redis), both with a password, watched by three Sentinels (redis-server --sentinel
 * processes: a Sentinel rewrites its own config file). Sentinels judge a master down after 1 s.
 */
export async function startTestSentinels(): Promise<TestSentinels> {
  const password = 'sentinel-test-password';
  // min-replicas-to-write: a master whose replica was just promoted away refuses writes at once
  // (NOREPLICAS) instead of taking writes the failover will discard (docs/scaling.md, "Failover").
  const auth = ['--requirepass', password, '--masterauth', password, '--min-replicas-to-write', '1', '--min-replicas-max-lag', '10'];
  const master = await startTestRedis({ extraArgs: auth });
  const replica = await startTestRedis({ extraArgs: [...auth, '--replicaof', '127.0.0.1', String(master.port)] });
  await waitFor(async () => {
    const role = (await ask(master.port, password, ['ROLE'])) as [string, number, unknown[]];
    return role[2].length === 1;
  }, 'the replica to sync');

  const dir = mkdtempSync(join(tmpdir(), 'herald-sentinel-'));
  const sentinels: { port: number; child: ChildProcess }[] = [];
  for (let i = 0; i < 3; i += 1) {
    const port = await freePort();
    const file = join(dir, `sentinel-${port}.conf`);
    writeFileSync(
      file,
      [
        `port ${port}`,
        'bind 127.0.0.1',
        `dir ${dir}`,
        `sentinel monitor ${NAME} 127.0.0.1 ${master.port} 2`,
        `sentinel auth-pass ${NAME} ${password}`,
        `sentinel down-after-milliseconds ${NAME} 1000`,
        `sentinel failover-timeout ${NAME} 5000`,
        '',
      ].join('\n'),
    );
    const child = spawn('redis-server', [file, '--sentinel'], { stdio: 'ignore' });
    sentinels.push({ port, child });
  }
  const currentMasterPort = async (): Promise<number> => {
    for (const sentinel of sentinels) {
      const reply = (await ask(sentinel.port, undefined, ['SENTINEL', 'GET-MASTER-ADDR-BY-NAME', NAME]).catch(() => null)) as
        | string[]
        | null;
      if (reply) return Number(reply[1]);
    }
    throw new Error('no Sentinel answers');
  };
  // Every Sentinel knows the replica and the other Sentinels: a failover can be agreed on.
  await waitFor(async () => {
    const replies = await Promise.all(
      sentinels.map(
        (sentinel) => ask(sentinel.port, undefined, ['SENTINEL', 'MASTER', NAME]).catch(() => null) as Promise<string[] | null>,
      ),
    );
    return replies.every((reply) => {
      if (!reply) return false;
      const field = (name: string) => Number(reply[reply.indexOf(name) + 1]);
      return field('num-slaves') === 1 && field('num-other-sentinels') === 2;
    });
  }, 'the Sentinels to find the replica and each other');

  const waitForMasterOtherThan = async (port: number, timeoutMs = 20_000): Promise<number> => {
    let now = port;
    await waitFor(
      async () => {
        now = await currentMasterPort();
        return now !== port;
      },
      'a new master',
      timeoutMs,
    );
    // …and the new master takes writes (it has left replica mode).
    await waitFor(
      async () => ((await ask(now, password, ['ROLE'])) as string[])[0] === 'master',
      'the new master to take writes',
      timeoutMs,
    );
    return now;
  };

  return {
    master,
    replica,
    env: {
      REDIS_SENTINELS: sentinels.map((sentinel) => `127.0.0.1:${sentinel.port}`).join(','),
      REDIS_SENTINEL_NAME: NAME,
      REDIS_PASSWORD: password,
    },
    currentMasterPort,
    async failover() {
      const before = await currentMasterPort();
      await ask(sentinels[0]!.port, undefined, ['SENTINEL', 'FAILOVER', NAME]);
      await waitForMasterOtherThan(before);
    },
    waitForMasterOtherThan,
    async stop() {
      for (const sentinel of sentinels) {
        const exited = once(sentinel.child, 'exit');
        sentinel.child.kill('SIGTERM');
        await exited;
      }
      await Promise.all([master.stop(), replica.stop()]);
    },
  };
}

async function ask(port: number, password: string | undefined, command: readonly (string | number)[]): Promise<unknown> {
  const redis = new Redis({
    port,
    host: '127.0.0.1',
    retryStrategy: () => null,
    maxRetriesPerRequest: 0,
    ...(password ? { password } : {}),
  });
  redis.on('error', () => {});
  try {
    return await redis.call(String(command[0]), ...command.slice(1));
  } finally {
    redis.disconnect();
  }
}

async function waitFor(check: () => Promise<boolean>, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check().catch(() => false))) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
