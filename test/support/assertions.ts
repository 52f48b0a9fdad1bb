import { expect } from 'vitest';
import { compareStreamIds, isTerminal, parseStreamId } from '@herald/contract';
import { EventReader, type RedisClient } from '@herald/shared';
import type { ReceivedEvent } from './sse-client.ts';

/** More events than any test's job has: a whole history in one read (EventReader reads in pages). */
export const WHOLE_HISTORY = 1_000_000;

/**
 * The delivery promise, checked against the job's own Stream: the watcher got exactly the
 * Stream's events after its cursor, in order, with ids increasing, progress never going back,
 * and one terminal event, last.
 */
export async function expectExactHistory(redis: RedisClient, jobId: string, events: readonly ReceivedEvent[], after: string | null = null) {
  const stored = await new EventReader(redis).eventsAfter(jobId, after, WHOLE_HISTORY);
  expect(events.map((event) => event.id)).toEqual(stored.map((event) => event.id));
  expect(events.map((event) => event.data)).toEqual(stored.map((event) => event.data));
  for (let i = 1; i < events.length; i += 1) {
    const previous = parseStreamId(events[i - 1]!.id!)!;
    expect(compareStreamIds(parseStreamId(events[i]!.id!)!, previous)).toBeGreaterThan(0);
    expect(events[i]!.json.progress).toBeGreaterThanOrEqual(events[i - 1]!.json.progress);
  }
  const terminals = events.filter((event) => isTerminal(event.json.status));
  expect(terminals).toHaveLength(1);
  expect(events.at(-1)).toBe(terminals[0]);
}

/** A coded error as docs/api.md has it: this status and code, and a message for people. */
export function expectError(response: { status: number; body: any }, status: number, code: string): void {
  expect({ status: response.status, code: response.body?.error?.code }).toEqual({ status, code });
  expect(response.body.error.message).toEqual(expect.any(String));
}
