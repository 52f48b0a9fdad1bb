import { HeraldError } from './client.ts';
import { CliError, EXIT } from './exit-codes.ts';

/**
 * The server's own words for what it refused (docs/api.md: `{"error": {"code", "message",
 * "details"?}}`), with which fields were wrong when it named them and the HTTP status; a 401 for
 * a request that carried no credential at all also says how to give one.
 */
export function describeRefusal(error: HeraldError, unauthorizedHint?: string): string {
  const details = Array.isArray(error.details)
    ? (error.details as { path?: unknown; message?: unknown }[])
        .map((d) => (d.path ? `${String(d.path)}: ${String(d.message)}` : String(d.message)))
        .join('; ')
    : '';
  // Status 0: no answer at all (unreachable, gave up, an invalid event): the message says it all.
  const status = error.status === 0 ? '' : ` [HTTP ${error.status}]`;
  const hint = error.status === 401 && unauthorizedHint !== undefined ? `; ${unauthorizedHint}` : '';
  const urlHint = error.code === 'not_a_stream' ? '; is --url right?' : '';
  return `${error.message}${details ? ` (${details})` : ''}${status}${hint}${urlHint}`;
}

/** What Herald refused (or an unreachable Herald) as exit 4 with its message: no outcome is known. Anything else is rethrown. */
export function asCliError(error: unknown, unauthorizedHint?: string): unknown {
  return error instanceof HeraldError ? new CliError(describeRefusal(error, unauthorizedHint), EXIT.server) : error;
}

/** A request through the client, with what Herald refuses turned into exit 4. */
export async function orRefused<T>(work: Promise<T>, unauthorizedHint?: string): Promise<T> {
  try {
    return await work;
  } catch (error) {
    throw asCliError(error, unauthorizedHint);
  }
}
