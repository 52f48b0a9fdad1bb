import type { Redis } from 'ioredis';
import { channels, keys } from '../keys.ts';
import { luaScript, replyTuple } from './load.ts';

const script = luaScript('publish-2.lua');

export interface PublishInput {
  readonly jobId: string;
  readonly status: string;
  /** The progress asked for; the script raises it to the job's current one. */
  readonly progress: number;
  /** The event's JSON up to the progress value, and from just after it. */
  readonly jsonHead: string;
  readonly jsonTail: string;
  readonly streamMaxLen: number;
  readonly ttlSeconds: number;
  /** The event's ts (ms): the snapshot's updatedAt (and createdAt, for the first event). */
  readonly ts: number;
  /** For an event that carries text (a delta): the whole result written so far, after it. */
  readonly partial?: string;
}

export interface PublishReply {
  /** The Stream entry id: the event id. */
  readonly id: string;
  /** The progress stored, after the never-backwards guard. */
  readonly progress: number;
}

/**
 * publish-2.lua: appends the event to the job's Stream, updates its snapshot and publishes the
 * wake-up, atomically. Null when the job has already ended (its terminal event stays the last).
 */
export async function publishScript(redis: Redis, input: PublishInput): Promise<PublishReply | null> {
  const reply = await script.run(
    redis,
    [keys.events(input.jobId), keys.snapshot(input.jobId)],
    [
      channels.events(input.jobId),
      input.status,
      Math.trunc(input.progress),
      input.jsonHead,
      input.jsonTail,
      input.streamMaxLen,
      input.ttlSeconds,
      input.ts,
      input.partial === undefined ? '' : '1',
      input.partial ?? '',
    ],
  );
  if (reply === null) return null;
  const [id, progress] = replyTuple(script, reply, 2);
  return { id: String(id), progress: Number(progress) };
}
