import { readFileSync } from 'node:fs';
import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis';
import type { Config } from '../config.ts';
import { redactUrl } from '../logger.ts';

/** A connection for commands: to one Redis (or a Sentinel-managed master), or to a Cluster. */
export type RedisClient = Redis | Cluster;

/** What Herald needs of the configuration to reach Redis. */
export type RedisSettings = Pick<
  Config,
  | 'REDIS_URL'
  | 'REDIS_CLUSTER_NODES'
  | 'REDIS_SENTINELS'
  | 'REDIS_SENTINEL_NAME'
  | 'REDIS_USERNAME'
  | 'REDIS_PASSWORD'
  | 'REDIS_SENTINEL_PASSWORD'
  | 'REDIS_TLS'
  | 'REDIS_TLS_CA_FILE'
>;

export interface HostPort {
  readonly host: string;
  readonly port: number;
}

/** Where Redis is: exactly one of the three (config.ts checks it). */
export type RedisTarget =
  | { readonly mode: 'single'; readonly url: string }
  | { readonly mode: 'cluster'; readonly nodes: readonly HostPort[] }
  | { readonly mode: 'sentinel'; readonly sentinels: readonly HostPort[]; readonly name: string };

export interface ConnectionRole {
  /** Shows in CLIENT LIST, so an operator can tell Herald's connections apart. */
  readonly name: string;
  /**
   * How commands behave while disconnected:
   * - 'wait' (default): queue them until Redis is back (workers, subscribers, BullMQ — whose
   *   start-up commands would otherwise fail for good when sent before Redis is up);
   * - 'fail-fast': reject them at once, so an HTTP request gets a 503 instead of hanging.
   */
  readonly whileDown?: 'wait' | 'fail-fast';
  /**
   * Called with `name` each time the connection tries again after losing Redis (or failing to
   * reach it) — once per ioredis 'reconnecting' event. Set through the options rather than as a
   * listener, so it also counts the connections BullMQ builds from these options.
   */
  readonly onReconnect?: (name: string) => void;
}

export const parseHostPort = (item: string): HostPort => {
  const at = item.lastIndexOf(':');
  return { host: item.slice(0, at).replace(/^\[(.*)\]$/, '$1'), port: Number(item.slice(at + 1)) };
};

export function redisTarget(settings: RedisSettings): RedisTarget {
  if (settings.REDIS_CLUSTER_NODES.length > 0) return { mode: 'cluster', nodes: settings.REDIS_CLUSTER_NODES.map(parseHostPort) };
  if (settings.REDIS_SENTINELS.length > 0) {
    return { mode: 'sentinel', sentinels: settings.REDIS_SENTINELS.map(parseHostPort), name: settings.REDIS_SENTINEL_NAME ?? '' };
  }
  return { mode: 'single', url: settings.REDIS_URL ?? 'redis://127.0.0.1:6379' };
}

/** Where Redis is, for a log line: never a password. */
export function describeRedis(settings: RedisSettings): string {
  const target = redisTarget(settings);
  const list = (nodes: readonly HostPort[]) => nodes.map((node) => `${node.host}:${node.port}`).join(',');
  if (target.mode === 'cluster') return `the Redis Cluster at ${list(target.nodes)} (REDIS_CLUSTER_NODES)`;
  if (target.mode === 'sentinel') return `the master "${target.name}" of the Sentinels at ${list(target.sentinels)} (REDIS_SENTINELS)`;
  return `the Redis at ${redactUrl(target.url)} (REDIS_URL)`;
}

/** Reconnect for ever, backing off to 2 s: a Redis restart must heal without a process restart. */
const retryStrategy = (attempt: number): number => Math.min(50 * 2 ** attempt, 2000);

/** What every connection to a Redis node carries: credentials and TLS. */
function nodeOptions(settings: RedisSettings): RedisOptions {
  const tls =
    settings.REDIS_TLS || settings.REDIS_TLS_CA_FILE !== undefined
      ? { ...(settings.REDIS_TLS_CA_FILE === undefined ? {} : { ca: readFileSync(settings.REDIS_TLS_CA_FILE) }) }
      : undefined;
  return {
    ...(settings.REDIS_USERNAME === undefined ? {} : { username: settings.REDIS_USERNAME }),
    ...(settings.REDIS_PASSWORD === undefined ? {} : { password: settings.REDIS_PASSWORD }),
    ...(tls === undefined ? {} : { tls }),
  };
}

/** A connection's behaviour by its role (ioredis options), without where it goes. */
export function redisOptions(role: ConnectionRole): RedisOptions {
  const { onReconnect } = role;
  return {
    connectionName: role.name,
    // ioredis emits 'reconnecting' exactly when this returns a number, which it always does.
    retryStrategy: onReconnect
      ? (attempt: number) => {
          onReconnect(role.name);
          return retryStrategy(attempt);
        }
      : retryStrategy,
    enableOfflineQueue: role.whileDown !== 'fail-fast',
    maxRetriesPerRequest: role.whileDown === 'fail-fast' ? 1 : null,
    connectTimeout: 2000,
  };
}

/**
 * The options of a connection to one Redis or to the master behind Sentinel (a Cluster cannot be
 * described by options: see connectRedis). BullMQ builds its own connections from these.
 */
export function singleOptions(settings: RedisSettings, role: ConnectionRole): RedisOptions & { url?: string } {
  const target = redisTarget(settings);
  if (target.mode === 'cluster') throw new Error('a Redis Cluster has no single-connection options');
  const base = { ...redisOptions(role), ...nodeOptions(settings) };
  if (target.mode === 'single') return { ...base, url: target.url };
  const sentinelTls = settings.REDIS_TLS ? { enableTLSForSentinelMode: true, sentinelTLS: base.tls ?? {} } : {};
  return {
    ...base,
    sentinels: target.sentinels.map((node) => ({ host: node.host, port: node.port })),
    name: target.name,
    ...(settings.REDIS_SENTINEL_PASSWORD === undefined ? {} : { sentinelPassword: settings.REDIS_SENTINEL_PASSWORD }),
    // Sentinel tells ioredis the new master after a failover; keep asking until one answers.
    sentinelRetryStrategy: (attempt: number) => retryStrategy(attempt),
    // Hear the Sentinels' +switch-master and move at once, and treat a demoted master's READONLY
    // (or, with min-replicas-to-write, a master whose replica has just been promoted away:
    // NOREPLICAS) as the signal it is: reconnect, to the master Sentinel names, and send again.
    failoverDetector: true,
    reconnectOnError: (error: Error) => (/^(READONLY|NOREPLICAS)/.test(error.message) ? 2 : false),
    ...sentinelTls,
  };
}

/** The options of a Cluster connection for this role. */
export function clusterOptions(settings: RedisSettings, role: ConnectionRole): ClusterOptions {
  const { retryStrategy: _perNode, ...perNode } = redisOptions(role);
  return {
    redisOptions: { ...perNode, ...nodeOptions(settings) },
    enableOfflineQueue: role.whileDown !== 'fail-fast',
    clusterRetryStrategy: (attempt: number) => {
      role.onReconnect?.(role.name);
      return retryStrategy(attempt);
    },
    // Failover and resharding: retry a command while the cluster settles, and notice a moved
    // slot within seconds even when no command runs into a MOVED.
    retryDelayOnFailover: 100,
    retryDelayOnClusterDown: 200,
    retryDelayOnTryAgain: 100,
    slotsRefreshTimeout: 2000,
    slotsRefreshInterval: 2000,
  };
}

/** A command connection for this role, to wherever Redis is. */
export function connectRedis(settings: RedisSettings, role: ConnectionRole): RedisClient {
  const target = redisTarget(settings);
  if (target.mode === 'cluster')
    return new Cluster(
      target.nodes.map((node) => ({ ...node })),
      clusterOptions(settings, role),
    );
  const { url, ...options } = singleOptions(settings, role);
  return url === undefined ? new Redis(options) : new Redis(url, options);
}

/** A plain connection to one node of a Cluster (a shard's sharded subscriber), with the Cluster's credentials and TLS. */
export function connectNode(settings: RedisSettings, role: ConnectionRole, node: HostPort): Redis {
  return new Redis({ ...redisOptions(role), ...nodeOptions(settings), host: node.host, port: node.port });
}

/** Whether a connection talks to a Cluster. */
export const isCluster = (client: RedisClient): client is Cluster => client instanceof Cluster;
