import { createClient, type JobList, type JobStatus } from '../client.ts';
import { EXIT, type ExitCode } from '../exit-codes.ts';
import { orRefused } from '../refusal.ts';
import { oneLine } from '../render/format.ts';

export interface JobsOptions {
  readonly url: string;
  readonly apiKey?: string;
  readonly tag?: string;
  readonly status?: JobStatus;
  /** Jobs to print at most, over as many pages as that takes. */
  readonly limit: number;
  /** Jobs asked for per request (GET /v1/jobs's `limit`, at most 100). */
  readonly page: number;
  /** One JSON object per line (the listing's items as they came) instead of columns. */
  readonly json: boolean;
}

/**
 * The caller's jobs (GET /v1/jobs), newest first, one line each on stdout, following nextCursor
 * until `limit` jobs are printed or the listing ends: id, status, progress, when it began, tags,
 * and its title or latest message.
 */
export async function jobs(options: JobsOptions): Promise<ExitCode> {
  const client = createClient({ baseUrl: options.url, apiKey: options.apiKey });
  let printed = 0;
  let cursor: string | null = null;
  do {
    const page: JobList = await orRefused(
      client.jobs({
        ...(options.tag === undefined ? {} : { tag: options.tag }),
        ...(options.status === undefined ? {} : { status: options.status }),
        limit: Math.min(options.page, options.limit - printed),
        cursor,
      }),
    );
    for (const job of page.jobs) {
      process.stdout.write(
        options.json
          ? `${JSON.stringify(job)}\n`
          : `${[
              job.jobId,
              job.status,
              `${job.progress}%`,
              new Date(job.createdAt).toISOString(),
              job.tags?.join(',') || '-',
              oneLine(job.title ?? job.message),
            ].join('\t')}\n`,
      );
    }
    printed += page.jobs.length;
    // A page never repeats its cursor; one that did (a proxy's cached answer) would loop for ever.
    const repeated = page.nextCursor === cursor;
    cursor = page.nextCursor;
    if (repeated) break;
  } while (cursor !== null && printed < options.limit);
  return EXIT.done;
}
