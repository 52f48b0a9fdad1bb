import { CliError, EXIT } from './exit-codes.ts';

/** `base` + `path`, keeping any path prefix the base URL has (Herald behind a proxy at /herald/). */
export function apiUrl(base: string, path: string): string {
  const url = new URL(base);
  url.pathname = url.pathname.replace(/\/+$/, '') + path;
  return url.toString();
}

/**
 * The Authorization header for a credential (an API key or a watch token), or none. Bearer
 * rather than `?token=`: a header stays out of URLs, so out of proxies' access logs and out of
 * the URLs this CLI prints in its own messages.
 */
export const authorization = (credential: string | undefined): Record<string, string> =>
  credential === undefined ? {} : { Authorization: `Bearer ${credential}` };

/** What the CLI adds to a 401 when it sent no credential at all: how to give one. */
export const withHint = (message: string, status: number, hint: string | undefined): string =>
  status === 401 && hint !== undefined ? `${message}; ${hint}` : message;

export const jobPath = (jobId: string): string => `/v1/jobs/${encodeURIComponent(jobId)}`;

/**
 * The server's own words for a failed request: API errors (docs/api.md) are `{"error": {"code", "message",
 * "details"?}}`; details (which field was wrong) are worth printing too. Anything else (a proxy's
 * HTML page) falls back to the status line.
 */
export async function describeHttpError(response: Response): Promise<string> {
  const fallback = `HTTP ${response.status}${response.statusText ? ` ${response.statusText}` : ''}`;
  let body: unknown;
  try {
    body = await response.json();
  } catch {
    return fallback;
  }
  const error = (body as { error?: { message?: unknown; details?: unknown } } | null)?.error;
  if (typeof error?.message !== 'string') return fallback;
  const details = Array.isArray(error.details)
    ? error.details
        .map((d: { path?: unknown; message?: unknown }) => (d.path ? `${String(d.path)}: ${String(d.message)}` : String(d.message)))
        .join('; ')
    : '';
  return `${error.message}${details ? ` (${details})` : ''} [HTTP ${response.status}]`;
}

/**
 * Why a fetch failed, short. Node's fetch (undici) says "fetch failed" or "terminated" and hides
 * the useful part in `cause`: a system code (ECONNREFUSED, ENOTFOUND, ECONNRESET) is kept as is.
 */
export function describeNetworkError(error: unknown): string {
  const cause = (error as { cause?: { code?: unknown; message?: unknown } } | null)?.cause;
  if (cause?.code === 'UND_ERR_SOCKET') return 'the other side closed the connection';
  if (typeof cause?.code === 'string') return cause.code;
  if ((error as Error | null)?.message === 'terminated') return 'the response was cut off';
  if (typeof cause?.message === 'string') return cause.message;
  return error instanceof Error ? error.message : String(error);
}

/** fetch for one-shot requests (submit, snapshot): no answer at all is exit 4, like an HTTP error. */
export async function send(url: string, init: RequestInit = {}): Promise<Response> {
  try {
    return await fetch(url, init);
  } catch (error) {
    throw new CliError(`cannot reach ${new URL(url).origin}: ${describeNetworkError(error)}`, EXIT.server);
  }
}
