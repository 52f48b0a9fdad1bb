// A tag feed entry's status (Stream field `s`, and the status of its pub/sub message: events/wire.ts):
// "<job status>/<owner>/<first>", written by redis/scripts/tag-relay-n.lua. The owner is the
// submitting key's id ('-' when auth was off), for a replica to tell each watcher's own jobs
// without parsing the event; `first` is 1 on the job's first entry in the feed (its `created`).
// None of the three holds a '/', and no job status is terminal with the suffix on, so a tag's
// stream never ends.

export interface TagEntryStatus {
  readonly status: string;
  /** The key that submitted the job; null when auth was off. */
  readonly owner: string | null;
  /** The job's first entry in the feed: the event that brings it into a tag's stream. */
  readonly first: boolean;
}

/** Mirrors what tag-relay-n.lua writes; used by tests and tools. */
export const tagEntryStatus = (entry: TagEntryStatus): string => `${entry.status}/${entry.owner ?? '-'}/${entry.first ? 1 : 0}`;

/** The parts of a tag feed entry's status, or null for one that is not (two slashes, by index: linear). */
export function readTagEntryStatus(status: string): TagEntryStatus | null {
  const a = status.indexOf('/');
  const b = a < 0 ? -1 : status.indexOf('/', a + 1);
  if (b < 0 || status.indexOf('/', b + 1) >= 0) return null;
  const owner = status.slice(a + 1, b);
  return { status: status.slice(0, a), owner: owner === '-' ? null : owner, first: status.slice(b + 1) === '1' };
}
