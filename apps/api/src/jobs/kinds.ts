import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import { type KindRegistry, MAX_KINDS, type RegisteredKind } from '@herald/shared';
import { redisCall } from '../http/deadline.ts';
import { badRequest, HttpError } from '../http/errors.ts';

/** The most mismatches one refusal lists: enough to fix the input, not a reply that grows with it. */
const MAX_DETAILS = 20;

/**
 * The kinds a submission may name (docs/api.md, "Kinds"): the registry's, looked up per
 * submission (one HGET), and each registered kind's input schema, compiled once (ajv) and again
 * only when a worker registers another. A kind's schema is its author's, as its code is: Herald
 * bounds the input (its bytes, by the body limit; its depth, before any schema walks it), the
 * kind's author keeps its patterns linear.
 */
export class Kinds {
  readonly #registry: KindRegistry;
  readonly #ajv = new Ajv2020({ allErrors: true, strict: false });
  /** Per kind: the schema's JSON it was compiled from, and the check. At most MAX_KINDS entries. */
  readonly #compiled = new Map<string, { readonly json: string; readonly validate: ValidateFunction }>();

  constructor(registry: KindRegistry) {
    this.#registry = registry;
  }

  /** A registered kind, or the 400 unknown_kind that lists the registered ones. */
  async require(name: string): Promise<RegisteredKind> {
    // Each read under the Redis deadline on its own: the 400 below is not Redis's failure.
    const kind = await redisCall(this.#registry.get(name));
    if (kind && !kind.builtIn) return kind;
    const known = (await redisCall(this.#registry.list())).map((registered) => registered.name);
    throw new HttpError(
      400,
      'unknown_kind',
      `No running worker has registered kind ${JSON.stringify(name)}; registered: ${known.join(', ')}`,
    );
  }

  /** Throws the 400 that names each place `input` does not fit the kind's schema (`input.<path>: message`). */
  check(kind: RegisteredKind, input: unknown): void {
    const validate = this.#validator(kind);
    if (validate(input)) return;
    const details = (validate.errors ?? []).slice(0, MAX_DETAILS).map((error) => ({
      path: ['input', ...error.instancePath.split('/').slice(1).map(unescapePointer)].join('.'),
      message: error.message ?? 'does not fit',
    }));
    throw badRequest(`The input does not fit what a ${kind.name} job takes`, details);
  }

  #validator(kind: RegisteredKind): ValidateFunction {
    const json = JSON.stringify(kind.inputSchema ?? {});
    const cached = this.#compiled.get(kind.name);
    if (cached?.json === json) return cached.validate;
    let validate: ValidateFunction;
    try {
      validate = this.#ajv.compile(kind.inputSchema ?? {});
    } catch (error) {
      throw new HttpError(
        400,
        'unknown_kind',
        `Kind ${kind.name} registered an input schema that cannot be used: ${(error as Error).message}`,
      );
    } finally {
      // A schema is compiled once: drop ajv's own cache of it, the map below is the one kept.
      this.#ajv.removeSchema(kind.inputSchema ?? {});
    }
    // Names that were registered once and expired keep their entry: a bound all the same.
    if (this.#compiled.size >= 2 * MAX_KINDS) this.#compiled.clear();
    this.#compiled.set(kind.name, { json, validate });
    return validate;
  }
}

/** A JSON Pointer segment as written (RFC 6901: ~1 is '/', ~0 is '~'). */
const unescapePointer = (segment: string): string => segment.replaceAll('~1', '/').replaceAll('~0', '~');
