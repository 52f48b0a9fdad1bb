import { readFile } from 'node:fs/promises';
import { createClient } from '../client.ts';
import { CliError, EXIT, type ExitCode } from '../exit-codes.ts';
import { orRefused } from '../refusal.ts';
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
  const client = createClient({ baseUrl: options.url, apiKey: options.apiKey });
  // No local checks on the text: the server's 400/413 says exactly what is wrong, in one place.
  const submitted = await orRefused(
    client.submit({ text, ...(options.maxSentences === undefined ? {} : { options: { maxSentences: options.maxSentences } }) }),
    options.apiKey === undefined ? 'pass --api-key <key> or set HERALD_API_KEY' : undefined,
  );
  if (!options.watch) {
    process.stdout.write(`${submitted.jobId}\n`);
    return EXIT.done;
  }
  process.stderr.write(`herald: submitted job ${submitted.jobId}\n`);
  // No token (auth off, no token secret): the key, if any, which an open server ignores.
  const credential = submitted.watchToken ? submitted.watchToken : options.apiKey;
  const { url, retries, plain } = options;
  return watch(submitted.jobId, { url, retries, plain, credential });
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
