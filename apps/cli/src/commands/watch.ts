import { createClient, isTerminal, type JobEvent, type JobSnapshot } from '../client.ts';
import { CliError, EXIT, type ExitCode } from '../exit-codes.ts';
import { interruptOnCtrlC } from '../interrupt.ts';
import { asCliError, orRefused } from '../refusal.ts';
import { createRenderer } from '../render/renderer.ts';

export interface WatchOptions {
  readonly url: string;
  /** Reconnect attempts in a row, without an event, before giving up (exit 4). */
  readonly retries: number;
  readonly plain: boolean;
  /** The job's watch token, or an API key: `Authorization: Bearer` on the stream and the snapshot. */
  readonly credential?: string;
}

const NO_CREDENTIAL_HINT = 'pass --token <watchToken> or --api-key <key> (or set HERALD_API_KEY)';

/**
 * Follows a job to its end with @herald/client's resuming watch: progress on stderr (bar or
 * lines, and the summary as it is written), the summary alone on stdout.
 * Returns the exit code that says how the job ended; throws CliError when it cannot tell.
 */
export async function watch(jobId: string, options: WatchOptions): Promise<ExitCode> {
  const client = createClient({ baseUrl: options.url, apiKey: options.credential });
  const hint = options.credential === undefined ? NO_CREDENTIAL_HINT : undefined;
  const renderer = createRenderer(process.stderr, options.plain);
  // Ctrl-C: stop the stream and give the terminal back tidy (the bar hides the cursor).
  const interrupt = interruptOnCtrlC('the job goes on');

  let last: JobEvent | undefined;
  try {
    const events = client.watch(jobId, {
      maxRetries: options.retries,
      maxBackoffMs: 10_000,
      signal: interrupt.signal,
      onReconnect: ({ attempt, maxRetries, delayMs, reason }) =>
        renderer.notice(`${reason}; reconnecting in ${duration(delayMs)} (attempt ${attempt} of ${maxRetries})`),
    });
    // `partial`: the summary as it is written (docs/api.md); only the final result goes to stdout.
    for await (const { event, partial } of events) {
      renderer.event(event, partial);
      last = event;
    }
  } catch (error) {
    // Whatever the abort broke (a read, a backoff sleep), Ctrl-C is what happened.
    if (interrupt.signal.aborted) throw interrupt.signal.reason;
    throw asCliError(error, hint);
  } finally {
    renderer.stop();
    interrupt.release();
  }
  // Only a 204 ends the stream without a terminal event in hand (the cursor already was the
  // terminal event): the snapshot then says how the job ended.
  return report(jobId, last && isTerminal(last.status) ? last : await orRefused(client.job(jobId), hint));
}

const duration = (ms: number): string => (ms < 1000 ? `${ms} ms` : `${(ms / 1000).toFixed(1)} s`);

/** How the job ended, from its terminal event or its snapshot. */
function report(jobId: string, event: Pick<JobSnapshot, 'status' | 'message' | 'result' | 'error'>): ExitCode {
  switch (event.status) {
    case 'done':
      process.stdout.write(`${resultText(event.result)}\n`);
      return EXIT.done;
    case 'error':
      process.stderr.write(
        `herald: job ${jobId} failed: ${event.error?.message ?? event.message}${event.error ? ` (${event.error.code})` : ''}\n`,
      );
      return EXIT.failed;
    case 'cancelled':
      process.stderr.write(`herald: job ${jobId} was cancelled\n`);
      return EXIT.cancelled;
    default:
      throw new CliError(`job ${jobId} has not ended (${event.status})`, EXIT.server);
  }
}

/**
 * A result as stdout shows it: a string as it is (a summary), any other JSON value as one line of
 * JSON (for jq), none as an empty line.
 */
const resultText = (result: JobSnapshot['result']): string =>
  result === undefined ? '' : typeof result === 'string' ? result : JSON.stringify(result);
