import { createClient } from '../client.ts';
import type { ExitCode } from '../exit-codes.ts';
import { interruptOnCtrlC } from '../interrupt.ts';
import { asCliError } from '../refusal.ts';
import { createTagBoard, createTagLines, type TagView } from '../render/tag-board.ts';

export interface WatchTagOptions {
  readonly url: string;
  readonly retries: number;
  /** One line per event even on a terminal. */
  readonly plain: boolean;
  /** A watch JWT that covers the tag, or an API key. */
  readonly credential?: string;
}

const NO_CREDENTIAL_HINT = 'pass --token <watch JWT with the tag> or --api-key <key> (or set HERALD_API_KEY)';

/**
 * Follows a tag's stream (GET /v1/events?tag=T) until Ctrl-C: it never ends by itself. On a
 * terminal, one line per job under way, rewritten in place, each ended job's last line kept
 * above them; otherwise one line per event on stdout, `<jobId>\t<status>\t<progress>%\t<message>`.
 * Ctrl-C ends it with exit 130 (interrupt.ts); a refusal or giving up, exit 4.
 */
export async function watchTag(tag: string, options: WatchTagOptions): Promise<ExitCode> {
  const client = createClient({ baseUrl: options.url, apiKey: options.credential });
  const hint = options.credential === undefined ? NO_CREDENTIAL_HINT : undefined;
  const view: TagView =
    !options.plain && process.stdout.isTTY ? createTagBoard(process.stdout) : createTagLines(process.stdout, process.stderr);
  const interrupt = interruptOnCtrlC(`the tag's jobs go on`);
  try {
    for await (const item of client.watchTag(tag, {
      maxRetries: options.retries,
      maxBackoffMs: 10_000,
      signal: interrupt.signal,
      onReconnect: ({ reason, delayMs }) => view.notice(`${reason}; reconnecting in ${delayMs} ms`),
    })) {
      if (item.kind === 'resync') view.notice(`the stream could not resume where it was: events of tag ${tag} may have been missed`);
      else view.event(item.event, item.partial);
    }
  } catch (error) {
    if (interrupt.signal.aborted) throw interrupt.signal.reason;
    throw asCliError(error, hint);
  } finally {
    view.stop();
    interrupt.release();
  }
  // The client's tag watch never ends by itself; reaching here would be its bug.
  throw new Error('the tag stream ended');
}
