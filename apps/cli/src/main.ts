import { JOB_STATUSES, MAX_CREDENTIAL_CHARS, TAG_PATTERN, type JobStatus } from '@herald/contract';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { jobs } from './commands/jobs.ts';
import { publish } from './commands/publish.ts';
import { submit } from './commands/submit.ts';
import { watchBatch } from './commands/watch-batch.ts';
import { watchTag } from './commands/watch-tag.ts';
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

/**
 * --publish-token, else $HERALD_PUBLISH_TOKEN (empty counts as unset), else the API key (with
 * auth on, the job's owner publishes too). Read here, like the key, so --help never shows it.
 */
function publishToken(flag: string | undefined, keyFlag: string | undefined): string | undefined {
  if (flag !== undefined) return credential(flag, '--publish-token');
  const fromEnv = process.env.HERALD_PUBLISH_TOKEN;
  return fromEnv ? credential(fromEnv, 'HERALD_PUBLISH_TOKEN') : apiKey(keyFlag);
}

function tag(value: string): string {
  if (!TAG_PATTERN.test(value)) throw new InvalidArgumentError('a tag is 1 to 64 of A-Z a-z 0-9 : _ . -');
  return value;
}

interface PublishCommandOptions {
  url?: string;
  apiKey?: string;
  publishToken?: string;
  status?: 'processing' | 'done' | 'error' | 'cancelled';
  progress?: number;
  message?: string;
  stage?: string;
  result?: string;
  errorCode?: string;
  metadata?: string;
  idempotencyKey?: string;
}

interface JobsCommandOptions {
  url?: string;
  apiKey?: string;
  tag?: string;
  status?: JobStatus;
  limit: number;
  page: number;
  json: boolean;
}

interface CommandOptions {
  url?: string;
  retries: number;
  plain: boolean;
  watch?: boolean;
  maxSentences?: number;
  apiKey?: string;
  token?: string;
  batch?: string;
  tag?: string;
}

/** The commander program; each action reports how the job ended through `setExit`. */
function buildProgram(version: string, setExit: (code: ExitCode) => void): Command {
  const program = new Command('herald')
    .description(
      'Submit a text to Herald for summarizing, and watch the job live; publish into an external job, list your jobs, watch a batch.',
    )
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
        .description(
          'watch a job live: progress on stderr, the summary on stdout; or, with --batch, a batch: one line per event on stdout; or, with --tag, every job with a tag until Ctrl-C',
        )
        .argument('[jobId]', 'the id `herald submit` printed')
        .option('--batch <batchId>', "watch this batch's stream instead: every job's events and the batch's own, to its end")
        .addOption(
          new Option(
            '--tag <tag>',
            "watch every job with this tag instead (those under way and every one created after), until Ctrl-C: one line per job, rewritten in place on a terminal (else one line per event, prefixed by the job's id)",
          ).argParser(tag),
        )
        .addOption(
          new Option(
            '--token <watchToken>',
            "the job's watch token (the submit answer's watchToken, or #token= of its page link; with --tag, a watch JWT listing the tag); else the API key is used",
          ),
        )
        .addHelpText('after', HELP_TEXT),
    ),
  ).action(async (jobId: string | undefined, options: CommandOptions) => {
    const { url, retries, plain } = options;
    if ([jobId, options.batch, options.tag].filter((given) => given !== undefined).length !== 1) {
      throw new CliError('watch takes a job id, --batch <batchId> or --tag <tag>: one of them', EXIT.usage);
    }
    // The token when given: it is all watching needs, and it is good for this job (batch) only.
    const token = options.token === undefined ? undefined : credential(options.token, '--token');
    const watcher = token ?? apiKey(options.apiKey);
    if (options.tag !== undefined) {
      setExit(await watchTag(options.tag, { url: baseUrl(url), retries, plain, credential: watcher }));
      return;
    }
    if (options.batch !== undefined) {
      setExit(await watchBatch(options.batch, { url: baseUrl(url), retries, credential: watcher }));
      return;
    }
    setExit(await watch(jobId!, { url: baseUrl(url), retries, plain, credential: watcher }));
  });

  withConnectionOptions(
    program
      .command('publish')
      .description("publish one event into an external job, as its producer; print the event's id")
      .argument('<jobId>', 'the external job')
      .addOption(
        new Option(
          '--publish-token <token>',
          "the job's publish token (default: $HERALD_PUBLISH_TOKEN, else the API key of the job's owner); never printed",
        ),
      )
      .addOption(
        new Option('--status <status>', 'default: done with --result, error with --error-code, else processing').choices([
          'processing',
          'done',
          'error',
          'cancelled',
        ]),
      )
      .addOption(new Option('--progress <n>', '0-100, never lower than the job’s').argParser(integerIn(0, 100)))
      .option('--message <text>', 'what a person reads (with --error-code: the error’s message)')
      .option('--stage <name>', 'the step the job is at')
      .option('--result <text>', 'the job’s result (status done)')
      .option('--error-code <code>', 'the job failed with this code (status error)')
      .option('--metadata <json>', 'a JSON object, sent as the event’s metadata as given')
      .option('--idempotency-key <key>', 'a retry with the same key publishes nothing new'),
  ).action(async (jobId: string, options: PublishCommandOptions) => {
    setExit(
      await publish(jobId, {
        url: baseUrl(options.url),
        ...definedOf({
          credential: publishToken(options.publishToken, options.apiKey),
          status: options.status,
          progress: options.progress,
          message: options.message,
          stage: options.stage,
          result: options.result,
          errorCode: options.errorCode,
          metadata: options.metadata,
          idempotencyKey: options.idempotencyKey,
        }),
      }),
    );
  });

  withConnectionOptions(
    program
      .command('jobs')
      .description(
        "list your jobs (an admin key's: everyone's), newest first, one line each: id, status, progress, created, tags, title or message",
      )
      .addOption(new Option('--tag <tag>', 'only jobs with this tag').argParser(tag))
      .addOption(new Option('--status <status>', 'only jobs at this status').choices(JOB_STATUSES))
      .addOption(new Option('--limit <n>', 'print at most this many').argParser(integerIn(1, 1_000_000)).default(100))
      .addOption(new Option('--page <n>', 'jobs asked for per request').argParser(integerIn(1, 100)).default(100))
      .option('--json', 'one JSON object per job and line, as the API lists it', false),
  ).action(async (options: JobsCommandOptions) => {
    setExit(
      await jobs({
        url: baseUrl(options.url),
        limit: options.limit,
        page: options.page,
        json: options.json,
        ...definedOf({ apiKey: apiKey(options.apiKey), tag: options.tag, status: options.status }),
      }),
    );
  });

  return program;
}

/** The entries whose value is not undefined (options under exactOptionalPropertyTypes). */
function definedOf<T extends Record<string, unknown>>(values: T): { [K in keyof T]?: Exclude<T[K], undefined> } {
  return Object.fromEntries(Object.entries(values).filter(([, value]) => value !== undefined)) as {
    [K in keyof T]?: Exclude<T[K], undefined>;
  };
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
