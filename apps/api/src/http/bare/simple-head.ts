/**
 * A request head read straight off a socket, for the event streams (front.ts): a stream's
 * request is a GET with a few headers and no body, and node:http's parser, kept for the life of
 * the connection, costs ~7.6 KB per watcher on Node 24 (docs/benchmarks.md, "Memory per
 * watcher"). This reads only heads that are plainly valid and leaves everything else — anything
 * node:http would read differently, refuse, or answer specially — to node:http, which then sees
 * the bytes as if they had just arrived. So it never has to be as complete as node:http; only
 * never wrong about what it accepts.
 */
export interface SimpleHead {
  readonly method: string;
  /** The request target as sent (origin form: `/path?query`). */
  readonly url: string;
  /** 0 or 1: HTTP/1.0 or HTTP/1.1. */
  readonly httpVersionMinor: 0 | 1;
  /** Names as sent, values without surrounding whitespace, as node:http gives `rawHeaders`. */
  readonly rawHeaders: string[];
  /** Lower-cased names; each name appears once (a repeated header is left to node:http). */
  readonly headers: Record<string, string>;
}

/** node:http's default maxHeaderSize: a longer head is node:http's to refuse (431). */
export const MAX_SIMPLE_HEAD_BYTES = 16 * 1024;
/** An EventSource sends a handful; a head with more is unusual enough to be node:http's. */
const MAX_HEADERS = 64;

// Every pattern here is anchored and has one quantifier over one class, so it runs in time linear
// in its input: the head comes from anyone (a pattern with adjacent quantifiers over overlapping
// classes, like `[ \t]*(…)*?[ \t]*$`, backtracks in cubic time on blanks before a refused byte).
const REQUEST_LINE = /^([A-Z]+) (\/[\x21-\x7e]*) HTTP\/1\.([01])$/;
/** RFC 9110 token characters: a header's name. */
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** A header's value as node:http takes it: visible characters, spaces, tabs and obs-text. */
const VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;
/**
 * Headers that change how the rest of the connection is read or ask for an interim answer, and
 * one name an object literal would misread.
 */
const LEFT_TO_NODE = new Set(['content-length', 'transfer-encoding', 'upgrade', 'expect', '__proto__']);

/**
 * The head when `chunk` is exactly one complete, plain request head (ending in CRLF CRLF, nothing
 * after it); otherwise null, and the caller hands the bytes to node:http.
 */
export function parseSimpleHead(chunk: Buffer): SimpleHead | null {
  const length = chunk.length;
  if (length < 4 || length > MAX_SIMPLE_HEAD_BYTES) return null;
  if (chunk[length - 4] !== 13 || chunk[length - 3] !== 10 || chunk[length - 2] !== 13 || chunk[length - 1] !== 10) return null;
  const lines = chunk.toString('latin1', 0, length - 4).split('\r\n');
  if (lines.length - 1 > MAX_HEADERS) return null;
  const request = REQUEST_LINE.exec(lines[0]!);
  if (!request) return null;
  const rawHeaders: string[] = [];
  const headers: Record<string, string> = Object.create(null);
  for (let i = 1; i < lines.length; i += 1) {
    const line = lines[i]!;
    // A name is all token characters, so it ends at the first colon.
    const colon = line.indexOf(':');
    const name = line.slice(0, colon);
    if (colon < 1 || !TOKEN.test(name)) return null; // folding, a bad name
    const rest = line.slice(colon + 1);
    if (!VALUE.test(rest)) return null; // a bare CR or LF, a control byte
    const value = withoutBlanks(rest);
    const key = name.toLowerCase();
    if (key in headers || LEFT_TO_NODE.has(key)) return null;
    headers[key] = value;
    rawHeaders.push(name, value);
  }
  return { method: request[1]!, url: request[2]!, httpVersionMinor: request[3] === '1' ? 1 : 0, rawHeaders, headers: { ...headers } };
}

const isBlank = (code: number): boolean => code === 0x20 || code === 0x09;

/**
 * `value` without leading and trailing spaces and tabs, as node:http strips them: by index, in
 * one pass (`trim()` would also strip \xa0, which node keeps; `/[ \t]+$/` is quadratic in V8).
 */
function withoutBlanks(value: string): string {
  let start = 0;
  let end = value.length;
  while (start < end && isBlank(value.charCodeAt(start))) start += 1;
  while (end > start && isBlank(value.charCodeAt(end - 1))) end -= 1;
  return value.slice(start, end);
}
