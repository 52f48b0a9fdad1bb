import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '@herald/shared';

describe('configuration', () => {
  it('has the SPEC defaults', () => {
    expect(loadConfig({})).toMatchObject({
      REDIS_URL: 'redis://127.0.0.1:6379',
      PORT: 8080,
      HEARTBEAT_MS: 15000,
      MAX_TEXT_CHARS: 100000,
      JOB_TTL_SECONDS: 86400,
      JOB_ATTEMPTS: 3,
      JOB_LOCK_MS: 30000,
      LOG_LEVEL: 'info',
    });
  });

  it('reads numbers from the environment and treats empty values as unset', () => {
    expect(loadConfig({ PORT: '9000', STAGE_DELAY_MS: '0', HEARTBEAT_MS: '' })).toMatchObject({ PORT: 9000, STAGE_DELAY_MS: 0, HEARTBEAT_MS: 15000 });
  });

  it('names every bad variable in one error', () => {
    expect(() => loadConfig({ PORT: '70000', JOB_ATTEMPTS: 'three', REDIS_URL: 'localhost:6379' })).toThrow(ConfigError);
    try {
      loadConfig({ PORT: '70000', JOB_ATTEMPTS: 'three', REDIS_URL: 'localhost:6379' });
    } catch (error) {
      const message = (error as Error).message;
      expect(message).toContain('PORT="70000"');
      expect(message).toContain('JOB_ATTEMPTS="three"');
      expect(message).toContain('REDIS_URL="localhost:6379"');
    }
  });
});
