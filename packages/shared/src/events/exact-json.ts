// A job's result is any JSON value, and its numbers travel with the digits its producer wrote:
// 12345678901234567890 or 1.10 would come out of JavaScript's doubles as 12345678901234567000
// and 1.1. Herald never does arithmetic on a result, so it keeps such a number as its source
// text (JSON.rawJSON, Node ≥ 21), which JSON.stringify writes back as it is: the event's JSON,
// the snapshot and a webhook's body then carry the producer's digits exactly.

/** The parse context JSON.parse gives a reviver (ES2025's JSON.parse source text access). */
interface ReviverContext {
  readonly source?: string;
}

type RawJson = { readonly rawJSON: string };
const json = JSON as unknown as {
  rawJSON(text: string): RawJson;
  isRawJSON(value: unknown): value is RawJson;
  parse(text: string, reviver: (this: unknown, key: string, value: unknown, context?: ReviverContext) => unknown): unknown;
};

/** A reviver that keeps a number whose double would change its digits as those digits. */
export function keepDigits(_key: string, value: unknown, context?: ReviverContext): unknown {
  const source = context?.source;
  return typeof value === 'number' && source !== undefined && String(value) !== source ? json.rawJSON(source) : value;
}

/** JSON.parse, numbers kept as written when a double would change them (keepDigits). */
export const parseKeepingDigits = (text: string): unknown => json.parse(text, keepDigits);

/**
 * Whether JSON text holds a number a double would write differently: a fraction or an exponent
 * (`1.10`, `1E3`), 16 digits or more (past 2^53 may round), or `-0`. A linear scan that skips
 * strings (a `\` escapes the character after it), so that the costly parse (a reviver call per
 * value) runs only for a text that needs it. It may say yes for a number a double keeps (`1.5`):
 * that costs the second parse, never a digit.
 */
export function hasInexactNumber(text: string): boolean {
  let inString = false;
  let digits = 0;
  let negative = false;
  for (let i = 0; i < text.length; i += 1) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i += 1;
      else if (c === 0x22) inString = false;
      continue;
    }
    if (c >= 0x30 && c <= 0x39) {
      digits += 1;
      if (digits >= 16) return true;
      continue;
    }
    // A number's end: a fraction or an exponent goes on from its digits; `-0` is one digit, 0.
    if (digits > 0 && (c === 0x2e || c === 0x65 || c === 0x45)) return true;
    if (negative && digits === 1 && text.charCodeAt(i - 1) === 0x30) return true;
    negative = c === 0x2d;
    digits = 0;
    if (c === 0x22) inString = true;
  }
  return negative && digits === 1 && text.charCodeAt(text.length - 1) === 0x30;
}
