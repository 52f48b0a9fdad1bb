import { isBuiltInKind, JOB_KINDS, KIND_NAME } from '@herald/contract';
import type { RedisClient } from '../redis/connection.ts';
import { keys } from '../redis/keys.ts';

// The registry of job kinds (docs/api.md, "Kinds"): which kinds can be submitted, and what input
// each takes, as a JSON Schema. A worker running kinds of its own (@herald/worker's startWorker)
// registers each at start and again while it runs; a kind no running worker renews is gone
// KIND_TTL_SECONDS after its last renewal. The built-in kinds (summarize, external) are the
// registry's own, in code rather than in Redis: never expiring, never taken by a worker, there
// with no worker running and before Redis answers (an API that starts while Redis is away waits
// for nothing to list them).
// The queue a kind's jobs wait on is named after the kind (jobs/queue.ts): no table to keep.

/** A kind's name: what POST /v1/jobs's `kind` says, the BullMQ queue's and job's name. Linear (no overlapping quantifiers). */
export { KIND_NAME };
/** The most kinds the registry holds: each costs the API a compiled schema and a queue. */
export const MAX_KINDS = 100;
/** The largest input JSON Schema a kind may register (its JSON's bytes). */
export const MAX_KIND_SCHEMA_BYTES = 64 * 1024;

export interface RegisteredKind {
  readonly name: string;
  /** The JSON Schema (draft 2020-12, as zod's toJSONSchema writes it) that a job's `input` must fit; null for a built-in kind, whose body is its own. */
  readonly inputSchema: Readonly<Record<string, unknown>> | null;
  /** A built-in kind (summarize, external): registered by the API, never expires. */
  readonly builtIn: boolean;
  /** When it is gone unless renewed (ms epoch); null: never. */
  readonly expiresAt: number | null;
}

interface Entry {
  readonly schema: Record<string, unknown> | null;
  readonly expiresAt: number | null;
}

/** Why a kind cannot be registered; thrown before Redis is asked. */
export class KindRegistrationError extends Error {
  override readonly name = 'KindRegistrationError';
}

export class KindRegistry {
  readonly #redis: RedisClient;
  readonly #now: () => number;

  constructor(redis: RedisClient, now: () => number = Date.now) {
    this.#redis = redis;
    this.#now = now;
  }

  /**
   * Registers (or renews) kinds for `ttlSeconds` from now: a worker's, at start and every third
   * of the TTL while it runs. A built-in kind's name cannot be taken. Throws KindRegistrationError
   * for a bad name or schema, or past MAX_KINDS.
   */
  async register(kinds: readonly { name: string; inputSchema: Record<string, unknown> }[], ttlSeconds: number): Promise<void> {
    const expiresAt = this.#now() + ttlSeconds * 1000;
    const fields: string[] = [];
    for (const { name, inputSchema } of kinds) {
      checkName(name);
      const json = JSON.stringify({ schema: inputSchema, expiresAt } satisfies Entry);
      if (Buffer.byteLength(json) > MAX_KIND_SCHEMA_BYTES) {
        throw new KindRegistrationError(`kind ${name}: its input schema is larger than ${MAX_KIND_SCHEMA_BYTES} bytes`);
      }
      fields.push(name, json);
    }
    const builtIn = kinds.find(({ name }) => isBuiltInKind(name));
    if (builtIn) throw new KindRegistrationError(`kind ${builtIn.name} is Herald's own: name yours otherwise`);
    const known = await this.list();
    const names = new Set([...known.map((kind) => kind.name), ...kinds.map((kind) => kind.name)]);
    if (names.size > MAX_KINDS) throw new KindRegistrationError(`the registry holds at most ${MAX_KINDS} kinds`);
    if (fields.length > 0) await this.#redis.hset(keys.kindRegistry, ...fields);
  }

  /** One kind, or null when none by that name is registered (or it expired). */
  async get(name: string): Promise<RegisteredKind | null> {
    if (isBuiltInKind(name)) return builtInKind(name);
    if (!KIND_NAME.test(name)) return null;
    const raw = await this.#redis.hget(keys.kindRegistry, name);
    return raw === null ? null : this.#live(name, raw);
  }

  /** Every kind registered and not expired, by name; expired ones are removed on the way. */
  async list(): Promise<RegisteredKind[]> {
    const all = await this.#redis.hgetall(keys.kindRegistry);
    const kinds: RegisteredKind[] = JOB_KINDS.map(builtInKind);
    const expired: string[] = [];
    for (const [name, raw] of Object.entries(all)) {
      if (isBuiltInKind(name)) continue; // an older API's entry for one: the code's stands
      const kind = this.#live(name, raw);
      if (kind) kinds.push(kind);
      else expired.push(name);
    }
    if (expired.length > 0) await this.#redis.hdel(keys.kindRegistry, ...expired);
    return kinds.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  #live(name: string, raw: string): RegisteredKind | null {
    let entry: Entry;
    try {
      entry = JSON.parse(raw) as Entry;
    } catch {
      return null;
    }
    if (entry.expiresAt !== null && !(entry.expiresAt > this.#now())) return null;
    return { name, inputSchema: entry.schema ?? null, builtIn: false, expiresAt: entry.expiresAt };
  }
}

/** A built-in kind as the registry lists it: never expiring, its body its own (no input schema). */
const builtInKind = (name: string): RegisteredKind => ({ name, inputSchema: null, builtIn: true, expiresAt: null });

function checkName(name: string): void {
  if (!KIND_NAME.test(name))
    throw new KindRegistrationError(`kind ${JSON.stringify(name.slice(0, 60))}: a name is a-z, then up to 47 of a-z 0-9 _ -`);
}
