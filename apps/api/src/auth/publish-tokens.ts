import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * Publish tokens: `<jobId>.<HMAC-SHA256, base64url>`, what lets a producer publish into one
 * external job (POST /v1/jobs/{id}/events). Never optional, even with auth off: publishing is
 * writing, and a job id alone must not let anyone write. Bound to the job, without an expiry —
 * the job itself expires. Signed with a different purpose than watch tokens (so one cannot be
 * made into the other) and told apart by shape: two parts, not three.
 */
export type PublishTokenCheck = 'valid' | 'invalid' | 'other-job';

const FORMAT = /^([A-Za-z0-9_-]{1,64})\.([A-Za-z0-9_-]{43})$/;

export class PublishTokens {
  /** Resolved once: the token secret may have to be read from Redis (auth/token-secret.ts). */
  readonly #secret: () => Promise<string>;

  constructor(secret: () => Promise<string>) {
    this.#secret = secret;
  }

  async mint(jobId: string): Promise<string> {
    return `${jobId}.${(await this.#sign(jobId)).toString('base64url')}`;
  }

  async check(token: string, jobId: string): Promise<PublishTokenCheck> {
    const parts = FORMAT.exec(token);
    if (!parts) return 'invalid';
    const [, tokenJob, signature] = parts as unknown as [string, string, string];
    const presented = Buffer.from(signature, 'base64url');
    const expected = await this.#sign(tokenJob);
    if (presented.length !== expected.length || !timingSafeEqual(presented, expected)) return 'invalid';
    return tokenJob === jobId ? 'valid' : 'other-job';
  }

  static looksLikeToken(value: string): boolean {
    return FORMAT.test(value);
  }

  async #sign(jobId: string): Promise<Buffer> {
    return createHmac('sha256', await this.#secret())
      .update(`herald-publish:v1:${jobId}`)
      .digest();
  }
}
