import { CliError, EXIT } from './exit-codes.ts';

/**
 * Ctrl-C while following a stream: aborts `signal` with a CliError (exit 130) saying what goes on
 * without us (`the job goes on`), so whatever the abort broke (a read, a backoff sleep) ends as
 * that. `release()` stops listening, for the end of the watch however it ended.
 */
export function interruptOnCtrlC(whatGoesOn: string): { readonly signal: AbortSignal; release(): void } {
  const controller = new AbortController();
  const onSigint = (): void => controller.abort(new CliError(`interrupted; ${whatGoesOn}`, EXIT.interrupted));
  process.once('SIGINT', onSigint);
  return { signal: controller.signal, release: () => process.removeListener('SIGINT', onSigint) };
}
