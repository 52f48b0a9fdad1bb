import type { IncomingMessage } from 'node:http';
import type { ClientIpOf } from '../http/client-ip.ts';
import { badRequest, batchNotFound, forbidden, invalidToken, jobNotFound, tokenExpired, unauthorized } from '../http/errors.ts';
import type { ApiKeys } from './api-keys.ts';
import { PublishTokens } from './publish-tokens.ts';
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

const BEARER = /^Bearer[ \t]+([\x21-\x7e]{1,512})[ \t]*$/i;

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
  readonly #publishTokens: PublishTokens;
  readonly #ipOf: ClientIpOf;
  readonly #callers = new WeakMap<IncomingMessage, Caller>();

  constructor(keys: ApiKeys, tokens: WatchTokens | null, publishTokens: PublishTokens, ipOf: ClientIpOf) {
    this.#keys = keys;
    this.#tokens = tokens;
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
   * each of its jobs) or an API key; `jobId` may be a batch's id. Throws 401 for a missing,
   * forged or expired credential, 403 for another job's token.
   */
  requireWatcher(req: IncomingMessage, jobId: string, queryToken: string | null): Caller {
    if (!this.enabled) return this.#remember(req, null, false);
    const bearer = bearerOf(req);
    const credential = queryToken ?? bearer;
    if (credential === null) {
      throw unauthorized('A watch token is required: add ?token=<watchToken>, or send Authorization: Bearer <watchToken or API key>');
    }
    if (queryToken === null && !WatchTokens.looksLikeToken(credential)) {
      if (PublishTokens.looksLikeToken(credential)) throw forbidden('A publish token publishes; watching takes the job’s watch token');
      const holder = this.#keys.match(credential);
      if (!holder) throw unauthorized('The API key is not valid');
      return this.#remember(req, holder.keyId, holder.admin);
    }
    switch (this.#tokens!.check(credential, jobId)) {
      case 'valid':
        return this.#remember(req, null, false);
      case 'expired':
        throw tokenExpired();
      case 'other-job':
        throw forbidden('This watch token is for another job');
      default:
        throw invalidToken();
    }
  }

  /**
   * GET /v1/events?jobs=…: every job must be covered, by an API key (Authorization) or by one of
   * the `?token=`s given (a job's own, or its batch's, which covers all of the batch's jobs).
   */
  requireWatcherOfAll(req: IncomingMessage, jobIds: readonly string[], queryTokens: readonly string[]): Caller {
    if (queryTokens.length > jobIds.length || queryTokens.some((token) => token.length > 512)) {
      throw badRequest('token may be given once per job at most, each a single watch token');
    }
    if (queryTokens.length === 0) {
      let caller: Caller | undefined;
      for (const jobId of jobIds) caller = this.requireWatcher(req, jobId, null);
      return caller!;
    }
    let caller: Caller | undefined;
    for (const jobId of jobIds) {
      let refusal: unknown;
      caller = undefined;
      for (const token of queryTokens) {
        try {
          caller = this.requireWatcher(req, jobId, token);
          break;
        } catch (error) {
          refusal ??= error;
        }
      }
      if (!caller) throw refusal;
    }
    return caller!;
  }

  /**
   * POST /v1/jobs/{id}/events: the job's publish token as a bearer, or (auth on) an API key.
   * Never open. Throws 401 for none or a forged one, 403 for a watch token or another job's.
   */
  async requirePublisher(req: IncomingMessage, jobId: string): Promise<Caller> {
    const credential = bearerOf(req);
    if (credential === null) throw unauthorized("Publishing needs the job's publish token: send Authorization: Bearer <publishToken>");
    if (WatchTokens.looksLikeToken(credential)) throw forbidden('A watch token only watches; publishing takes the job’s publish token');
    if (PublishTokens.looksLikeToken(credential)) {
      const check = await this.#publishTokens.check(credential, jobId);
      if (check === 'other-job') throw forbidden('This publish token is for another job');
      if (check !== 'valid') throw unauthorized('The publish token is not valid');
      return this.#remember(req, null, false);
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

/** The credential in `Authorization: Bearer …`, null without the header; a malformed one is a 401. */
function bearerOf(req: IncomingMessage): string | null {
  const header = req.headers.authorization;
  if (header === undefined) return null;
  const match = BEARER.exec(header);
  if (!match) throw unauthorized('The Authorization header must be: Bearer <credential>');
  return match[1]!;
}
