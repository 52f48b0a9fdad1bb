import { redisUnavailable } from './errors.ts';

/**
 * Bounds a Redis round trip made for an HTTP request: when Redis is slow or away the client gets
 * a 503 within `ms` instead of a hanging request.
 */
export async function withinDeadline<T>(work: Promise<T>, ms = 2000): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(redisUnavailable()), ms);
  });
  try {
    return await Promise.race([work, deadline]);
  } finally {
    clearTimeout(timer);
  }
}
