import { readFileSync } from 'node:fs';
import type { RedisClient } from '../connection.ts';

/**
 * One of Herald's Lua scripts, loaded from this folder. Its file is named
 * `<name>-<number of keys>.lua`, as bullmq names its commands, so the key count sits beside the
 * script (`-n`: as many as the call passes, e.g. one pair per job of a batch); each script has
 * one typed wrapper in this folder (its keys, its arguments, its reply), and nothing else calls
 * `run`.
 */
export interface LuaScript {
  readonly name: string;
  /** null: variable, given with each call. */
  readonly numberOfKeys: number | null;
  /** Runs it by EVALSHA (ioredis loads it again after a NOSCRIPT). */
  run(redis: RedisClient, keys: readonly string[], args: readonly (string | number)[]): Promise<unknown>;
  /**
   * Runs it, then WAITs (in the same round trip, on the node that ran it) until `replicas`
   * replicas have its writes or `timeoutMs` passed. Resolves to the reply and how many did.
   */
  runAndWait(
    redis: RedisClient,
    keys: readonly string[],
    args: readonly (string | number)[],
    replicas: number,
    timeoutMs: number,
  ): Promise<{ reply: unknown; replicated: number }>;
}

/** The reply was not of the shape the script's header promises: a script and its wrapper disagree. */
export class ScriptReplyError extends Error {
  override readonly name = 'ScriptReplyError';
  readonly code = 'ERR_HERALD_SCRIPT_REPLY';
}

const FILE = /^([a-z][a-z-]*)-(\d+|n)\.lua$/;

export function luaScript(file: string): LuaScript {
  const match = FILE.exec(file);
  if (!match) throw new Error(`${file}: a script file is named <name>-<number of keys>.lua`);
  const name = match[1]!;
  const numberOfKeys = match[2] === 'n' ? null : Number(match[2]);
  // `--- @include "<file>"` lines take a helper from includes/ (as bullmq's commands do), so
  // scripts share a function rather than copy it.
  const lua = readFileSync(new URL(`./${file}`, import.meta.url), 'utf8').replace(/^--- @include "([a-z-]+\.lua)"$/gm, (_, name: string) =>
    readFileSync(new URL(`./includes/${name}`, import.meta.url), 'utf8'),
  );
  // The command ioredis adds to each connection: herald + the name in camel case (heraldPublish).
  const command = `herald${name.replace(/(^|-)([a-z])/g, (_, _dash: string, letter: string) => letter.toUpperCase())}`;
  const defined = new WeakSet<RedisClient>();
  const define = (redis: RedisClient, keys: readonly string[]): (string | number)[] => {
    if (numberOfKeys !== null && keys.length !== numberOfKeys) throw new Error(`${file} takes ${numberOfKeys} keys, not ${keys.length}`);
    if (!defined.has(redis)) {
      redis.defineCommand(command, numberOfKeys === null ? { lua } : { numberOfKeys, lua });
      defined.add(redis);
    }
    // A variable key count goes first, as EVALSHA's numkeys.
    return numberOfKeys === null ? [keys.length, ...keys] : [...keys];
  };
  type Caller = Record<string, (...keysAndArgs: (string | number)[]) => unknown>;
  return {
    name,
    numberOfKeys,
    run(redis, keys, args) {
      const keyArgs = define(redis, keys);
      return (redis as unknown as Caller)[command]!.call(redis, ...keyArgs, ...args) as Promise<unknown>;
    },
    async runAndWait(redis, keys, args, replicas, timeoutMs) {
      const keyArgs = define(redis, keys);
      // A pipeline goes to one node (on a Cluster: the one owning the keys' slot), so WAIT counts
      // the replicas that have this very write.
      const pipeline = redis.pipeline();
      (pipeline as unknown as Caller)[command]!.call(pipeline, ...keyArgs, ...args);
      pipeline.call('WAIT', replicas, timeoutMs);
      const results = (await pipeline.exec()) ?? [];
      const [scriptError, reply] = results[0] ?? [new Error(`${file}: no reply`), null];
      if (scriptError) throw scriptError;
      const [waitError, replicated] = results[1] ?? [null, 0];
      if (waitError) throw waitError;
      return { reply, replicated: Number(replicated) };
    },
  };
}

/** The reply as a list of `length` items, else a ScriptReplyError naming the script. */
export function replyTuple(script: LuaScript, reply: unknown, length: number): unknown[] {
  if (Array.isArray(reply) && reply.length === length) return reply;
  throw new ScriptReplyError(`${script.name}: expected a reply of ${length} items, got ${JSON.stringify(reply)?.slice(0, 100)}`);
}
