// Event ids are the job's Redis Stream entry ids ("<ms>-<seq>"), and the SSE ids. They are
// compared numerically: string comparison would put "10-0" before "9-0".

export interface StreamId {
  readonly ms: number;
  readonly seq: number;
}

const STREAM_ID = /^(\d{1,15})-(\d{1,15})$/;

export function parseStreamId(text: string): StreamId | null {
  const match = STREAM_ID.exec(text);
  if (!match) return null;
  return { ms: Number(match[1]), seq: Number(match[2]) };
}

/** Negative when a is before b, 0 when equal, positive when after. */
export function compareStreamIds(a: StreamId, b: StreamId): number {
  return a.ms - b.ms || a.seq - b.seq;
}

export const STREAM_START: StreamId = { ms: 0, seq: 0 };

export const formatStreamId = (id: StreamId): string => `${id.ms}-${id.seq}`;
