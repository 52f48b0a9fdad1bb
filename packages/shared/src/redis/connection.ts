import { Redis, type RedisOptions } from 'ioredis';

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

/** Reconnect for ever, backing off to 2 s: a Redis restart must heal without a process restart. */
const retryStrategy = (attempt: number): number => Math.min(50 * 2 ** attempt, 2000);

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

export function connectRedis(url: string, role: ConnectionRole): Redis {
  return new Redis(url, redisOptions(role));
}
