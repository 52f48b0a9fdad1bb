import { Counter, type Registry } from 'prom-client';
import type { ConnectionRole } from './connection.ts';

const NAME = 'herald_redis_reconnects_total';

/**
 * herald_redis_reconnects_total, for API and worker alike: in `npm start` both register into one
 * registry and get the same counter (told apart by its `connection` label).
 */
export function redisReconnectsCounter(registry: Registry): Counter<'connection'> {
  const existing = registry.getSingleMetric(NAME);
  if (existing) return existing as Counter<'connection'>;
  return new Counter({
    name: NAME,
    help: "Reconnect attempts of this process's Redis connections (ioredis 'reconnecting'), by connection name",
    labelNames: ['connection'] as const,
    registers: [registry],
  });
}

/** A connection role whose reconnects `counter` counts; its series shows 0 from the start. */
export function countedRole(
  counter: Counter<'connection'>,
  name: string,
  options: Omit<ConnectionRole, 'name' | 'onReconnect'> = {},
): ConnectionRole {
  counter.inc({ connection: name }, 0);
  return { ...options, name, onReconnect: (connection) => counter.inc({ connection }) };
}
