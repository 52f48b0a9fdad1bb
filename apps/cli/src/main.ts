import { MAX_CREDENTIAL_CHARS } from '@herald/contract';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { submit } from './commands/submit.ts';
import { watch } from './commands/watch.ts';
import { CliError, EXIT, HELP_TEXT, type ExitCode } from './exit-codes.ts';

const DEFAULT_URL = 'http://127.0.0.1:8080';

function httpUrl(value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new InvalidArgumentError('not a URL');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new InvalidArgumentError('not an http(s) URL');
  return value;
}

const integerIn =
  (min: number, max: number) =>
  (value: string): number => {
    const n = Number(value);
    if (!/^\d+$/.test(value) || n < min || n > max) throw new InvalidArgumentError(`expected an integer from ${min} to ${max}`);
    return n;
  };

/**
 * --url, else $HERALD_URL, else the local default. Checked here rather than by commander's
 * .env(), which would take an empty HERALD_URL as a value: empty counts as unset, as for the
 * server's variables.
 */
function baseUrl(flag: string | undefined): string {
  if (flag !== undefined) return flag;
  const fromEnv = process.env.HERALD_URL;
  if (!fromEnv) return DEFAULT_URL;
  try {
    return httpUrl(fromEnv);
  } catch (error) {
    throw new CliError(`HERALD_URL=${fromEnv} is ${(error as Error).message}`, EXIT.usage);
  }
}

/** What an Authorization header can carry, as the server reads it: printable ASCII, no spaces (length apart: MAX_CREDENTIAL_CHARS). */
const CREDENTIAL = /^[\x21-\x7e]+$/;

/**
 * A key or token, checked here rather than by an argParser: commander's message for a bad
 * option value repeats the value, and this one is a secret.
 */
function credential(value: string, source: string): string {
  if (!CREDENTIAL.test(value) || value.length > MAX_CREDENTIAL_CHARS) {
    throw new CliError(`${source}: expected printable ASCII without spaces, at most ${MAX_CREDENTIAL_CHARS} characters`, EXIT.usage);
  }
  return value;
}

/**
 * --api-key, else $HERALD_API_KEY (empty counts as unset), else none. Read here rather than
 * with commander's .default()/.env(), so that --help never shows the key.
 */
function apiKey(flag: string | undefined): string | undefined {
  if (flag !== undefined) return credential(flag, '--api-key');
  const fromEnv = process.env.HERALD_API_KEY;
  return fromEnv ? credential(fromEnv, 'HERALD_API_KEY') : undefined;
}

/** Options every command that talks to Herald takes. */
function withConnectionOptions(command: Command): Command {
  return command
    .addOption(new Option('--url <url>', `Herald API base URL (default: $HERALD_URL, else ${DEFAULT_URL})`).argParser(httpUrl))
    .addOption(
      new Option('--api-key <key>', 'API key, for a server with auth on; sent as a bearer, never printed (default: $HERALD_API_KEY)'),
    );
}

/** Options of everything that watches (watch, submit --watch). */
function withWatchOptions(command: Command): Command {
  return command
    .addOption(
      new Option('--retries <n>', 'reconnect attempts in a row, without an event, before giving up')
        .argParser(integerIn(0, 1000))
        .default(5),
    )
    .option('--plain', 'one line per event instead of the bar, even on a terminal', false);
}

interface CommandOptions {
  url?: string;
  retries: number;
  plain: boolean;
  watch?: boolean;
  maxSentences?: number;
  apiKey?: string;
  token?: string;
}

/** The commander program; each action reports how the job ended through `setExit`. */
function buildProgram(version: string, setExit: (code: ExitCode) => void): Command {
  const program = new Command('herald')
    .description('Submit a text to Herald for summarizing, and watch the job live.')
    .version(version)
    // Throw instead of exiting, so main picks the code: commander's usage errors become 2.
    .exitOverride()
    .showHelpAfterError('(see herald --help)')
    .addHelpText('after', HELP_TEXT);

  withWatchOptions(
    withConnectionOptions(
      program
        .command('submit')
        .description('submit a job; print its id (or, with --watch, watch it and print the summary)')
        .argument('<file>', 'the text to summarize: a file, or - for stdin')
        .option('-w, --watch', 'watch the job after submitting it', false)
        .addOption(new Option('--max-sentences <n>', 'longest summary, in sentences').argParser(integerIn(1, 20)))
        .addHelpText('after', HELP_TEXT),
    ),
  ).action(async (file: string, options: CommandOptions) => {
    const { url, retries, plain, maxSentences } = options;
    setExit(
      await submit(file, {
        url: baseUrl(url),
        retries,
        plain,
        maxSentences,
        watch: options.watch ?? false,
        apiKey: apiKey(options.apiKey),
      }),
    );
  });

  withWatchOptions(
    withConnectionOptions(
      program
        .command('watch')
        .description('watch a job live: progress on stderr, the summary on stdout')
        .argument('<jobId>', 'the id `herald submit` printed')
        .addOption(
          new Option(
            '--token <watchToken>',
            "the job's watch token (the submit answer's watchToken, or #token= of its page link); else the API key is used",
          ),
        )
        .addHelpText('after', HELP_TEXT),
    ),
  ).action(async (jobId: string, options: CommandOptions) => {
    const { url, retries, plain } = options;
    // The token when given: it is all watching needs, and it is good for this job only.
    const token = options.token === undefined ? undefined : credential(options.token, '--token');
    setExit(await watch(jobId, { url: baseUrl(url), retries, plain, credential: token ?? apiKey(options.apiKey) }));
  });

  return program;
}

/**
 * Runs `herald` with these arguments and returns its exit code. `version`: the package's, which
 * bin/herald.js reads from the package.json beside it (in a checkout and in an installed copy).
 */
export async function run(argv: readonly string[], version: string): Promise<ExitCode> {
  let code: ExitCode = EXIT.done;
  try {
    await buildProgram(version, (c) => {
      code = c;
    }).parseAsync(argv);
    return code;
  } catch (error) {
    // Commander has printed its message already; --help and --version throw with exitCode 0.
    if (error instanceof CommanderError) return error.exitCode === 0 ? EXIT.done : EXIT.usage;
    if (error instanceof CliError) {
      process.stderr.write(`herald: ${error.message}\n`);
      return error.exitCode;
    }
    // A bug, not a job outcome: never let it read as 1 ("the job failed").
    process.stderr.write(`herald: unexpected error: ${(error as Error)?.stack ?? String(error)}\n`);
    return EXIT.server;
  }
}
