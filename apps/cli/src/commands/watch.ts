import { foldPartial, isTerminal, type JobEvent } from '@herald/contract';
import { CliError, EXIT, type ExitCode } from '../exit-codes.ts';
import { apiUrl, authorization, describeHttpError, jobPath, send, withHint } from '../http.ts';
import { createRenderer } from '../render/renderer.ts';
import { streamEvents } from '../sse/stream-events.ts';

export interface WatchOptions {
  readonly url: string;
  readonly retries: number;
  readonly plain: boolean;
  /** The job's watch token, or an API key: `Authorization: Bearer` on the stream and the snapshot. */
  readonly credential?: string;
}

const NO_CREDENTIAL_HINT = 'pass --token <watchToken> or --api-key <key> (or set HERALD_API_KEY)';

/**
 * Follows a job to its end: progress on stderr (bar or lines, and the summary as it is written),
 * the summary alone on stdout.
 * Returns the exit code that says how the job ended; throws CliError when it cannot tell.
 */
export async function watch(jobId: string, options: WatchOptions): Promise<ExitCode> {
  const renderer = createRenderer(process.stderr, options.plain);
  // Ctrl-C: stop the stream and give the terminal back tidy (the bar hides the cursor).
  const interrupt = new AbortController();
  const onSigint = (): void => interrupt.abort(new CliError('interrupted; the job goes on', EXIT.interrupted));
  process.once('SIGINT', onSigint);

  let last: JobEvent | undefined;
  // The summary as it is written (docs/api.md, "The summary as it is written"); only the final
  // result goes to stdout.
  let partial = '';
  try {
    const events = streamEvents({
      baseUrl: options.url,
      jobId,
      ...(options.credential === undefined ? { unauthorizedHint: NO_CREDENTIAL_HINT } : { credential: options.credential }),
      maxRetries: options.retries,
      signal: interrupt.signal,
      onReconnect: ({ attempt, maxRetries, delayMs, reason }) =>
        renderer.notice(`${reason}; reconnecting in ${duration(delayMs)} (attempt ${attempt} of ${maxRetries})`),
    });
    for await (const { event } of events) {
      partial = foldPartial(partial, event);
      renderer.event(event, partial);
      last = event;
    }
  } catch (error) {
    // Whatever the abort broke (a read, a backoff sleep), Ctrl-C is what happened.
    if (interrupt.signal.aborted) throw interrupt.signal.reason;
    throw error;
  } finally {
    renderer.stop();
    process.removeListener('SIGINT', onSigint);
  }
  // Only a 204 ends the stream without a terminal event in hand (the cursor already was the
  // terminal event): the snapshot then says how the job ended.
  if (!last || !isTerminal(last.status)) last = await snapshot(options.url, jobId, options.credential);
  return report(jobId, last);
}

const duration = (ms: number): string => (ms < 1000 ? `${ms} ms` : `${(ms / 1000).toFixed(1)} s`);

async function snapshot(baseUrl: string, jobId: string, credential: string | undefined): Promise<JobEvent> {
  const response = await send(apiUrl(baseUrl, jobPath(jobId)), { headers: authorization(credential) });
  if (!response.ok) {
    const hint = credential === undefined ? NO_CREDENTIAL_HINT : undefined;
    throw new CliError(withHint(await describeHttpError(response), response.status, hint), EXIT.server);
  }
  return (await response.json()) as JobEvent;
}

function report(jobId: string, event: JobEvent): ExitCode {
  switch (event.status) {
    case 'done':
      process.stdout.write(`${event.result ?? ''}\n`);
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
