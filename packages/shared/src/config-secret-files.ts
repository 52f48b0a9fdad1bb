import { closeSync, openSync, readSync } from 'node:fs';

// Secrets mounted as files (Docker and Kubernetes secrets): each secret setting X may instead be
// given as X_FILE, a path read once at start-up by loadConfig (config.ts), before the schema sees
// the environment. API_KEYS_FILE is not here: it adds to API_KEYS, and the API reads it itself.

/** The most a secret file may hold: a secret is short, and a wrong path (a log, a device) must not be read whole. */
export const SECRET_FILE_MAX_BYTES = 64 * 1024;

/** Each secret a file may hold, and how the file is read: one value, or one key per line. */
const SECRET_FILES = {
  WATCH_TOKEN_SECRET: 'value',
  WEBHOOK_SECRET: 'value',
  REDIS_PASSWORD: 'value',
  REDIS_SENTINEL_PASSWORD: 'value',
  OPENAI_API_KEY: 'value',
  ADMIN_API_KEYS: 'lines',
} as const satisfies Record<string, 'value' | 'lines'>;

export type SecretFromFile = keyof typeof SECRET_FILES;

export interface SecretFiles {
  /** The secrets read from files, by their own name (ADMIN_API_KEYS: its keys). */
  readonly values: Partial<Record<SecretFromFile, string | string[]>>;
  /** What went wrong, one line per variable; never a secret's value. */
  readonly problems: readonly string[];
}

/** Reads every X_FILE that is set; `env` holds only non-empty variables. */
export function readSecretFiles(env: Readonly<Record<string, string | undefined>>): SecretFiles {
  const values: Partial<Record<SecretFromFile, string | string[]>> = {};
  const problems: string[] = [];
  for (const [name, form] of Object.entries(SECRET_FILES) as [SecretFromFile, 'value' | 'lines'][]) {
    const fileVariable = `${name}_FILE`;
    const path = env[fileVariable];
    if (path === undefined) continue;
    if (env[name] !== undefined) {
      problems.push(`${fileVariable}: set only one of ${name} and ${fileVariable}`);
      continue;
    }
    const read = readBounded(path);
    if (typeof read !== 'string') {
      problems.push(`${fileVariable}: ${read.problem}`);
      continue;
    }
    if (form === 'lines') {
      const keys = read
        .split(/\r?\n/)
        .map((line) => line.trim())
        .filter((line) => line !== '' && !line.startsWith('#'));
      if (keys.length === 0) problems.push(`${fileVariable}: ${path} holds no key`);
      else values[name] = keys;
      continue;
    }
    // An editor's or `echo`'s trailing newline is not part of the secret; only one goes.
    const value = read.endsWith('\r\n') ? read.slice(0, -2) : read.endsWith('\n') ? read.slice(0, -1) : read;
    if (value === '') problems.push(`${fileVariable}: ${path} is empty`);
    else values[name] = value;
  }
  return { values, problems };
}

/** The file's text, or why it cannot be had (its path and the error's code, never its contents). */
function readBounded(path: string): string | { problem: string } {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (error) {
    return { problem: `cannot read ${path} (${(error as NodeJS.ErrnoException).code ?? 'error'})` };
  }
  try {
    // One byte past the bound tells a file at the bound from a longer one.
    const buffer = Buffer.alloc(SECRET_FILE_MAX_BYTES + 1);
    let length = 0;
    while (length < buffer.length) {
      const got = readSync(fd, buffer, length, buffer.length - length, null);
      if (got === 0) break;
      length += got;
    }
    if (length > SECRET_FILE_MAX_BYTES) return { problem: `${path} is larger than ${SECRET_FILE_MAX_BYTES} bytes` };
    return buffer.toString('utf8', 0, length);
  } catch (error) {
    return { problem: `cannot read ${path} (${(error as NodeJS.ErrnoException).code ?? 'error'})` };
  } finally {
    closeSync(fd);
  }
}
