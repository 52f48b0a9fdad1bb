import type { Redis } from 'ioredis';
import type { EventReader } from '../events/reader.ts';
import type { Logger } from '../logger.ts';
import { connectNode, connectRedis, isCluster, type ConnectionRole, type RedisClient, type RedisSettings } from '../redis/connection.ts';
import type { Broker } from './broker.ts';
import { ClusterBroker } from './cluster-broker.ts';
import { RedisBroker } from './redis-broker.ts';

/**
 * The broker for where Redis is: on a Cluster, one sharded subscriber per master that owns a
 * watched job (found through `commands`, the replica's Cluster connection); on one Redis or
 * behind Sentinel, one subscriber connection. `role` names those subscriber connections.
 */
export function createBroker(
  settings: RedisSettings,
  commands: RedisClient,
  reader: EventReader,
  logger: Logger,
  role: ConnectionRole,
): Broker {
  if (isCluster(commands)) {
    return new ClusterBroker(commands, reader, logger, { connectNode: (node) => connectNode(settings, role, node) });
  }
  const subscriber = connectRedis(settings, role) as Redis;
  subscriber.on('error', (err: Error) => logger.warn({ connection: 'fanout', err: err.message }, 'redis connection error'));
  return new RedisBroker(subscriber, reader, logger);
}
