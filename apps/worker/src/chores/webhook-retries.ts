/** The longest wait a receiver's Retry-After is followed to (docs/api.md, "Webhooks"). */
export const RETRY_AFTER_CAP_MS = 3_600_000;

/** A failed attempt, with the wait its receiver asked for (Retry-After), if any. */
export class WebhookAttemptFailed extends Error {
  override readonly name = 'WebhookAttemptFailed';
  readonly retryAfterMs: number | null;

  constructor(message: string, retryAfterMs: number | null) {
    super(message);
    this.retryAfterMs = retryAfterMs;
  }
}

/**
 * A Retry-After header's wait in ms, from now: delay-seconds (`120`) or an HTTP date; null when
 * absent or unreadable. Capped at RETRY_AFTER_CAP_MS, so a receiver cannot park a delivery for
 * ever. A date in the past is no wait at all.
 */
export function retryAfterMs(value: string | undefined, now: number): number | null {
  if (value === undefined) return null;
  const text = value.trim();
  if (text === '' || text.length > 64) return null;
  let wait: number;
  if (/^\d+$/.test(text)) wait = Number(text) * 1000;
  else {
    // An HTTP date starts with its day's name; Date.parse alone would take `-5` for a year.
    if (!/^[A-Za-z]/.test(text)) return null;
    const at = Date.parse(text);
    if (Number.isNaN(at)) return null;
    wait = at - now;
  }
  return Math.min(RETRY_AFTER_CAP_MS, Math.max(0, wait));
}

/**
 * The wait before retry number `retry` (1 for the first): the doubling backoff (`baseMs`, then
 * 2×, 4×, …) with equal jitter — somewhere between half of it and all of it, so the retries of
 * many webhooks to one receiver that was down do not all land at once — and never shorter than
 * the receiver's Retry-After. `random` is in [0, 1).
 */
export function webhookRetryDelay(retry: number, baseMs: number, retryAfter: number | null, random: number = Math.random()): number {
  const doubled = Math.min(baseMs * 2 ** Math.max(0, retry - 1), RETRY_AFTER_CAP_MS * 24);
  const jittered = Math.round(doubled / 2 + (doubled / 2) * random);
  return Math.max(jittered, retryAfter ?? 0);
}
