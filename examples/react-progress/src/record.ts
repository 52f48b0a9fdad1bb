// What the page rendered, kept for whoever looks (the browser test reads `window.heraldRenders`
// to check every state shown against the job's stored history). Each entry is a committed render.

interface Recorded {
  readonly view: string;
  readonly [field: string]: unknown;
}

declare global {
  interface Window {
    heraldRenders?: Recorded[];
  }
}

export function recordRender(view: string, fields: object): void {
  window.heraldRenders ??= [];
  window.heraldRenders.push({ view, ...structuredCloneable(fields) });
}

/** The fields as plain data (a HeraldError becomes its code and message). */
function structuredCloneable(fields: object): Record<string, unknown> {
  return JSON.parse(
    JSON.stringify(fields, (_key, value: unknown) => (value instanceof Error ? { ...value, message: value.message } : value)),
  );
}
