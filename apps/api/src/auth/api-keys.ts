import { createHmac, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { ConfigError, type Config } from '@herald/shared';
import { PublishTokens } from './publish-tokens.ts';
import { WatchJwts } from './watch-jwts.ts';
import { WatchTokens } from './watch-tokens.ts';

/**
 * Who a valid key belongs to, without the key: a short keyed digest, safe for logs and limit
 * keys, and the owner stored with each job the key submits.
 */
export interface KeyHolder {
  readonly keyId: string;
  /** An ADMIN_API_KEYS key: it sees and cancels every job, whoever made it. */
  readonly admin: boolean;
}

/**
 * A key's digest: HMAC-SHA256 keyed with WATCH_TOKEN_SECRET (its own label, so it can never
 * equal a token's signature). Keyed, so the keyId in logs and in Redis (its first 48 bits) gives
 * nothing to test guesses of a key against offline without the secret; a bare hash would.
 */
const digest = (secret: string, key: string): Buffer => createHmac('sha256', secret).update(`herald-key-id:v1:${key}`, 'utf8').digest();

/**
 * The API keys that may submit and manage jobs. Only their keyed digests are kept; a presented
 * key's digest is compared with every one of them in constant time, so neither its length nor
 * how much of it matched shows in the time an answer takes.
 */
export class ApiKeys {
  readonly #secret: string;
  readonly #digests: readonly Buffer[];
  /** Which of #digests are admin keys (ADMIN_API_KEYS), by index. */
  readonly #admin: ReadonlySet<number>;

  private constructor(secret: string, keys: readonly string[], adminKeys: readonly string[]) {
    this.#secret = secret;
    this.#digests = [...keys, ...adminKeys].map((key) => digest(secret, key));
    this.#admin = new Set(adminKeys.map((_, i) => keys.length + i));
  }

  /**
   * API_KEYS and the lines of API_KEYS_FILE (blank lines and # comments skipped), and
   * ADMIN_API_KEYS, digested with WATCH_TOKEN_SECRET (required whenever a key is set).
   */
  static fromConfig(config: Pick<Config, 'API_KEYS' | 'API_KEYS_FILE' | 'ADMIN_API_KEYS' | 'WATCH_TOKEN_SECRET'>): ApiKeys {
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
    const all = [...keys, ...config.ADMIN_API_KEYS];
    if (all.some((key) => key.length < 16))
      throw new ConfigError('API_KEYS / API_KEYS_FILE / ADMIN_API_KEYS: every key must be at least 16 characters');
    // A bearer of those shapes is read as a token, so such a key could never watch or publish.
    if (all.some((key) => WatchTokens.looksLikeToken(key) || PublishTokens.looksLikeToken(key) || WatchJwts.looksLikeJwt(key))) {
      throw new ConfigError(
        'API_KEYS / API_KEYS_FILE / ADMIN_API_KEYS: a key must not look like a watch or publish token (<id>.<…>) or a JWT',
      );
    }
    if (all.length > 0 && config.WATCH_TOKEN_SECRET === undefined) {
      throw new ConfigError('WATCH_TOKEN_SECRET: is required when API_KEYS, API_KEYS_FILE or ADMIN_API_KEYS is set');
    }
    return new ApiKeys(config.WATCH_TOKEN_SECRET ?? '', keys, config.ADMIN_API_KEYS);
  }

  /** Whether any key is configured, i.e. whether auth is on. */
  get enabled(): boolean {
    return this.#digests.length > 0;
  }

  /** The holder of `presented` when it is one of the keys, else null. */
  match(presented: string): KeyHolder | null {
    if (!this.enabled) return null;
    const candidate = digest(this.#secret, presented);
    let found = -1;
    // No early exit: every key is compared, whichever matches.
    this.#digests.forEach((known, i) => {
      if (timingSafeEqual(known, candidate)) found = i;
    });
    return found === -1 ? null : { keyId: candidate.toString('hex').slice(0, 12), admin: this.#admin.has(found) };
  }
}
