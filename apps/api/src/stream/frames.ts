// Server-Sent Events framing (WHATWG HTML, "Server-sent events"). A field value may not hold a
// line break, so multi-line data becomes several `data:` lines, which the client joins with "\n".

const LINE_BREAK = /\r\n|\r|\n/;

/** `name`: the `event:` line of a typed stream; without one, a client's `onmessage` gets it. */
export function eventFrame(id: string, data: string, name?: string): string {
  const lines = LINE_BREAK.test(data) ? data.split(LINE_BREAK) : [data];
  let frame = name === undefined ? `id: ${id}\n` : `event: ${name}\nid: ${id}\n`;
  for (const line of lines) frame += `data: ${line}\n`;
  return `${frame}\n`;
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
