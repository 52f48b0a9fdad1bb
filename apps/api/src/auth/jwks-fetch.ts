import type { FetchImplementation } from 'jose';

/**
 * The most a JWKS answer may weigh, decoded: a key set holds a few keys (a 4096-bit RSA key is
 * ~0.8 KB, with its certificate chain a few KB), so 256 KiB is room to spare, and a JWKS URL that
 * answers a gigabyte costs a replica 256 KiB, not its memory.
 */
export const MAX_JWKS_BYTES = 256 * 1024;

/** After a failed fetch, the next one waits this long: an unreachable key set is not hammered once per request. */
export const JWKS_RETRY_AFTER_FAILURE_MS = 5_000;

/** A fetch not made because the last one failed moments ago (already logged then). */
export class JwksFetchThrottled extends Error {
  override readonly name = 'JwksFetchThrottled';
}

/**
 * The fetch jose's remote key set goes through (its `customFetch`): the answer is read up to
 * MAX_JWKS_BYTES (jose's own would read any size), must be a 200 with a JSON object holding a
 * `keys` array, and a failure holds the next attempt back JWKS_RETRY_AFTER_FAILURE_MS — jose
 * counts its 30 s cooldown from the last success only, so without this every token with an
 * unknown `kid` would send a fetch while the key set is down. jose's signal (its timeout)
 * bounds the body's reading as well as the connection. `onFailure` hears each real failure once.
 */
export function boundedJwksFetch(onFailure: (error: Error) => void, now: () => number = Date.now): FetchImplementation {
  let failedAt: number | null = null;
  return async (url, options) => {
    if (failedAt !== null && now() - failedAt < JWKS_RETRY_AFTER_FAILURE_MS) {
      throw new JwksFetchThrottled('the key set could not be fetched moments ago; not trying again yet');
    }
    try {
      const text = await readKeySet(url, options);
      failedAt = null;
      return new Response(text, { status: 200, headers: { 'content-type': 'application/json' } });
    } catch (error) {
      failedAt = now();
      const failure = error instanceof Error ? error : new Error(String(error));
      onFailure(failure);
      throw failure;
    }
  };
}

async function readKeySet(url: string, options: Parameters<FetchImplementation>[1]): Promise<string> {
  const response = await fetch(url, options);
  if (response.status !== 200 || response.body === null) {
    await response.body?.cancel();
    throw new Error(`the key set answered ${response.status}, not 200`);
  }
  const declared = Number(response.headers.get('content-length') ?? 0);
  if (declared > MAX_JWKS_BYTES) {
    await response.body.cancel();
    throw new Error(`the key set is ${declared} bytes, more than ${MAX_JWKS_BYTES}`);
  }
  const chunks: Uint8Array[] = [];
  let bytes = 0;
  const reader = response.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    bytes += value.byteLength;
    if (bytes > MAX_JWKS_BYTES) {
      await reader.cancel();
      throw new Error(`the key set is more than ${MAX_JWKS_BYTES} bytes`);
    }
    chunks.push(value);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new Error('the key set is not JSON');
  }
  const keys = (json as { keys?: unknown } | null)?.keys;
  if (typeof json !== 'object' || json === null || !Array.isArray(keys) || !keys.every((key) => typeof key === 'object' && key !== null)) {
    throw new Error('the key set is not a JWKS ({"keys": [...]})');
  }
  return text;
}
