import { createClient } from '../client.ts';
import { EXIT, type ExitCode } from '../exit-codes.ts';
import { interruptOnCtrlC } from '../interrupt.ts';
import { oneLine } from '../render/format.ts';
import { asCliError, orRefused } from '../refusal.ts';

export interface WatchBatchOptions {
  readonly url: string;
  readonly retries: number;
  /** The batch's watch token, or an API key. */
  readonly credential?: string;
}

const NO_CREDENTIAL_HINT = 'pass --token <batch watchToken> or --api-key <key> (or set HERALD_API_KEY)';

/**
 * Follows a batch's stream (GET /v1/batches/{id}/events) to its end: one line per event on
 * stdout, a job's (`<jobId> <status> <progress>% <message>`) or the batch's own (`batch
 * <status> <progress>% <ended>/<size>`). Exit 0 when the batch is done, 3 when it was cancelled.
 */
export async function watchBatch(batchId: string, options: WatchBatchOptions): Promise<ExitCode> {
  const client = createClient({ baseUrl: options.url, apiKey: options.credential });
  const hint = options.credential === undefined ? NO_CREDENTIAL_HINT : undefined;
  const interrupt = interruptOnCtrlC('the batch goes on');
  let ended: string | undefined;
  try {
    for await (const item of client.watchBatch(batchId, {
      maxRetries: options.retries,
      maxBackoffMs: 10_000,
      signal: interrupt.signal,
      onReconnect: ({ reason, delayMs }) => process.stderr.write(`herald: ${reason}; reconnecting in ${delayMs} ms\n`),
    })) {
      if (item.kind === 'job') {
        const { jobId, status, progress, message } = item.event;
        process.stdout.write(`${jobId}\t${status}\t${progress}%\t${oneLine(message)}\n`);
      } else {
        const { status, progress, counts } = item.event;
        const size = Object.values(counts).reduce((sum, n) => sum + n, 0);
        const over = counts.done + counts.error + counts.cancelled;
        process.stdout.write(`batch\t${status}\t${progress}%\t${over}/${size}\n`);
        if (status === 'done' || status === 'cancelled') ended = status;
      }
    }
  } catch (error) {
    if (interrupt.signal.aborted) throw interrupt.signal.reason;
    throw asCliError(error, hint);
  } finally {
    interrupt.release();
  }
  if (ended === undefined) {
    // The stream ended at once (the cursor was past the end): the snapshot says how it ended.
    ended = (await orRefused(client.batch(batchId), hint)).status;
  }
  return ended === 'cancelled' ? EXIT.cancelled : ended === 'done' ? EXIT.done : EXIT.server;
}
