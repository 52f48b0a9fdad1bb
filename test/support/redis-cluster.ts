import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { clusterNodeArgs, joinRedisCluster } from '@herald/shared/dev';
import { freePort } from './free-port.ts';
import { startTestRedis, type TestRedis } from './redis.ts';

/** One node of a test Redis Cluster. */
export interface TestClusterNode {
  readonly port: number;
  readonly address: string;
  readonly redis: TestRedis;
}

export interface TestRedisCluster {
  readonly nodes: readonly TestClusterNode[];
  readonly password: string;
  /** What points Herald at it: REDIS_CLUSTER_NODES (every node as a seed), REDIS_PASSWORD, REDIS_WAIT_REPLICAS. */
  readonly env: Record<string, string>;
  readonly kind: TestRedis['kind'];
  /** The nodes that are masters now, by the first reachable node's view. */
  masters(): Promise<TestClusterNode[]>;
  /** The replica of a master, now. */
  replicaOf(master: TestClusterNode): Promise<TestClusterNode>;
  /** The master that owns `key`'s slot, now. */
  masterOf(key: string): Promise<TestClusterNode>;
  /** `CLUSTER FAILOVER` on a replica: a planned, lossless hand-over (waits until it took effect). */
  failover(replica: TestClusterNode): Promise<void>;
  /** A plain connection to one node (callers disconnect it). */
  connect(node: TestClusterNode): Redis;
  /** Until every slot is served and every reachable node says `cluster_state:ok`. */
  waitHealthy(timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
}

export interface TestRedisClusterOptions {
  readonly masters?: number;
  readonly replicasPerMaster?: number;
}

/**
 * A real Redis Cluster on loopback: `masters` × (1 + `replicasPerMaster`) redis-server nodes —
 * containers from the local Redis image on host networking when Docker is there (testcontainers,
 * as every test Redis), else processes, saying so — joined with `redis-cli --cluster create`,
 * with a password (so every test on it also proves that REDIS_PASSWORD reaches every node). A
 * short node timeout makes a killed master's replica take over within about two seconds.
 */
export async function startTestRedisCluster(options: TestRedisClusterOptions = {}): Promise<TestRedisCluster> {
  const masters = options.masters ?? 3;
  const replicas = options.replicasPerMaster ?? 1;
  const password = `cluster-${randomBytes(8).toString('hex')}`;
  const ports = await Promise.all(Array.from({ length: masters * (1 + replicas) }, () => freePort()));
  const nodes: TestClusterNode[] = await Promise.all(
    ports.map(async (port) => ({
      port,
      address: `127.0.0.1:${port}`,
      redis: await startTestRedis({
        port,
        // A replica takes over however long it was cut off: tests kill masters on purpose.
        extraArgs: [...clusterNodeArgs(port, { password }), '--cluster-replica-validity-factor', '0'],
      }),
    })),
  );
  await joinRedisCluster(
    nodes.map((node) => node.address),
    { password, replicas },
  );

  const connect = (node: TestClusterNode): Redis => {
    const redis = new Redis({ host: '127.0.0.1', port: node.port, password, retryStrategy: () => null, maxRetriesPerRequest: 0 });
    redis.on('error', () => {});
    return redis;
  };
  const withNode = async <T>(node: TestClusterNode, work: (redis: Redis) => Promise<T>): Promise<T> => {
    const redis = connect(node);
    try {
      return await work(redis);
    } finally {
      redis.disconnect();
    }
  };
  /** CLUSTER NODES from the first node that answers: id, address, flags, master id, slots. */
  const view = async () => {
    for (const node of nodes) {
      const text = await withNode(node, (redis) => redis.call('CLUSTER', 'NODES') as Promise<string>).catch(() => null);
      if (text === null) continue;
      return text
        .trim()
        .split('\n')
        .map((line) => {
          const [id, address, flags, masterId, , , , , ...slots] = line.split(' ') as string[];
          return { id: id!, port: Number(address!.split('@')[0]!.split(':')[1]), flags: flags!.split(','), masterId: masterId!, slots };
        });
    }
    throw new Error('no node of the test cluster answers');
  };
  const byPort = (port: number): TestClusterNode => nodes.find((node) => node.port === port)!;

  const cluster: TestRedisCluster = {
    nodes,
    password,
    // Every master has a replica: a job's end waits for it, as such a deployment should.
    env: {
      REDIS_CLUSTER_NODES: nodes.map((node) => node.address).join(','),
      REDIS_PASSWORD: password,
      REDIS_WAIT_REPLICAS: String(Math.min(replicas, 1)),
    },
    kind: nodes[0]!.redis.kind,
    async masters() {
      return (await view())
        .filter((entry) => entry.flags.includes('master') && !entry.flags.includes('fail'))
        .map((entry) => byPort(entry.port));
    },
    async replicaOf(master) {
      const entries = await view();
      const id = entries.find((entry) => entry.port === master.port)!.id;
      const replica = entries.find((entry) => entry.masterId === id && !entry.flags.includes('fail'));
      if (!replica) throw new Error(`no replica of ${master.address}`);
      return byPort(replica.port);
    },
    async masterOf(key) {
      const slot = await withNode(nodes[0]!, (redis) => redis.call('CLUSTER', 'KEYSLOT', key) as Promise<number>);
      for (const entry of await view()) {
        if (!entry.flags.includes('master') || entry.flags.includes('fail')) continue;
        for (const range of entry.slots) {
          const [from, to = from] = range.split('-').map(Number) as [number, number?];
          if (slot >= from && slot <= (to ?? from)) return byPort(entry.port);
        }
      }
      throw new Error(`no master owns slot ${slot}`);
    },
    async failover(replica) {
      await withNode(replica, (redis) => redis.call('CLUSTER', 'FAILOVER'));
      const deadline = Date.now() + 15_000;
      while (!(await withNode(replica, (redis) => redis.call('ROLE') as Promise<string[]>))[0]?.startsWith('master')) {
        if (Date.now() > deadline) throw new Error(`${replica.address} did not become a master`);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      await cluster.waitHealthy();
    },
    connect,
    async waitHealthy(timeoutMs = 20_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const states = await Promise.all(
          nodes.map((node) => withNode(node, (redis) => redis.call('CLUSTER', 'INFO') as Promise<string>).catch(() => null)),
        );
        const reachable = states.filter((state): state is string => state !== null);
        const healthy = reachable.length > 0 && reachable.every((state) => state.includes('cluster_state:ok'));
        const up = healthy ? (await view()).filter((entry) => entry.flags.includes('master') && !entry.flags.includes('fail')) : [];
        // Every master serving, with its replicas connected and streaming (ROLE lists them).
        const replicated =
          up.length >= masters &&
          (
            await Promise.all(
              up.map((entry) =>
                withNode(byPort(entry.port), (redis) => redis.call('ROLE') as Promise<[string, number, unknown[]]>).then(
                  (role) => role[2].length >= replicas,
                  () => false,
                ),
              ),
            )
          ).every(Boolean);
        if (replicated) return;
        if (Date.now() > deadline)
          throw new Error(`the test cluster is not healthy: ${reachable.map((state) => /cluster_state:\w+/.exec(state)?.[0]).join(' ')}`);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    },
    async stop() {
      await Promise.all(nodes.map((node) => node.redis.stop()));
    },
  };
  await cluster.waitHealthy();
  return cluster;
}

/**
 * Moves one slot, with its keys, from one master to another, as resharding does
 * (CLUSTER SETSLOT IMPORTING / MIGRATING, MIGRATE, SETSLOT NODE), while clients keep using it.
 */
export async function migrateSlot(cluster: TestRedisCluster, slot: number, from: TestClusterNode, to: TestClusterNode): Promise<void> {
  const source = cluster.connect(from);
  const target = cluster.connect(to);
  try {
    const sourceId = (await source.call('CLUSTER', 'MYID')) as string;
    const targetId = (await target.call('CLUSTER', 'MYID')) as string;
    await target.call('CLUSTER', 'SETSLOT', slot, 'IMPORTING', sourceId);
    await source.call('CLUSTER', 'SETSLOT', slot, 'MIGRATING', targetId);
    for (;;) {
      const names = (await source.call('CLUSTER', 'GETKEYSINSLOT', slot, 100)) as string[];
      if (names.length === 0) break;
      await source.call('MIGRATE', '127.0.0.1', to.port, '', 0, 5000, 'AUTH', cluster.password, 'KEYS', ...names);
    }
    await target.call('CLUSTER', 'SETSLOT', slot, 'NODE', targetId);
    await source.call('CLUSTER', 'SETSLOT', slot, 'NODE', targetId);
    for (const node of cluster.nodes) {
      if (node === from || node === to) continue;
      const other = cluster.connect(node);
      await other.call('CLUSTER', 'SETSLOT', slot, 'NODE', targetId).catch(() => {}); // replicas refuse: they follow
      other.disconnect();
    }
  } finally {
    source.disconnect();
    target.disconnect();
  }
}
