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

describe('watch JWTs (WATCH_JWKS_URL, WATCH_JWT_ISSUER, WATCH_JWT_AUDIENCE)', () => {
  const AUTH = { API_KEYS: 'k'.repeat(24), WATCH_TOKEN_SECRET: 's'.repeat(32) };
  const JWT = { WATCH_JWT_ISSUER: 'https://adopter.example', WATCH_JWT_AUDIENCE: 'herald' };
  const problem = (env: Record<string, string>): string | null => {
    try {
      loadConfig(env);
      return null;
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error;
      return error.message;
    }
  };

  it('takes an https key set, and plain http only to a loopback host', () => {
    for (const url of [
      'https://adopter.example/.well-known/jwks.json',
      'https://10.0.0.8:8443/jwks',
      'http://127.0.0.1:9999/jwks',
      'http://127.8.9.10/jwks',
      'http://127.1/jwks',
      'http://localhost:3000/jwks',
      'http://[::1]:3000/jwks',
    ]) {
      expect(problem({ ...AUTH, ...JWT, WATCH_JWKS_URL: url }), url).toBeNull();
    }
    expect(loadConfig({ ...AUTH, ...JWT, WATCH_JWKS_URL: 'https://a.example/jwks' })).toMatchObject({
      WATCH_JWKS_URL: 'https://a.example/jwks',
      ...JWT,
    });
  });

  it('refuses plain http elsewhere, other schemes, credentials and non-URLs, saying why', () => {
    for (const [url, why] of [
      ['http://adopter.example/jwks', /WATCH_JWKS_URL=.*must be https:\/\/ \(plain http:\/\/ only to a loopback host/],
      ['http://10.0.0.8/jwks', /must be https:\/\//],
      ['http://128.0.0.1/jwks', /must be https:\/\//],
      ['http://127.0.0.1.evil.example/jwks', /must be https:\/\//],
      ['http://[::ffff:127.0.0.1]/jwks', /must be https:\/\//],
      ['http://localhost.evil.example/jwks', /must be https:\/\//],
      ['ftp://adopter.example/jwks', /must be an https:\/\/ URL/],
      ['adopter.example/jwks', /must be an https:\/\/ URL/],
      ['https://user:secret@adopter.example/jwks', /must not carry credentials/],
    ] as const) {
      const message = problem({ ...AUTH, ...JWT, WATCH_JWKS_URL: url });
      expect(message, url).toMatch(why);
      expect(message, url).not.toContain('secret@');
    }
  });

  it('needs the issuer and the audience with the URL, and the URL with them', () => {
    expect(problem({ ...AUTH, WATCH_JWKS_URL: 'https://a.example/jwks' })).toMatch(
      /WATCH_JWT_ISSUER.*is required with WATCH_JWKS_URL.*WATCH_JWT_AUDIENCE.*is required with WATCH_JWKS_URL/,
    );
    expect(problem({ ...AUTH, WATCH_JWT_ISSUER: 'https://a.example' })).toMatch(/WATCH_JWT_ISSUER.*goes with WATCH_JWKS_URL/);
    expect(problem({ ...AUTH, WATCH_JWT_AUDIENCE: 'herald' })).toMatch(/WATCH_JWT_AUDIENCE.*goes with WATCH_JWKS_URL/);
  });

  it('needs auth on: with auth off every stream is open, and a JWT would gate nothing', () => {
    expect(problem({ ...JWT, WATCH_JWKS_URL: 'https://a.example/jwks' })).toMatch(/WATCH_JWKS_URL=.*needs auth on \(API_KEYS/);
    expect(
      problem({ ...JWT, WATCH_JWKS_URL: 'https://a.example/jwks', ADMIN_API_KEYS: 'a'.repeat(24), WATCH_TOKEN_SECRET: 's'.repeat(32) }),
    ).toBeNull();
  });
});
