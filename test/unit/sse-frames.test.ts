import { describe, expect, it } from 'vitest';
import { createParser, type EventSourceMessage } from 'eventsource-parser';
import { commentFrame, eventFrame, retryFrame } from '../../apps/api/src/stream/frames.ts';

/** What a spec-following client makes of a frame. */
function parse(text: string) {
  const events: EventSourceMessage[] = [];
  const comments: string[] = [];
  let retry: number | undefined;
  createParser({
    onEvent: (event) => events.push(event),
    onComment: (comment) => comments.push(comment),
    onRetry: (ms) => {
      retry = ms;
    },
  }).feed(text);
  return { events, comments, retry };
}

describe('eventFrame', () => {
  it('writes an id line, a data line and a blank line, with no event line', () => {
    expect(eventFrame('1-0', '{"a":1}')).toBe('id: 1-0\ndata: {"a":1}\n\n');
  });

  it('splits multi-line data over several data lines, which the client joins back', () => {
    const data = 'first\nsecond\r\nthird\rfourth';
    const frame = eventFrame('7-3', data);
    expect(frame).toBe('id: 7-3\ndata: first\ndata: second\ndata: third\ndata: fourth\n\n');
    expect(parse(frame).events).toEqual([{ id: '7-3', data: 'first\nsecond\nthird\nfourth', event: undefined }]);
  });

  it('keeps empty lines and leading spaces of data', () => {
    const data = ' indented\n\nafter a blank';
    expect(parse(eventFrame('1-1', data)).events[0]!.data).toBe(data);
  });

  it('round-trips JSON with quotes, unicode and escaped newlines', () => {
    const json = JSON.stringify({ message: 'say "hi"\nto 世界 \u2028 ok' });
    expect(parse(eventFrame('9-9', json)).events[0]!.data).toBe(json);
  });
});

describe('retry and comments', () => {
  it('writes a retry field the client reads as its reconnection delay', () => {
    expect(retryFrame(3000)).toBe('retry: 3000\n\n');
    expect(parse(retryFrame(3000)).retry).toBe(3000);
  });

  it('writes comments the client ignores as events', () => {
    expect(commentFrame()).toBe(':\n\n');
    const parsed = parse(commentFrame('keep-alive\nsecond line'));
    expect(parsed.events).toEqual([]);
    expect(parsed.comments).toEqual(['keep-alive', 'second line']);
  });
});
