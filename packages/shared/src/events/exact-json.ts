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

/** Whether a value is a number kept as its digits (keepDigits). */
export const isKeptDigits = (value: unknown): value is RawJson => json.isRawJSON(value);

/**
 * The value with every number kept as digits made a double again (a progress of `50.0` is 50),
 * for what is checked and used as numbers: everything of a request but its result. A loop over an
 * explicit stack, never recursion, visiting each value once (the body is a tree).
 */
export function withPlainNumbers(value: unknown): unknown {
  if (isKeptDigits(value)) return Number(value.rawJSON);
  const stack: unknown[] = [value];
  for (let item = stack.pop(); item !== undefined; item = stack.pop()) {
    if (typeof item !== 'object' || item === null) continue;
    const container = item as Record<string, unknown>;
    for (const key of Object.keys(container)) {
      const child = container[key];
      if (isKeptDigits(child)) container[key] = Number(child.rawJSON);
      else stack.push(child);
    }
  }
  return value;
}
