import { describe, expect, it } from 'vitest';
import { ConfigError, describeRedis, loadConfig, redisTarget } from '@herald/shared';

// Where Redis is (docs/api.md, "Redis"): exactly one of three ways, checked at start-up.

const messageOf = (env: Record<string, string>): string => {
  try {
    loadConfig(env);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as Error).message;
  }
  throw new Error('no error');
};

describe('where Redis is', () => {
  it('is one Redis at REDIS_URL by default', () => {
    expect(redisTarget(loadConfig({}))).toEqual({ mode: 'single', url: 'redis://127.0.0.1:6379' });
  });

  it('is a Cluster with REDIS_CLUSTER_NODES, IPv6 seeds included', () => {
    const config = loadConfig({ REDIS_CLUSTER_NODES: '10.0.0.1:7000, redis-2.internal:7001,[::1]:7002' });
    expect(config.REDIS_URL).toBeUndefined();
    expect(redisTarget(config)).toEqual({
      mode: 'cluster',
      nodes: [
        { host: '10.0.0.1', port: 7000 },
        { host: 'redis-2.internal', port: 7001 },
        { host: '::1', port: 7002 },
      ],
    });
    expect(describeRedis(config)).toBe('the Redis Cluster at 10.0.0.1:7000,redis-2.internal:7001,::1:7002 (REDIS_CLUSTER_NODES)');
  });

  it('is a master behind Sentinel with REDIS_SENTINELS and REDIS_SENTINEL_NAME', () => {
    const config = loadConfig({ REDIS_SENTINELS: 's1:26379,s2:26379', REDIS_SENTINEL_NAME: 'herald' });
    expect(redisTarget(config)).toEqual({
      mode: 'sentinel',
      name: 'herald',
      sentinels: [
        { host: 's1', port: 26379 },
        { host: 's2', port: 26379 },
      ],
    });
  });

  it('refuses two ways at once, naming them, and a Sentinel setup without its master set', () => {
    expect(messageOf({ REDIS_URL: 'redis://a:6379', REDIS_CLUSTER_NODES: 'b:7000' })).toMatch(
      /set only one of REDIS_URL, REDIS_CLUSTER_NODES and REDIS_SENTINELS \(here: REDIS_URL and REDIS_CLUSTER_NODES\)/,
    );
    expect(messageOf({ REDIS_CLUSTER_NODES: 'b:7000', REDIS_SENTINELS: 's:26379', REDIS_SENTINEL_NAME: 'm' })).toMatch(
      /here: REDIS_CLUSTER_NODES and REDIS_SENTINELS/,
    );
    expect(messageOf({ REDIS_SENTINELS: 's:26379' })).toMatch(/REDIS_SENTINEL_NAME.*is required with REDIS_SENTINELS/);
    expect(messageOf({ REDIS_SENTINEL_NAME: 'm' })).toMatch(/goes with REDIS_SENTINELS/);
    expect(messageOf({ REDIS_CLUSTER_NODES: 'no-port' })).toMatch(/REDIS_CLUSTER_NODES=.*host:port/);
  });

  it('never shows a Redis password, even a wrong setting’s', () => {
    const message = messageOf({ REDIS_PASSWORD: 'hunter2-secret', REDIS_SENTINEL_PASSWORD: 'other-secret', REDIS_SENTINEL_NAME: 'm' });
    expect(message).not.toContain('hunter2-secret');
    expect(message).not.toContain('other-secret');
  });
});
