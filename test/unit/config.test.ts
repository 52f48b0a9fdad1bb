import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ConfigError, configSchema, loadConfig } from '@herald/shared';

/** docs/api.md's configuration table: variable → the default it states, as written. */
function documentedSettings(): Map<string, string> {
  const doc = readFileSync(new URL('../../docs/api.md', import.meta.url), 'utf8');
  const section = doc.slice(doc.indexOf('## Configuration'), doc.indexOf('\n## ', doc.indexOf('## Configuration') + 1));
  const rows = [...section.matchAll(/^\| `([A-Z_]+)` \| ([^|]+) \|/gm)];
  return new Map(rows.map(([, name, fallback]) => [name!, fallback!.trim()]));
}

describe('configuration', () => {
  it('is documented in docs/api.md, every variable and nothing else, with the default it really has', () => {
    const documented = documentedSettings();
    expect([...documented.keys()].sort()).toEqual(Object.keys(configSchema.shape).sort());
    const defaults = loadConfig({}) as Record<string, unknown>;
    for (const [name, stated] of documented) {
      const actual = defaults[name];
      const unset = actual === undefined || (Array.isArray(actual) && actual.length === 0);
      expect(stated, name).toBe(unset ? 'unset' : `\`${String(actual)}\``);
    }
  });

  it('has the defaults the original brief named', () => {
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
    expect(loadConfig({ PORT: '9000', STAGE_DELAY_MS: '0', HEARTBEAT_MS: '' })).toMatchObject({
      PORT: 9000,
      STAGE_DELAY_MS: 0,
      HEARTBEAT_MS: 15000,
    });
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
