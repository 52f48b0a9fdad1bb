import { TAG_PATTERN, batchOf } from '@herald/contract';
import { createRemoteJWKSet, customFetch, errors, jwtVerify, type JWTVerifyGetKey } from 'jose';
import { boundedJwksFetch, JwksFetchThrottled } from './jwks-fetch.ts';

/**
 * Watch JWTs (docs/security.md): watch tokens minted by the adopter's own backend rather than by
 * Herald, signed with a key of theirs and checked against their JWKS (WATCH_JWKS_URL). The claim
 * `herald` says what one may watch: `{"jobs": [ids], "batches": [ids], "tags": [tags]}`; a batch
 * covers each of its jobs, as a batch's watch token does, and a tag its tag stream (every job
 * with that tag, whoever submitted it).
 *
 * Unlike Herald's own tokens (watch-tokens.ts, an HMAC), these cross a trust boundary: another
 * party signs them, with a key Herald must fetch and may see rotated. So jose does the parts
 * that are easy to get wrong: the JWS checks, `alg` against an allow-list (no `none`, no HMAC, so
 * a public key can never be used as an HMAC secret), the JWKS cache and its refetch on an
 * unknown `kid`.
 */
export type JwtCheck =
  | { readonly verdict: 'valid'; readonly grant: WatchGrant }
  | { readonly verdict: 'expired' }
  | { readonly verdict: 'invalid'; readonly why: string }
  /** The key set could not be had (fetch failed, timed out, too large, not a JWKS): not the token's fault. */
  | { readonly verdict: 'keys-unavailable' };

export type WatchedKind = 'job' | 'batch';

export interface WatchJwtSettings {
  readonly jwksUrl: string;
  readonly issuer: string;
  readonly audience: string;
}

/** How the key set is fetched and kept; the defaults are the contract (docs/api.md), tests shorten them. */
export interface KeySetTiming {
  /** After a fetch, how long a token with an unknown `kid` is refused rather than fetched for. */
  readonly cooldownMs: number;
  /** How long fetched keys are used before they are fetched again (a key removed from the set stops working within this). */
  readonly cacheMaxAgeMs: number;
  /** One fetch's whole time: connect, answer, body. */
  readonly timeoutMs: number;
}

export const KEY_SET_TIMING: KeySetTiming = { cooldownMs: 30_000, cacheMaxAgeMs: 10 * 60_000, timeoutMs: 3_000 };

/** Asymmetric only: an HMAC `alg` would let whoever knows a public key forge tokens with it. */
export const WATCH_JWT_ALGORITHMS = ['ES256', 'RS256', 'EdDSA'] as const;

/** Leeway for the adopter's clock against Herald's, on `exp` and `nbf`. */
const CLOCK_TOLERANCE_SECONDS = 5;

/** What a verified JWT's `herald` claim lets its holder watch. */
export class WatchGrant {
  readonly #jobs: ReadonlySet<string>;
  readonly #batches: ReadonlySet<string>;
  readonly #tags: ReadonlySet<string>;

  constructor(jobs: readonly string[], batches: readonly string[], tags: readonly string[] = []) {
    this.#jobs = new Set(jobs);
    this.#batches = new Set(batches);
    this.#tags = new Set(tags);
  }

  /** A tag's stream (GET /v1/events?tag=): listed in `tags`, which covers every job with that tag, whoever submitted it. */
  coversTag(tag: string): boolean {
    return this.#tags.has(tag);
  }

  /** A job: listed in `jobs`, or its batch in `batches`. A batch (its stream, its snapshot): listed in `batches`. */
  covers(id: string, kind: WatchedKind): boolean {
    if (kind === 'batch') return this.#batches.has(id);
    if (this.#jobs.has(id)) return true;
    const batch = batchOf(id);
    return batch !== null && this.#batches.has(batch);
  }
}

export class WatchJwts {
  readonly #settings: WatchJwtSettings;
  readonly #keys: JWTVerifyGetKey & { reload(): Promise<void> };

  /** `onKeySetFailure`: each failed fetch of the key set (for the log), not each refused request. */
  constructor(settings: WatchJwtSettings, onKeySetFailure: (error: Error) => void, timing: KeySetTiming = KEY_SET_TIMING) {
    this.#settings = settings;
    this.#keys = createRemoteJWKSet(new URL(settings.jwksUrl), {
      cooldownDuration: timing.cooldownMs,
      cacheMaxAge: timing.cacheMaxAgeMs,
      timeoutDuration: timing.timeoutMs,
      [customFetch]: boundedJwksFetch(onKeySetFailure),
    });
  }

  /** Fetches the key set now (at start-up), so the first watcher does not wait for it and a wrong URL shows in the log at once. */
  warmUp(): Promise<void> {
    return this.#keys.reload().catch(() => {}); // reported through onKeySetFailure
  }

  async check(token: string): Promise<JwtCheck> {
    const header = jwtHeaderOf(token);
    if (header === null) return { verdict: 'invalid', why: 'not a JWT' };
    // Refused before any key is looked up, so junk never sends a fetch.
    if (!(WATCH_JWT_ALGORITHMS as readonly unknown[]).includes(header.alg)) {
      return { verdict: 'invalid', why: `alg must be one of ${WATCH_JWT_ALGORITHMS.join(', ')}` };
    }
    if (typeof header.kid !== 'string' || header.kid === '') return { verdict: 'invalid', why: 'the header must name its key (kid)' };
    let unavailable = false;
    const keys: JWTVerifyGetKey = async (protectedHeader, jws) => {
      try {
        return await this.#keys(protectedHeader, jws);
      } catch (error) {
        // No key of that kid (after the refetch it may cause) is the token's fault; anything else the key set's.
        if (!(error instanceof errors.JWKSNoMatchingKey || error instanceof errors.JWKSMultipleMatchingKeys)) unavailable = true;
        throw error;
      }
    };
    try {
      const { payload } = await jwtVerify(token, keys, {
        algorithms: [...WATCH_JWT_ALGORITHMS],
        issuer: this.#settings.issuer,
        audience: this.#settings.audience,
        requiredClaims: ['exp'],
        clockTolerance: CLOCK_TOLERANCE_SECONDS,
      });
      const grant = grantOf(payload.herald);
      return grant === null
        ? { verdict: 'invalid', why: 'the herald claim must be {"jobs"?: [ids], "batches"?: [ids], "tags"?: [tags]}' }
        : { verdict: 'valid', grant };
    } catch (error) {
      if (unavailable || error instanceof JwksFetchThrottled) return { verdict: 'keys-unavailable' };
      if (error instanceof errors.JWTExpired) return { verdict: 'expired' };
      return { verdict: 'invalid', why: reasonOf(error) };
    }
  }

  /** Whether a credential has the shape of a JWT: three base64url parts, the first a JSON header with an `alg`. */
  static looksLikeJwt(value: string): boolean {
    return jwtHeaderOf(value) !== null;
  }
}

/** The longest list each of `jobs`, `batches` and `tags` may be. */
const MAX_IDS = 1_000;

/**
 * The `herald` claim: `jobs`, `batches` and `tags`, each a list (any may be absent); a tag
 * follows the contract's tag rule (TAG_PATTERN, linear). Other keys are ignored: a claim only
 * grants, so one this Herald does not know (a later version's) grants nothing here rather than
 * failing the whole token.
 */
function grantOf(claim: unknown): WatchGrant | null {
  if (typeof claim !== 'object' || claim === null || Array.isArray(claim)) return null;
  const { jobs = [], batches = [], tags = [] } = claim as { jobs?: unknown; batches?: unknown; tags?: unknown };
  const listOf = (list: unknown, valid: (item: string) => boolean): list is string[] =>
    Array.isArray(list) && list.length <= MAX_IDS && list.every((item) => typeof item === 'string' && valid(item));
  const id = (item: string): boolean => item !== '';
  const tag = (item: string): boolean => TAG_PATTERN.test(item);
  return listOf(jobs, id) && listOf(batches, id) && listOf(tags, tag) ? new WatchGrant(jobs, batches, tags) : null;
}

function reasonOf(error: unknown): string {
  if (error instanceof errors.JWSSignatureVerificationFailed) return 'bad signature';
  if (error instanceof errors.JWKSNoMatchingKey) return 'no key in the key set has its kid';
  if (error instanceof errors.JOSEAlgNotAllowed) return `alg must be one of ${WATCH_JWT_ALGORITHMS.join(', ')}`;
  if (error instanceof errors.JWTClaimValidationFailed) return error.message; // e.g. `unexpected "aud" claim value`
  return 'malformed';
}

const isBase64url = (code: number): boolean =>
  (code >= 0x41 && code <= 0x5a) || (code >= 0x61 && code <= 0x7a) || (code >= 0x30 && code <= 0x39) || code === 0x2d || code === 0x5f;

/**
 * The JOSE header of a compact JWS, or null when `value` is not shaped as one: exactly three
 * base64url parts (the first two non-empty), the first decoding to a JSON object with a string `alg`. One pass
 * over the characters (no pattern that could backtrack), then one JSON.parse of the first part.
 */
function jwtHeaderOf(value: string): { readonly alg: string; readonly kid?: unknown } | null {
  let dots = 0;
  let firstDot = -1;
  let previous = -1;
  for (let i = 0; i < value.length; i += 1) {
    const code = value.charCodeAt(i);
    if (code === 0x2e) {
      if (i === previous + 1 || ++dots > 2) return null; // an empty part, or a fourth
      if (dots === 1) firstDot = i;
      previous = i;
    } else if (!isBase64url(code)) return null;
  }
  // An empty signature stays JWT-shaped (`alg: none`'s): refused below with a reason, not taken for an API key.
  if (dots !== 2) return null;
  let header: unknown;
  try {
    header = JSON.parse(Buffer.from(value.slice(0, firstDot), 'base64url').toString('utf8'));
  } catch {
    return null;
  }
  if (typeof header !== 'object' || header === null || typeof (header as { alg?: unknown }).alg !== 'string') return null;
  return header as { alg: string; kid?: unknown };
}
