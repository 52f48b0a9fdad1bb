import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '@herald/shared';
import { ApiKeys } from '../../apps/api/src/auth/api-keys.ts';

const dir = mkdtempSync(join(tmpdir(), 'herald-secret-files-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let files = 0;
/** A temp file holding `text`; its path. */
function secretFile(text: string | Buffer): string {
  const path = join(dir, `secret-${++files}`);
  writeFileSync(path, text);
  return path;
}

/** loadConfig's ConfigError message, failing the test when it does not throw one. */
function configError(env: Record<string, string>): string {
  try {
    loadConfig(env);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as Error).message;
  }
  throw new Error('loadConfig did not throw');
}

const WATCH_SECRET = 'w'.repeat(40);
const KEY = 'k'.repeat(20);
/** Each single-value secret, a valid value of it, and what else it needs to be valid. */
const SECRETS: [name: string, value: string, rest: Record<string, string>][] = [
  ['WATCH_TOKEN_SECRET', 's3cret-'.repeat(6), {}],
  ['WEBHOOK_SECRET', 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', {}],
  ['REDIS_PASSWORD', 'redis-pa55word', {}],
  ['REDIS_SENTINEL_PASSWORD', 'sentinel-pa55word', {}],
  ['OPENAI_API_KEY', 'sk-test-0123456789', {}],
];

describe('secrets as files (X_FILE for every secret X)', () => {
  it.each(SECRETS)('%s_FILE gives the same config as %s itself', (name, value, rest) => {
    const plain = loadConfig({ ...rest, [name]: value }) as Record<string, unknown>;
    const fromFile = loadConfig({ ...rest, [`${name}_FILE`]: secretFile(`${value}\n`) }) as Record<string, unknown>;
    expect(fromFile[name]).toBe(value);
    const { [`${name}_FILE`]: path, ...withoutPath } = fromFile;
    expect(path).toEqual(expect.any(String));
    expect(withoutPath).toEqual(plain);
  });

  it('drops one trailing newline, \\n or \\r\\n, and only one', () => {
    const read = (text: string) => loadConfig({ REDIS_PASSWORD_FILE: secretFile(text) }).REDIS_PASSWORD;
    expect(read('pa55word')).toBe('pa55word');
    expect(read('pa55word\n')).toBe('pa55word');
    expect(read('pa55word\r\n')).toBe('pa55word');
    expect(read('pa55word\n\n')).toBe('pa55word\n');
    expect(read(' pa55word \n')).toBe(' pa55word ');
  });

  it.each(SECRETS)('refuses %s together with its _FILE form, naming both', (name, value, rest) => {
    const message = configError({ ...rest, [name]: value, [`${name}_FILE`]: secretFile(value) });
    expect(message).toContain(`${name}_FILE: set only one of ${name} and ${name}_FILE`);
    expect(message).not.toContain(value);
  });

  it('refuses ADMIN_API_KEYS together with ADMIN_API_KEYS_FILE, naming both', () => {
    const message = configError({ ADMIN_API_KEYS: KEY, ADMIN_API_KEYS_FILE: secretFile(`${KEY}\n`), WATCH_TOKEN_SECRET: WATCH_SECRET });
    expect(message).toContain('set only one of ADMIN_API_KEYS and ADMIN_API_KEYS_FILE');
    expect(message).not.toContain(KEY);
  });

  it('reads ADMIN_API_KEYS_FILE as one key per line (blank lines and # comments skipped), a comma kept in a key', () => {
    const keys = ['admin-key-one-0123456789', 'admin-key-two,0123456789', 'admin-key-three-0123456'];
    const text = `# admins\n${keys[0]}\r\n\n  ${keys[1]}  \n${keys[2]}\n`;
    const config = loadConfig({ ADMIN_API_KEYS_FILE: secretFile(text), WATCH_TOKEN_SECRET: WATCH_SECRET });
    expect(config.ADMIN_API_KEYS).toEqual(keys);
    // The same keys as the plain variable gives (that one splits at commas, so compared without it).
    const plain = loadConfig({ ADMIN_API_KEYS: `${keys[0]}, ${keys[2]}`, WATCH_TOKEN_SECRET: WATCH_SECRET });
    const fromFile = loadConfig({ ADMIN_API_KEYS_FILE: secretFile(`${keys[0]}\n${keys[2]}\n`), WATCH_TOKEN_SECRET: WATCH_SECRET });
    const { ADMIN_API_KEYS_FILE, ...withoutPath } = fromFile;
    expect(ADMIN_API_KEYS_FILE).toEqual(expect.any(String));
    expect(withoutPath).toEqual(plain);
    // Admin keys from the file turn auth on and are admin keys.
    const holder = ApiKeys.fromConfig(fromFile).match(keys[2]!);
    expect(holder?.admin).toBe(true);
  });

  it('refuses an ADMIN_API_KEYS_FILE that holds no key', () => {
    const path = secretFile('# nobody yet\n\n');
    expect(configError({ ADMIN_API_KEYS_FILE: path, WATCH_TOKEN_SECRET: WATCH_SECRET })).toContain(
      `ADMIN_API_KEYS_FILE: ${path} holds no key`,
    );
  });

  it('still combines API_KEYS with API_KEYS_FILE', () => {
    const fileKey = 'file-key-0123456789';
    const config = loadConfig({ API_KEYS: KEY, API_KEYS_FILE: secretFile(`${fileKey}\n`), WATCH_TOKEN_SECRET: WATCH_SECRET });
    const keys = ApiKeys.fromConfig(config);
    expect(keys.match(KEY)).not.toBeNull();
    expect(keys.match(fileKey)).not.toBeNull();
  });

  it('refuses a missing file, naming the variable and the path', () => {
    const path = join(dir, 'no-such-file');
    expect(configError({ WATCH_TOKEN_SECRET_FILE: path })).toContain(`WATCH_TOKEN_SECRET_FILE: cannot read ${path} (ENOENT)`);
  });

  it('refuses a directory, an empty file and a file past 64 KiB, naming the variable and the path', () => {
    expect(configError({ OPENAI_API_KEY_FILE: dir })).toContain(`OPENAI_API_KEY_FILE: cannot read ${dir} (EISDIR)`);
    const empty = secretFile('\n');
    expect(configError({ OPENAI_API_KEY_FILE: empty })).toContain(`OPENAI_API_KEY_FILE: ${empty} is empty`);
    const atBound = secretFile('a'.repeat(64 * 1024));
    expect(loadConfig({ OPENAI_API_KEY_FILE: atBound }).OPENAI_API_KEY).toHaveLength(64 * 1024);
    const big = secretFile('a'.repeat(64 * 1024 + 1));
    expect(configError({ OPENAI_API_KEY_FILE: big })).toContain(`OPENAI_API_KEY_FILE: ${big} is larger than 65536 bytes`);
  });

  it('never shows the secret: a value the schema refuses is named by its variable and file only', () => {
    const shortSecret = 'too-short-secret-from-a-file';
    const message = configError({ WATCH_TOKEN_SECRET_FILE: secretFile(`${shortSecret}\n`) });
    expect(message).toContain('WATCH_TOKEN_SECRET (from WATCH_TOKEN_SECRET_FILE): must be at least 32 characters');
    expect(message).not.toContain(shortSecret);
    const badWebhook = 'not-a-whsec-value-at-all';
    const webhook = configError({ WEBHOOK_SECRET_FILE: secretFile(badWebhook) });
    expect(webhook).toContain('WEBHOOK_SECRET (from WEBHOOK_SECRET_FILE)');
    expect(webhook).not.toContain(badWebhook);
  });

  it('names every problem in one error, files and other variables together', () => {
    const message = configError({ REDIS_PASSWORD_FILE: join(dir, 'gone'), PORT: '70000' });
    expect(message).toContain('REDIS_PASSWORD_FILE: cannot read');
    expect(message).toContain('PORT="70000"');
  });
});
