import type { RedisClient } from '../connection.ts';
import { keys } from '../keys.ts';
import { luaScript, replyTuple, ScriptReplyError } from './load.ts';

const script = luaScript('create-batch-n.lua');

export interface CreateBatchInput {
  readonly batchId: string;
  /** Each job's id, its first event (`queued`) as JSON, and its tags (JSON; none when absent), in the batch's order. */
  readonly jobs: readonly { readonly jobId: string; readonly event: string; readonly tags?: string }[];
  /** The batch's first event, as JSON. */
  readonly batchEvent: string;
  readonly ts: number;
  readonly streamMaxLen: number;
  /** Written into the batch's hash (owner, callbackUrl, …) and into every job's snapshot (kind, owner). */
  readonly batchFields: Readonly<Record<string, string>>;
  readonly jobFields: Readonly<Record<string, string>>;
}

export type CreateBatchReply =
  /** `jobEventIds`: each job's first event's id, in the batch's order. */
  { readonly outcome: 'created'; readonly eventId: string; readonly jobEventIds: readonly string[] } | { readonly outcome: 'exists' };

/** create-batch-n.lua: a batch and all its jobs, with their first events, in one step. */
export async function createBatchScript(redis: RedisClient, input: CreateBatchInput): Promise<CreateBatchReply> {
  const pairs = (fields: Readonly<Record<string, string>>) => [Object.keys(fields).length, ...Object.entries(fields).flat()];
  const n = input.jobs.length;
  const reply = await script.run(
    redis,
    [
      keys.batch(input.batchId),
      keys.batchEvents(input.batchId),
      ...input.jobs.flatMap(({ jobId }) => [keys.events(jobId), keys.snapshot(jobId)]),
    ],
    [
      input.ts,
      n,
      input.streamMaxLen * n + 100,
      input.streamMaxLen,
      input.batchEvent,
      ...pairs(input.batchFields),
      ...pairs(input.jobFields),
      ...input.jobs.map(({ event }) => event),
      ...input.jobs.map(({ tags }) => tags ?? ''),
    ],
  );
  if (Array.isArray(reply) && reply[0] === 'exists') return { outcome: 'exists' };
  if (!Array.isArray(reply) || reply[0] !== 'ok') throw new ScriptReplyError(`${script.name}: unexpected reply ${JSON.stringify(reply)}`);
  const [, eventId, jobEventIds] = replyTuple(script, reply, 3);
  if (!Array.isArray(jobEventIds) || jobEventIds.length !== n) throw new ScriptReplyError(`${script.name}: expected ${n} job event ids`);
  return { outcome: 'created', eventId: String(eventId), jobEventIds: jobEventIds.map(String) };
}
