import { createHmac, timingSafeEqual } from 'node:crypto';
import { batchOf } from '@herald/contract';

/**
 * Watch tokens: `<jobId>.<expiry, unix seconds, base 36>.<HMAC-SHA256, base64url>`, or a
 * batch's: `<batchId>.…`, which also covers each of the batch's jobs.
 *
 * An HMAC rather than a JWT library: Herald is the only party that mints and checks them, for
 * one purpose with one algorithm, so there is no header to negotiate (no `alg` confusion), no
 * key distribution, and no dependency — twenty lines of node:crypto. The job id is in the clear
 * so a token for another job can be told apart (403) from a forged one (401); it is not a
 * secret, the signature is.
 */
export type TokenCheck = 'valid' | 'invalid' | 'expired' | 'other-job';

const FORMAT = /^([A-Za-z0-9_~-]{1,64})\.([0-9a-z]{1,12})\.([A-Za-z0-9_-]{43})$/;

export class WatchTokens {
  readonly #secret: string;
  readonly #ttlSeconds: number;

  constructor(secret: string, ttlSeconds: number) {
    this.#secret = secret;
    this.#ttlSeconds = ttlSeconds;
  }

  mint(jobId: string, nowMs = Date.now()): string {
    return this.issue(jobId, nowMs).token;
  }

  /** A token and its expiry in epoch milliseconds (what POST …/watch-tokens answers). */
  issue(jobId: string, nowMs = Date.now()): { token: string; expiresAt: number } {
    const expirySeconds = Math.floor(nowMs / 1000) + this.#ttlSeconds;
    const expiry = expirySeconds.toString(36);
    return { token: `${jobId}.${expiry}.${this.#sign(jobId, expiry).toString('base64url')}`, expiresAt: expirySeconds * 1000 };
  }

  check(token: string, jobId: string, nowMs = Date.now()): TokenCheck {
    const verified = this.verify(token, nowMs);
    if (typeof verified === 'string') return verified;
    return WatchTokens.covers(verified.subject, jobId) ? 'valid' : 'other-job';
  }

  /**
   * The token's signature and expiry, checked once: what it was minted for (`subject`), or why
   * it is refused for every job alike. A multi-job stream verifies each token so, then only
   * compares ids (`covers`): no HMAC per job.
   */
  verify(token: string, nowMs = Date.now()): 'invalid' | 'expired' | { readonly subject: string } {
    const parts = FORMAT.exec(token);
    if (!parts) return 'invalid';
    const [, tokenJob, expiry, signature] = parts as unknown as [string, string, string, string];
    const presented = Buffer.from(signature, 'base64url');
    const expected = this.#sign(tokenJob, expiry);
    if (presented.length !== expected.length || !timingSafeEqual(presented, expected)) return 'invalid';
    if (parseInt(expiry, 36) * 1000 <= nowMs) return 'expired';
    return { subject: tokenJob };
  }

  /** Whether a token minted for `subject` covers `jobId`: its own, or (a batch's token) each of the batch's jobs (`<batchId>~<n>`). */
  static covers(subject: string, jobId: string): boolean {
    return subject === jobId || subject === batchOf(jobId);
  }

  /** Whether a credential has the shape of a watch token (else it may be an API key). */
  static looksLikeToken(value: string): boolean {
    return FORMAT.test(value);
  }

  #sign(jobId: string, expiry: string): Buffer {
    return createHmac('sha256', this.#secret).update(`herald-watch:v1:${jobId}:${expiry}`).digest();
  }
}
