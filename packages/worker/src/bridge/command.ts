import { parseArgs } from 'node:util';
import { type Config, type Logger, runService } from '@herald/shared';
import { type BullmqBridge, bridgeQueue } from './bridge.ts';

// `herald-worker bridge --queue NAME`: bridgeQueue as a process of its own, with Herald's
// settings from the environment (REDIS_URL, JOB_TTL_SECONDS, …, as every Herald process reads
// them), stopped gracefully by SIGTERM/SIGINT.

export const BRIDGE_USAGE = `herald-worker bridge --queue NAME [--prefix bull] [--redis-url URL] [--tag TAG]... [--owner-key-id ID] [--lease-ms 10000]

Makes a Herald job for every job of the BullMQ queue NAME, tagged bullmq:NAME:<job id>.
  --redis-url     the BullMQ queue's Redis (default: Herald's, REDIS_URL)
  --prefix        the queue's BullMQ prefix (default: bull)
  --tag           one more tag for every bridged job (repeatable)
  --owner-key-id  the id of the API key that owns the bridged jobs; or HERALD_BRIDGE_OWNER_KEY=<the key>
                  in the environment (its id is derived with WATCH_TOKEN_SECRET)
  --lease-ms      how long a bridge holds the queue without renewing (default 10000): a second bridge
                  waits, and takes over this long after the first one died`;

export interface BridgeCommandArgs {
  readonly queue: string;
  readonly prefix?: string | undefined;
  readonly redisUrl?: string | undefined;
  readonly tags?: readonly string[] | undefined;
  readonly ownerKeyId?: string | undefined;
  readonly leaseMs?: number | undefined;
}

/** The command's arguments (argv after `bridge`), or a usage error. */
export function parseBridgeArgs(argv: readonly string[]): BridgeCommandArgs {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      queue: { type: 'string' },
      prefix: { type: 'string' },
      'redis-url': { type: 'string' },
      tag: { type: 'string', multiple: true },
      'owner-key-id': { type: 'string' },
      'lease-ms': { type: 'string' },
    },
    strict: true,
    allowPositionals: false,
  });
  if (values.queue === undefined || values.queue === '') throw new TypeError(`--queue is required\n\n${BRIDGE_USAGE}`);
  const leaseMs = values['lease-ms'] === undefined ? undefined : Number(values['lease-ms']);
  if (leaseMs !== undefined && !(Number.isInteger(leaseMs) && leaseMs >= 300 && leaseMs <= 600_000)) {
    throw new TypeError('--lease-ms is a whole number of ms from 300 to 600000');
  }
  return {
    queue: values.queue,
    leaseMs,
    prefix: values.prefix,
    redisUrl: values['redis-url'],
    tags: values.tag,
    ownerKeyId: values['owner-key-id'],
  };
}

/** Starts the bridge for the parsed arguments, with Herald's config and logger (what runService gives). */
export function startBridgeCommand(
  args: BridgeCommandArgs,
  config: Config,
  logger: Logger,
  env: NodeJS.ProcessEnv = process.env,
): Promise<BullmqBridge> {
  const ownerKey = env.HERALD_BRIDGE_OWNER_KEY;
  const connection = args.redisUrl ?? config.REDIS_URL;
  if (connection === undefined) throw new TypeError('--redis-url is required when Herald’s Redis is not one REDIS_URL');
  return bridgeQueue({
    queue: args.queue,
    connection,
    herald: config,
    logger,
    ...(args.prefix === undefined ? {} : { prefix: args.prefix }),
    ...(args.tags === undefined ? {} : { tags: args.tags }),
    ...(args.ownerKeyId === undefined ? {} : { ownerKeyId: args.ownerKeyId }),
    ...(args.ownerKeyId === undefined && ownerKey ? { ownerKey } : {}),
    ...(args.leaseMs === undefined ? {} : { leaseMs: args.leaseMs }),
  });
}

/** The whole command: `herald-worker bridge …` calls this with the arguments after `bridge`. */
export async function runBridgeCommand(argv: readonly string[]): Promise<void> {
  let args: BridgeCommandArgs;
  try {
    args = parseBridgeArgs(argv);
  } catch (error) {
    console.error(`herald-worker bridge: ${(error as Error).message}`);
    process.exit(2);
  }
  await runService('bullmq-bridge', (config, logger) => startBridgeCommand(args, config, logger));
}
