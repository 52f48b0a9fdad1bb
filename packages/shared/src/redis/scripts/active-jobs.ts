import type { RedisClient } from '../connection.ts';
import { keys } from '../keys.ts';
import { luaScript, replyTuple } from './load.ts';

const script = luaScript('active-jobs-1.lua');

export interface ActiveJobsReply {
  /** False when the jobs would take the key past its limit: none was added. */
  readonly admitted: boolean;
  /** The key's jobs that have not ended, after the call. */
  readonly held: number;
}

/** active-jobs-1.lua: admits a submission's jobs into its key's set of jobs not ended, all or none. */
export async function activeJobsScript(
  redis: RedisClient,
  keyId: string,
  limit: number,
  jobIds: readonly string[],
): Promise<ActiveJobsReply> {
  const reply = await script.run(redis, [keys.activeJobs(keyId)], [limit, ...jobIds]);
  const [admitted, held] = replyTuple(script, reply, 2);
  return { admitted: Number(admitted) === 1, held: Number(held) };
}
