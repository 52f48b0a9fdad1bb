/**
 * How `herald` ends says how the job ended, so scripts can branch on `$?` without parsing text.
 * The table is printed by `herald --help` (see HELP_TEXT) and repeated in the README.
 */
export const EXIT = {
  /** The job finished; its summary is on stdout. */
  done: 0,
  /** The job ended with an `error` event. */
  failed: 1,
  /** Bad arguments or options (commander's errors), or an input file that cannot be read. */
  usage: 2,
  /** The job ended with a `cancelled` event. */
  cancelled: 3,
  /**
   * Herald said no or could not be reached: the server's HTTP error (400, 404, 413, …, its
   * message printed), no connection, or reconnecting gave up after too many failures in a row.
   */
  server: 4,
  /** Ctrl-C while watching (128 + SIGINT, the shell's convention); the job itself goes on. */
  interrupted: 130,
} as const;

export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

export const HELP_TEXT = `
Auth (a server with API_KEYS set):
  submit needs an API key: --api-key <key>, else $HERALD_API_KEY. It goes
  out only as "Authorization: Bearer <key>" and is never printed. submit
  --watch then watches with the job's own watch token from the answer.
  watch takes a job's watch token (--token <watchToken>) or the API key;
  watch --batch, the batch's watch token or the API key; watch --tag, a
  watch JWT listing the tag or the API key (it runs until Ctrl-C: 130).
  jobs lists the API key's jobs (an admin key's: every job). publish takes the job's
  publish token: --publish-token, else $HERALD_PUBLISH_TOKEN (else the
  API key of the job's owner); it is never printed.
  A refused credential (401, 403) ends at once with exit 4 and the server's
  message: no retries.

Exit codes:
  0    the job finished (done); the summary is on stdout
  1    the job failed (it ended with an error event)
  2    usage error: bad arguments or options, or an unreadable input file
  3    the job was cancelled
  4    no outcome known: the server refused the request (its message is
       printed; 401/403: a missing or wrong key or token), could not be
       reached, or kept dropping the connection
  130  interrupted (Ctrl-C) while watching; the job itself goes on`;

/** An error that knows which exit code it means; main prints its message and exits with it. */
export class CliError extends Error {
  readonly exitCode: ExitCode;

  constructor(message: string, exitCode: ExitCode) {
    super(message);
    this.name = 'CliError';
    this.exitCode = exitCode;
  }
}
