import type { RedisClient } from '../connection.ts';
import { keys } from '../keys.ts';
import { luaScript, replyTuple } from './load.ts';

const script = luaScript('job-record-2.lua');

export interface JobRecordReply {
  /** The snapshot hash (empty for an unknown or expired job). */
  readonly hash: Record<string, string>;
  /** The text being written, or null when none is. */
  readonly text: string | null;
  /** The job's named streams, name → text, in the order they began (empty when it has none). */
  readonly streams: ReadonlyMap<string, string>;
}

/** job-record-2.lua: the snapshot hash, the text being written and the named streams, as of one instant. */
export async function jobRecordScript(redis: RedisClient, jobId: string): Promise<JobRecordReply> {
  const [flat, text, named] = replyTuple(
    script,
    await script.run(redis, [keys.snapshot(jobId), keys.text(jobId)], [keys.streamTextPrefix(jobId)]),
    3,
  );
  const hash: Record<string, string> = {};
  const fields = Array.isArray(flat) ? (flat as string[]) : [];
  for (let i = 0; i + 1 < fields.length; i += 2) hash[fields[i]!] = fields[i + 1]!;
  const streams = new Map<string, string>();
  const pairs = Array.isArray(named) ? (named as string[]) : [];
  for (let i = 0; i + 1 < pairs.length; i += 2) streams.set(pairs[i]!, pairs[i + 1]!);
  return { hash, text: typeof text === 'string' ? text : null, streams };
}
