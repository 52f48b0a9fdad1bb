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

const REQUEST_LINE = /^([A-Z]+) (\/[\x21-\x7e]*) HTTP\/1\.([01])$/;
/** RFC 9110 token characters, then the value: visible characters, spaces, tabs and obs-text. */
const HEADER_LINE = /^([!#$%&'*+\-.^_`|~0-9A-Za-z]+):[ \t]*([\t\x20-\x7e\x80-\xff]*?)[ \t]*$/;
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
    const header = HEADER_LINE.exec(lines[i]!);
    if (!header) return null; // a bare CR or LF, folding, a bad name or byte
    const name = header[1]!;
    const key = name.toLowerCase();
    if (key in headers || LEFT_TO_NODE.has(key)) return null;
    headers[key] = header[2]!;
    rawHeaders.push(name, header[2]!);
  }
  return { method: request[1]!, url: request[2]!, httpVersionMinor: request[3] === '1' ? 1 : 0, rawHeaders, headers: { ...headers } };
}
