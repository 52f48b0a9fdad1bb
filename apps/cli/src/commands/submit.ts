import { readFile } from 'node:fs/promises';
import { CliError, EXIT, type ExitCode } from '../exit-codes.ts';
import { apiUrl, describeHttpError, send } from '../http.ts';
import { watch, type WatchOptions } from './watch.ts';

export interface SubmitOptions extends WatchOptions {
  readonly watch: boolean;
  readonly maxSentences?: number;
}

/**
 * POSTs the text as a new job. Alone it prints just the job id on stdout, so
 * `id=$(herald submit notes.txt)` works; with --watch it goes on to watch the job, and stdout
 * then holds the summary alone (the id goes to stderr).
 */
export async function submit(source: string, options: SubmitOptions): Promise<ExitCode> {
  const text = await readText(source);
  // No local checks on the text: the server's 400/413 says exactly what is wrong, in one place.
  const body = { text, ...(options.maxSentences === undefined ? {} : { options: { maxSentences: options.maxSentences } }) };
  const response = await send(apiUrl(options.url, '/v1/jobs'), {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify(body),
  });
  if (!response.ok) throw new CliError(await describeHttpError(response), EXIT.server);
  const { jobId } = (await response.json()) as { jobId: string };
  if (!options.watch) {
    process.stdout.write(`${jobId}\n`);
    return EXIT.done;
  }
  process.stderr.write(`herald: submitted job ${jobId}\n`);
  return watch(jobId, options);
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
