import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { ConfigError, type Config } from '@herald/shared';
import { WatchTokens } from './watch-tokens.ts';

/** Who a valid key belongs to, without the key: a short digest, safe for logs and limit keys. */
export interface KeyHolder {
  readonly keyId: string;
}

const digest = (value: string): Buffer => createHash('sha256').update(value, 'utf8').digest();

/**
 * The API keys that may submit and manage jobs. Only their SHA-256 digests are kept; a
 * presented key is hashed and compared with every one of them in constant time, so neither its
 * length nor how much of it matched shows in the time an answer takes.
 */
export class ApiKeys {
  readonly #digests: readonly Buffer[];

  private constructor(keys: readonly string[]) {
    this.#digests = keys.map(digest);
  }

  /** API_KEYS and the lines of API_KEYS_FILE (blank lines and # comments skipped). */
  static fromConfig(config: Pick<Config, 'API_KEYS' | 'API_KEYS_FILE'>): ApiKeys {
    const keys = [...config.API_KEYS];
    if (config.API_KEYS_FILE !== undefined) {
      let text: string;
      try {
        text = readFileSync(config.API_KEYS_FILE, 'utf8');
      } catch (error) {
        throw new ConfigError(`API_KEYS_FILE: cannot read ${config.API_KEYS_FILE} (${(error as NodeJS.ErrnoException).code ?? 'error'})`);
      }
      const lines = text.split(/\r?\n/).map((line) => line.trim());
      keys.push(...lines.filter((line) => line !== '' && !line.startsWith('#')));
      if (keys.length === 0) throw new ConfigError(`API_KEYS_FILE: ${config.API_KEYS_FILE} holds no key`);
    }
    if (keys.some((key) => key.length < 16)) throw new ConfigError('API_KEYS / API_KEYS_FILE: every key must be at least 16 characters');
    // A bearer of that shape is read as a watch token, so such a key could never watch.
    if (keys.some(WatchTokens.looksLikeToken))
      throw new ConfigError('API_KEYS / API_KEYS_FILE: a key must not look like a watch token (<id>.<expiry>.<signature>)');
    return new ApiKeys(keys);
  }

  /** Whether any key is configured, i.e. whether auth is on. */
  get enabled(): boolean {
    return this.#digests.length > 0;
  }

  /** The holder of `presented` when it is one of the keys, else null. */
  match(presented: string): KeyHolder | null {
    const candidate = digest(presented);
    let found = -1;
    // No early exit: every key is compared, whichever matches.
    this.#digests.forEach((known, i) => {
      if (timingSafeEqual(known, candidate)) found = i;
    });
    return found === -1 ? null : { keyId: candidate.toString('hex').slice(0, 12) };
  }
}
