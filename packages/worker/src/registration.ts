import { KindRegistry, type Logger, type RedisClient } from '@herald/shared';
import { z } from 'zod';
import type { AnyJobKind } from './jobs/kind.ts';

/** A kind as the registry holds it: its name and its input's JSON Schema (what the API checks a submission's `input` against). */
export const registeredKind = (kind: AnyJobKind): { name: string; inputSchema: Record<string, unknown> } => ({
  name: kind.name,
  // The input as a submission writes it (before any zod transform or default).
  inputSchema: z.toJSONSchema(kind.input, { io: 'input', unrepresentable: 'any' }) as Record<string, unknown>,
});

/**
 * Registers the kinds (docs/api.md, "Kinds") now, then renews them every third of the TTL while
 * the worker runs, so a kind stays submittable as long as one worker runs it and is gone
 * KIND_TTL_SECONDS after the last one stopped. The first registration must succeed (a bad name
 * or schema throws); a failed renewal is logged and tried again at the next tick.
 */
export async function registerKinds(
  redis: RedisClient,
  kinds: readonly AnyJobKind[],
  ttlSeconds: number,
  logger: Logger,
): Promise<{ stop(): void }> {
  const registry = new KindRegistry(redis);
  const entries = kinds.map(registeredKind);
  await registry.register(entries, ttlSeconds);
  const timer = setInterval(
    () => {
      registry.register(entries, ttlSeconds).catch((err: unknown) => logger.warn({ err }, 'could not renew the kinds’ registration'));
    },
    Math.max(1000, Math.floor((ttlSeconds * 1000) / 3)),
  );
  timer.unref();
  return { stop: () => clearInterval(timer) };
}
