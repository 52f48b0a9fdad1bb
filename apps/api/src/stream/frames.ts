// Server-Sent Events framing (WHATWG HTML, "Server-sent events"). A field value may not hold a
// line break, so multi-line data becomes several `data:` lines, which the client joins with "\n".

const LINE_BREAK = /\r\n|\r|\n/;

/** `name`: the `event:` line of a typed stream; without one, a client's `onmessage` gets it. */
export function eventFrame(id: string, data: string, name?: string): string {
  return eventHead(id, name) + dataLines(data);
}

/** A frame's `event:` and `id:` lines: what differs between connections for one event. */
export const eventHead = (id: string, name?: string): string => (name === undefined ? `id: ${id}\n` : `event: ${name}\nid: ${id}\n`);

/** A frame's `data:` lines and its closing blank line: the same on every connection. */
export function dataLines(data: string): string {
  const lines = LINE_BREAK.test(data) ? data.split(LINE_BREAK) : [data];
  let text = '';
  for (const line of lines) text += `data: ${line}\n`;
  return `${text}\n`;
}

export const retryFrame = (ms: number): string => `retry: ${ms}\n\n`;

export function commentFrame(text = ''): string {
  return text
    .split(LINE_BREAK)
    .map((line) => (line ? `: ${line}\n` : ':\n'))
    .join('')
    .concat('\n');
}

export const SSE_HEADERS = {
  'Content-Type': 'text/event-stream; charset=utf-8',
  'Cache-Control': 'no-cache, no-transform',
  'X-Accel-Buffering': 'no',
  // The one security header that means anything for an event stream (http/edge-headers.ts).
  'X-Content-Type-Options': 'nosniff',
} as const;
