import { readFile } from 'node:fs/promises';
import { CliError, EXIT, type ExitCode } from '../exit-codes.ts';
import { apiUrl, authorization, describeHttpError, send, withHint } from '../http.ts';
import { watch, type WatchOptions } from './watch.ts';

export interface SubmitOptions extends Omit<WatchOptions, 'credential'> {
  readonly watch: boolean;
  readonly maxSentences?: number;
  /** Sent as `Authorization: Bearer` with the job; never printed. */
  readonly apiKey?: string;
}

/**
 * POSTs the text as a new job. Alone it prints just the job id on stdout, so
 * `id=$(herald submit notes.txt)` works; with --watch it goes on to watch the job, and stdout
 * then holds the summary alone (the id goes to stderr).
 *
 * With auth on, --watch watches with the job's watch token from the answer rather than the key:
 * the stream, which reconnects again and again (through proxies, to any replica), then carries
 * a credential good for this one job and for a limited time, and the long-lived key went out once.
 */
export async function submit(source: string, options: SubmitOptions): Promise<ExitCode> {
  const text = await readText(source);
  // No local checks on the text: the server's 400/413 says exactly what is wrong, in one place.
  const body = { text, ...(options.maxSentences === undefined ? {} : { options: { maxSentences: options.maxSentences } }) };
  const response = await send(apiUrl(options.url, '/v1/jobs'), {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', ...authorization(options.apiKey) },
    body: JSON.stringify(body),
  });
  if (!response.ok) {
    const hint = options.apiKey === undefined ? 'pass --api-key <key> or set HERALD_API_KEY' : undefined;
    throw new CliError(withHint(await describeHttpError(response), response.status, hint), EXIT.server);
  }
  const { jobId, watchToken } = (await response.json()) as { jobId: string; watchToken?: unknown };
  if (!options.watch) {
    process.stdout.write(`${jobId}\n`);
    return EXIT.done;
  }
  process.stderr.write(`herald: submitted job ${jobId}\n`);
  // No token (auth off, no token secret): the key, if any, which an open server ignores.
  const credential = typeof watchToken === 'string' && watchToken !== '' ? watchToken : options.apiKey;
  const { url, retries, plain } = options;
  return watch(jobId, { url, retries, plain, credential });
}

/** `-` is stdin (a pipe, or typed text ended by Ctrl-D); anything else a file path. */
async function readText(source: string): Promise<string> {
  try {
    if (source !== '-') return await readFile(source, 'utf8');
    const chunks: Buffer[] = [];
    for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks).toString('utf8');
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
    throw new CliError(`cannot read ${source === '-' ? 'stdin' : source}: ${reason}`, EXIT.usage);
  }
}
