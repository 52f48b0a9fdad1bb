import type { IncomingMessage } from 'node:http';
import { MAX_CREDENTIAL_CHARS } from '@herald/contract';
import type { ClientIpOf } from '../http/client-ip.ts';
import {
  badRequest,
  batchNotFound,
  forbidden,
  invalidToken,
  jobNotFound,
  serviceUnavailable,
  tokenExpired,
  unauthorized,
} from '../http/errors.ts';
import type { ApiKeys } from './api-keys.ts';
import { JWKS_RETRY_AFTER_FAILURE_MS } from './jwks-fetch.ts';
import { PublishTokens } from './publish-tokens.ts';
import { WatchGrant, WatchJwts, type WatchedKind } from './watch-jwts.ts';
import { WatchTokens } from './watch-tokens.ts';

/** Who is asking, as limits, logs and ownership see them: never the key itself. */
export interface Caller {
  /** The API key's short digest; null when auth is off or the caller holds only a token. */
  readonly keyId: string | null;
  /** An ADMIN_API_KEYS key: sees and cancels every job. */
  readonly admin: boolean;
  readonly ip: string;
}

/** What ownership looks at: the key that made the job (null: made with auth off). */
export interface Owned {
  readonly owner: string | null;
}

/** The credential's length is checked apart (MAX_CREDENTIAL_CHARS): one bound, owned by the contract. */
const BEARER = /^Bearer[ \t]+([\x21-\x7e]+)[ \t]*$/i;

/** A key set that could not be fetched is tried again this long after (jwks-fetch.ts). */
const JWKS_RETRY_AFTER_SECONDS = JWKS_RETRY_AFTER_FAILURE_MS / 1000;

/** What a verified token allows (a forged or expired one never gets this far): `covers` only compares ids, false for another job. */
interface TokenPass {
  covers(id: string, kind: WatchedKind): boolean;
}

/** An API key's holder: the job's owner decides later (requireReach). */
type WatchPass = TokenPass | { readonly caller: Caller };

/** A credential refused for every job alike; kept, not thrown, so a multi-job stream can try the next token. */
class WatchRefusal {
  readonly error: unknown;
  constructor(error: unknown) {
    this.error = error;
  }
}

/**
 * Who may do what (docs/security.md). With auth on: submitting needs an API key; a job belongs
 * to the key that made it, and another key learns nothing of it (404), unless it is an admin
 * key; watching needs the job's watch token (as `?token=`, for EventSource, or as a bearer) or
 * the owning key; a snapshot may also be read with the job's watch token. Publishing into an
 * external job needs its publish token — with auth off too — or, with auth on, the owning key.
 * With auth off everything else is open.
 */
export class Access {
  readonly #keys: ApiKeys;
  readonly #tokens: WatchTokens | null;
  readonly #jwts: WatchJwts | null;
  readonly #publishTokens: PublishTokens;
  readonly #ipOf: ClientIpOf;
  readonly #callers = new WeakMap<IncomingMessage, Caller>();

  /** `jwts`: watch JWTs' verifier, when WATCH_JWKS_URL is set; null: a JWT is refused as invalid_token. */
  constructor(keys: ApiKeys, tokens: WatchTokens | null, publishTokens: PublishTokens, ipOf: ClientIpOf, jwts: WatchJwts | null = null) {
    this.#keys = keys;
    this.#tokens = tokens;
    this.#jwts = jwts;
    this.#publishTokens = publishTokens;
    this.#ipOf = ipOf;
  }

  get enabled(): boolean {
    return this.#keys.enabled;
  }

  /** A token for watching `jobId`, when tokens are configured (always, with auth on). */
  watchToken(jobId: string): string | null {
    return this.#tokens?.mint(jobId) ?? null;
  }

  /** A fresh watch token for `jobId` (or a batch) and its expiry in epoch ms, when tokens are configured. */
  issueWatchToken(jobId: string): { watchToken: string; expiresAt: number } | null {
    const issued = this.#tokens?.issue(jobId);
    return issued ? { watchToken: issued.token, expiresAt: issued.expiresAt } : null;
  }

  /** The token that lets a producer publish into `jobId` (an external job). */
  publishToken(jobId: string): Promise<string> {
    return this.#publishTokens.mint(jobId);
  }

  /** The caller as the last check saw them; the IP alone for requests no check ran on. */
  callerOf(req: IncomingMessage): Caller {
    return this.#callers.get(req) ?? { keyId: null, admin: false, ip: this.#ipOf(req) };
  }

  /** POST /v1/jobs, DELETE: an API key. Throws 401. */
  requireKey(req: IncomingMessage): Caller {
    if (!this.enabled) return this.#remember(req, null, false);
    const credential = bearerOf(req);
    if (credential === null) throw unauthorized('An API key is required: send Authorization: Bearer <key>');
    const holder = this.#keys.match(credential);
    if (!holder) throw unauthorized('The API key is not valid');
    return this.#remember(req, holder.keyId, holder.admin);
  }

  /**
   * The stream and the snapshot: the job's watch token (query or bearer; a batch's token covers
   * each of its jobs), a watch JWT that covers it (WATCH_JWKS_URL), or an API key; `id` is a
   * batch's when `kind` is 'batch'. Throws 401 for a missing, forged or expired credential, 403
   * for a token of another job. Async for the JWT's key set; Herald's own tokens and keys are
   * checked without waiting on anything.
   */
  async requireWatcher(req: IncomingMessage, id: string, queryToken: string | null, kind: WatchedKind = 'job'): Promise<Caller> {
    if (!this.enabled) return this.#remember(req, null, false);
    const pass = await this.#watchPass(req, queryToken);
    const verdict = verdictOf(pass, id, kind);
    if (verdict !== true) throw errorOf(verdict);
    return 'caller' in pass ? pass.caller : this.#remember(req, null, false);
  }

  /**
   * GET /v1/events?jobs=…: every job must be covered, by an API key (Authorization) or by one of
   * the `?token=`s given (a job's own, its batch's, which covers all of the batch's jobs, or a
   * watch JWT covering it). Each token is checked once, and only when a job needs it; a job none
   * covers is refused with the first refusal met.
   */
  async requireWatcherOfAll(req: IncomingMessage, jobIds: readonly string[], queryTokens: readonly string[]): Promise<Caller> {
    if (queryTokens.length > jobIds.length || queryTokens.some((token) => token.length > MAX_CREDENTIAL_CHARS)) {
      throw badRequest('token may be given once per job at most, each a single watch token');
    }
    if (!this.enabled) return this.#remember(req, null, false);
    // The same token given twice is verified once: a JWT's signature check is the dearest step.
    const given: (string | null)[] = queryTokens.length === 0 ? [null] : [...new Set(queryTokens)];
    const passes: (WatchPass | WatchRefusal | undefined)[] = [];
    for (const jobId of jobIds) {
      let refusal: 'other-job' | WatchRefusal | undefined;
      for (const [i, token] of given.entries()) {
        passes[i] ??= await this.#watchPass(req, token);
        // A credential refused outright (forged, expired, a publish token) refuses the request as
        // soon as it is met: junk tokens cost one check in all, not one each (an ES256 JWT's is
        // the dearest step, and needs no credential to send).
        if (passes[i] instanceof WatchRefusal) throw passes[i].error;
        const verdict = verdictOf(passes[i], jobId, 'job');
        if (verdict === true) {
          refusal = undefined;
          break;
        }
        refusal ??= verdict;
      }
      if (refusal !== undefined) throw errorOf(refusal);
    }
    // A key's pass remembered its holder; tokens carry no identity.
    const keyPass = passes.find((pass) => pass !== undefined && !(pass instanceof WatchRefusal) && 'caller' in pass);
    return keyPass && 'caller' in keyPass ? keyPass.caller : this.#remember(req, null, false);
  }

  /**
   * GET /v1/events?tag=T (docs/api.md, "A tag's stream"): an API key, which sees its own jobs of
   * the tag (an admin key: every key's), or a watch JWT whose `herald` claim lists the tag, which
   * sees every job of the tag. Herald's own watch tokens name a job or a batch, never a tag. With
   * auth off, every job of the tag. `only`: whose jobs the caller sees (null: everyone's).
   */
  async requireTagWatcher(req: IncomingMessage, tag: string, queryToken: string | null): Promise<{ caller: Caller; only: string | null }> {
    if (!this.enabled) return { caller: this.#remember(req, null, false), only: null };
    const pass = await this.#watchPass(req, queryToken);
    if (pass instanceof WatchRefusal) throw pass.error;
    if ('caller' in pass) return { caller: pass.caller, only: pass.caller.admin ? null : pass.caller.keyId };
    if (!(pass instanceof WatchGrant))
      throw forbidden('A watch token names a job or a batch; a tag’s stream takes an API key or a watch JWT listing the tag');
    if (!pass.coversTag(tag)) throw forbidden('This watch JWT’s herald claim does not list this tag');
    return { caller: this.#remember(req, null, false), only: null };
  }

  /**
   * What one watching credential allows: an API key's holder (who may watch what the key
   * reaches), or what a token covers; a refusal (401, 403) that holds for every job alike. The
   * credential is the `?token=` when given, else the bearer.
   */
  async #watchPass(req: IncomingMessage, queryToken: string | null): Promise<WatchPass | WatchRefusal> {
    try {
      const bearer = bearerOf(req);
      const credential = queryToken ?? bearer;
      if (credential === null) {
        throw unauthorized('A watch token is required: add ?token=<watchToken>, or send Authorization: Bearer <watchToken or API key>');
      }
      // Herald's own token first (it never looks like a JWT: its middle part is ≤ 12 characters).
      if (WatchTokens.looksLikeToken(credential)) return this.#hmacPass(credential);
      if (WatchJwts.looksLikeJwt(credential)) return await this.#jwtPass(credential);
      // A `?token=` is a token whatever its shape: one of no known shape is a forged one.
      if (queryToken !== null) return this.#hmacPass(credential);
      if (PublishTokens.looksLikeToken(credential)) throw forbidden('A publish token publishes; watching takes the job’s watch token');
      const holder = this.#keys.match(credential);
      if (!holder) throw unauthorized('The API key is not valid');
      return { caller: this.#remember(req, holder.keyId, holder.admin) };
    } catch (error) {
      return new WatchRefusal(error);
    }
  }

  /** Verified here, once (a forged or expired token throws its 401 for every job alike); `covers` then only compares ids. */
  #hmacPass(token: string): TokenPass {
    const verified = this.#tokens!.verify(token);
    if (verified === 'expired') throw tokenExpired();
    if (verified === 'invalid') throw invalidToken();
    return { covers: (id) => WatchTokens.covers(verified.subject, id) };
  }

  async #jwtPass(token: string): Promise<TokenPass> {
    if (this.#jwts === null) throw invalidToken('Watch JWTs are not taken here (WATCH_JWKS_URL is not set)');
    const check = await this.#jwts.check(token);
    switch (check.verdict) {
      case 'valid':
        return check.grant;
      case 'expired':
        throw tokenExpired('The watch JWT has expired');
      case 'keys-unavailable':
        throw serviceUnavailable('jwks_unavailable', undefined, JWKS_RETRY_AFTER_SECONDS);
      default:
        throw invalidToken(`The watch JWT is not valid: ${check.why}`);
    }
  }

  /**
   * POST /v1/jobs/{id}/events: the job's publish token as a bearer, or (auth on) an API key.
   * Never open. Throws 401 for none or a forged one, 403 for a watch token or another job's.
   */
  async requirePublisher(req: IncomingMessage, jobId: string): Promise<Caller> {
    const credential = bearerOf(req);
    if (credential === null) throw unauthorized("Publishing needs the job's publish token: send Authorization: Bearer <publishToken>");
    // The publish token first: every producer event carries one. It has one dot, a watch token
    // and a JWT two, so the order changes no answer.
    if (PublishTokens.looksLikeToken(credential)) {
      const check = await this.#publishTokens.check(credential, jobId);
      if (check === 'other-job') throw forbidden('This publish token is for another job');
      if (check !== 'valid') throw unauthorized('The publish token is not valid');
      return this.#remember(req, null, false);
    }
    if (WatchTokens.looksLikeToken(credential) || WatchJwts.looksLikeJwt(credential)) {
      throw forbidden('A watch token only watches; publishing takes the job’s publish token');
    }
    const holder = this.enabled ? this.#keys.match(credential) : null;
    if (!holder) throw unauthorized('The publish token is not valid');
    return this.#remember(req, holder.keyId, holder.admin);
  }

  /**
   * /admin: an admin key (ADMIN_API_KEYS), as a bearer or as the password of HTTP Basic (what a
   * browser can send, after asking). Throws 401 (with a Basic challenge, so a browser asks) for
   * none or an unknown key, 403 for a key that is not an admin's.
   */
  requireAdmin(req: IncomingMessage): Caller {
    const header = req.headers.authorization ?? '';
    const basic = /^Basic[ \t]+([A-Za-z0-9+/=]{1,1024})[ \t]*$/i.exec(header);
    const credential = basic
      ? Buffer.from(basic[1]!, 'base64')
          .toString('utf8')
          .replace(/^[^:]*:/, '')
      : header === ''
        ? null
        : bearerOf(req);
    const challenge = { 'WWW-Authenticate': 'Basic realm="Herald admin", charset="UTF-8"' };
    if (!credential) throw unauthorized('An admin key is required', challenge);
    const holder = this.#keys.match(credential);
    if (!holder) throw unauthorized('The admin key is not valid', challenge);
    if (!holder.admin) throw forbidden('This key is not an admin key (ADMIN_API_KEYS)');
    return this.#remember(req, holder.keyId, true);
  }

  /** Whether a job's owner decides if this caller reaches it (a key that is not an admin key): then read the owner first. */
  ownerDecides(caller: Caller): boolean {
    return caller.keyId !== null && !caller.admin;
  }

  /**
   * Whether the caller may see this job at all; throws the same 404 as an unknown job when not,
   * so another key learns nothing of it. A token was checked against the job already.
   */
  requireReach(caller: Caller, job: Owned, what: 'job' | 'batch' = 'job'): void {
    if (!this.ownerDecides(caller) || job.owner === null || job.owner === caller.keyId) return;
    throw what === 'job' ? jobNotFound() : batchNotFound();
  }

  #remember(req: IncomingMessage, keyId: string | null, admin: boolean): Caller {
    const caller = { keyId, admin, ip: this.#ipOf(req) };
    this.#callers.set(req, caller);
    return caller;
  }
}

/**
 * Whether `pass` lets its holder watch `id`: true, 'other-job' (a valid token for something
 * else), or the refusal to throw (a key's holder: the owner decides later). No error is built
 * for 'other-job' here: a multi-job stream meets it up to jobs × tokens times and throws at most once.
 */
function verdictOf(pass: WatchPass | WatchRefusal, id: string, kind: WatchedKind): true | 'other-job' | WatchRefusal {
  if (pass instanceof WatchRefusal) return pass;
  if ('caller' in pass) return true;
  return pass.covers(id, kind) ? true : 'other-job';
}

/** What a refusal met by verdictOf throws. */
const errorOf = (refusal: 'other-job' | WatchRefusal): unknown =>
  refusal === 'other-job' ? forbidden('This watch token is for another job') : refusal.error;

/** The credential in `Authorization: Bearer …`, null without the header; a malformed one is a 401. */
function bearerOf(req: IncomingMessage): string | null {
  const header = req.headers.authorization;
  if (header === undefined) return null;
  const match = BEARER.exec(header);
  if (!match || match[1]!.length > MAX_CREDENTIAL_CHARS) {
    throw unauthorized(`The Authorization header must be: Bearer <credential>, of at most ${MAX_CREDENTIAL_CHARS} characters`);
  }
  return match[1]!;
}
