// @herald/shared/dev: helpers for running Herald on a developer's machine and in tests, never
// in a deployment: a private redis-server child process, and a private Redis Cluster of them.
export * from './dev/private-redis.ts';
export * from './dev/private-redis-cluster.ts';
