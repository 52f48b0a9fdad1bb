import { createClient, type ProducerEvent } from '../client.ts';
import { CliError, EXIT, type ExitCode } from '../exit-codes.ts';
import { orRefused } from '../refusal.ts';

export interface PublishOptions {
  readonly url: string;
  /** The job's publish token, or (auth on) the owning API key: a bearer either way. */
  readonly credential?: string;
  readonly status?: ProducerEvent['status'];
  readonly progress?: number;
  readonly message?: string;
  readonly stage?: string;
  readonly result?: string;
  /** An error's code: the event is then `error`, with --message as the error's message. */
  readonly errorCode?: string;
  /** A JSON object, sent as the event's `metadata` as given. */
  readonly metadata?: string;
  readonly idempotencyKey?: string;
}

const NO_CREDENTIAL_HINT = 'pass --publish-token <token> (or set HERALD_PUBLISH_TOKEN), or --api-key <key> of the job’s owner';

/**
 * One event into an external job (POST /v1/jobs/{id}/events), as its producer: its id on
 * stdout. The status is `done` with --result, `error` with --error-code, else `processing`,
 * unless --status says otherwise; the server checks the rest (progress never back, one end).
 */
export async function publish(jobId: string, options: PublishOptions): Promise<ExitCode> {
  const status = options.status ?? (options.result !== undefined ? 'done' : options.errorCode !== undefined ? 'error' : 'processing');
  const event: Record<string, unknown> = { status };
  if (options.progress !== undefined) event.progress = options.progress;
  if (options.message !== undefined) event.message = options.message;
  if (options.stage !== undefined) event.stage = options.stage;
  if (options.result !== undefined) event.result = options.result;
  if (options.errorCode !== undefined) event.error = { code: options.errorCode, message: options.message ?? '' };
  if (options.metadata !== undefined) event.metadata = metadataOf(options.metadata);
  const client = createClient({ baseUrl: options.url });
  const hint = options.credential === undefined ? NO_CREDENTIAL_HINT : undefined;
  const { eventId } = await orRefused(
    client.publish(jobId, event as ProducerEvent, {
      ...(options.credential === undefined ? {} : { publishToken: options.credential }),
      ...(options.idempotencyKey === undefined ? {} : { idempotencyKey: options.idempotencyKey }),
    }),
    hint,
  );
  process.stdout.write(`${eventId}\n`);
  return EXIT.done;
}

/** --metadata: a JSON object (a usage error otherwise, before anything is sent). */
function metadataOf(text: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new CliError(`--metadata is not JSON: ${(error as Error).message}`, EXIT.usage);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw new CliError('--metadata must be a JSON object', EXIT.usage);
  return value as Record<string, unknown>;
}
