import type { IncomingMessage } from 'node:http';
import type { ClientIpOf } from '../http/client-ip.ts';
import { forbidden, unauthorized } from '../http/errors.ts';
import type { ApiKeys } from './api-keys.ts';
import { WatchTokens } from './watch-tokens.ts';

/** Who is asking, as limits and logs see them: never the key itself. */
export interface Caller {
  /** The API key's short digest; null when auth is off or the caller holds only a watch token. */
  readonly keyId: string | null;
  readonly ip: string;
}

const BEARER = /^Bearer[ \t]+([\x21-\x7e]{1,512})[ \t]*$/i;

/**
 * Who may do what (docs/security.md). With auth on: submitting, cancelling and reading need an
 * API key; watching needs the job's watch token (as `?token=`, for EventSource, or as a bearer)
 * or an API key; a snapshot may also be read with the job's watch token, which already shows
 * the watcher everything the snapshot holds. With auth off everything is open.
 */
export class Access {
  readonly #keys: ApiKeys;
  readonly #tokens: WatchTokens | null;
  readonly #ipOf: ClientIpOf;
  readonly #callers = new WeakMap<IncomingMessage, Caller>();

  constructor(keys: ApiKeys, tokens: WatchTokens | null, ipOf: ClientIpOf) {
    this.#keys = keys;
    this.#tokens = tokens;
    this.#ipOf = ipOf;
  }

  get enabled(): boolean {
    return this.#keys.enabled;
  }

  /** A token for watching `jobId`, when tokens are configured (always, with auth on). */
  watchToken(jobId: string): string | null {
    return this.#tokens?.mint(jobId) ?? null;
  }

  /** The caller as the last check saw them; the IP alone for requests no check ran on. */
  callerOf(req: IncomingMessage): Caller {
    return this.#callers.get(req) ?? { keyId: null, ip: this.#ipOf(req) };
  }

  /** POST /v1/jobs, DELETE: an API key. Throws 401. */
  requireKey(req: IncomingMessage): Caller {
    if (!this.enabled) return this.#remember(req, null);
    const credential = bearerOf(req);
    if (credential === null) throw unauthorized('An API key is required: send Authorization: Bearer <key>');
    const holder = this.#keys.match(credential);
    if (!holder) throw unauthorized('The API key is not valid');
    return this.#remember(req, holder.keyId);
  }

  /**
   * The stream and the snapshot: the job's watch token (query or bearer) or an API key.
   * Throws 401 for a missing, forged or expired credential, 403 for another job's token.
   */
  requireWatcher(req: IncomingMessage, jobId: string, queryToken: string | null): Caller {
    if (!this.enabled) return this.#remember(req, null);
    const bearer = bearerOf(req);
    const credential = queryToken ?? bearer;
    if (credential === null) {
      throw unauthorized('A watch token is required: add ?token=<watchToken>, or send Authorization: Bearer <watchToken or API key>');
    }
    if (queryToken === null && !WatchTokens.looksLikeToken(credential)) {
      const holder = this.#keys.match(credential);
      if (!holder) throw unauthorized('The API key is not valid');
      return this.#remember(req, holder.keyId);
    }
    switch (this.#tokens!.check(credential, jobId)) {
      case 'valid':
        return this.#remember(req, null);
      case 'expired':
        throw unauthorized('The watch token has expired');
      case 'other-job':
        throw forbidden('This watch token is for another job');
      default:
        throw unauthorized('The watch token is not valid');
    }
  }

  #remember(req: IncomingMessage, keyId: string | null): Caller {
    const caller = { keyId, ip: this.#ipOf(req) };
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
