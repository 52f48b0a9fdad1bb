import type { Redis } from 'ioredis';
import type { Logger } from '../logger.ts';
import { isCluster, type RedisClient } from './connection.ts';

/** The check gives up after this long: it never holds start-up back (it is not awaited). */
export const MEMORY_POLICY_CHECK_MS = 3000;

/** The one policy under which Redis never drops a job's Stream, snapshot or queue entry. */
const SAFE_POLICY = 'noeviction';

/** Redis targets checked by this process: `npm start` runs an API and a worker, and warns once. */
const checked = new Set<string>();

interface Read {
  readonly node: string;
  readonly policy: string;
}
interface Refused {
  readonly node: string;
  /** The code of Redis's error reply (NOPERM, ERR unknown command). */
  readonly refused: string;
}
type Policy = Read | Refused;

/**
 * At start (API and worker): warns loudly, naming the fix, when Redis may evict keys under
 * memory pressure: any `maxmemory-policy` but `noeviction` can drop a job's Stream or snapshot,
 * or BullMQ's queue (BullMQ itself only prints a console warning). On a Cluster every master is
 * checked. Read by CONFIG GET, else by INFO memory (as BullMQ does; managed Redis often disables
 * CONFIG); where both are refused (an ACL), one line says so and start-up goes on. Resolves
 * within MEMORY_POLICY_CHECK_MS, never rejects; `where` names the target (describeRedis).
 */
export async function checkMemoryPolicy(redis: RedisClient, logger: Logger, where: string): Promise<void> {
  if (checked.has(where)) return;
  checked.add(where);
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<'late'>((resolve) => {
    timer = setTimeout(() => resolve('late'), MEMORY_POLICY_CHECK_MS).unref();
  });
  try {
    const policies = await Promise.race([policiesOf(redis), late]);
    if (policies === 'late') {
      logger.warn(`could not check Redis's maxmemory-policy within ${MEMORY_POLICY_CHECK_MS} ms; make sure it is ${SAFE_POLICY}`);
      return;
    }
    report(policies, logger, where);
  } catch (error) {
    logger.warn({ err: error }, `could not check Redis's maxmemory-policy; make sure it is ${SAFE_POLICY}`);
  } finally {
    clearTimeout(timer);
  }
}

function report(policies: readonly Policy[], logger: Logger, where: string): void {
  const refused = policies.filter((p): p is Refused => 'refused' in p);
  if (refused.length > 0) {
    logger.warn(
      { nodes: refused.map((p) => p.node), reply: refused[0]!.refused },
      `Redis refused CONFIG GET and INFO (an ACL or a managed Redis): cannot check its maxmemory-policy; make sure it is ${SAFE_POLICY}`,
    );
  }
  const evicting = policies.filter((p): p is Read => 'policy' in p && p.policy !== SAFE_POLICY);
  if (evicting.length === 0) {
    if (refused.length === 0) logger.debug({ nodes: policies.map((p) => p.node) }, `redis maxmemory-policy is ${SAFE_POLICY}`);
    return;
  }
  logger.warn(
    { nodes: evicting.map((p) => p.node), maxmemoryPolicy: evicting[0]!.policy },
    `IMPORTANT: ${where} has maxmemory-policy ${evicting[0]!.policy}: at its memory limit it will evict keys, and jobs' ` +
      `histories, snapshots and queue entries will vanish. Set maxmemory-policy ${SAFE_POLICY} ` +
      `(redis.conf, or CONFIG SET maxmemory-policy ${SAFE_POLICY}); Herald then answers 503 redis_out_of_memory when full`,
  );
}

/** Every master's policy (one Redis: itself). A Cluster's masters are known once it is ready. */
async function policiesOf(redis: RedisClient): Promise<Policy[]> {
  // One Redis, or the master behind Sentinel (whose address ioredis keeps to itself).
  if (!isCluster(redis)) return [await policyOf(redis, 'master')];
  if (redis.status !== 'ready') await new Promise((resolve) => redis.once('ready', resolve));
  return Promise.all(redis.nodes('master').map((node) => policyOf(node, `${node.options.host}:${node.options.port}`)));
}

async function policyOf(node: Redis, name: string): Promise<Policy> {
  try {
    const [, policy] = (await node.config('GET', 'maxmemory-policy')) as [string, string];
    return { node: name, policy };
  } catch (error) {
    if (!isReplyError(error)) throw error;
  }
  try {
    return { node: name, policy: infoField(await node.info('memory'), 'maxmemory_policy') };
  } catch (error) {
    if (!isReplyError(error)) throw error;
    return { node: name, refused: error.message.split(' ', 1)[0]! };
  }
}

/** Redis answered with an error (NOPERM, unknown command): the command is not allowed here. */
const isReplyError = (error: unknown): error is Error => error instanceof Error && error.name === 'ReplyError';

/** One `field:value` line of INFO's reply. */
function infoField(info: string, field: string): string {
  const line = info.split('\n').find((text) => text.startsWith(`${field}:`));
  if (line === undefined) throw new Error(`INFO has no ${field}`);
  return line.slice(field.length + 1).trimEnd();
}
