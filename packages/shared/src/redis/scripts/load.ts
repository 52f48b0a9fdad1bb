import { readFileSync } from 'node:fs';
import type { Redis } from 'ioredis';

/**
 * One of Herald's Lua scripts, loaded from this folder. Its file is named
 * `<name>-<number of keys>.lua`, as bullmq names its commands, so the key count sits beside the
 * script; each script has one typed wrapper in this folder (its keys, its arguments, its reply),
 * and nothing else calls `run`.
 */
export interface LuaScript {
  readonly name: string;
  readonly numberOfKeys: number;
  /** Runs it by EVALSHA (ioredis loads it again after a NOSCRIPT). */
  run(redis: Redis, keys: readonly string[], args: readonly (string | number)[]): Promise<unknown>;
}

/** The reply was not of the shape the script's header promises: a script and its wrapper disagree. */
export class ScriptReplyError extends Error {
  override readonly name = 'ScriptReplyError';
  readonly code = 'ERR_HERALD_SCRIPT_REPLY';
}

const FILE = /^([a-z][a-z-]*)-(\d+)\.lua$/;

export function luaScript(file: string): LuaScript {
  const match = FILE.exec(file);
  if (!match) throw new Error(`${file}: a script file is named <name>-<number of keys>.lua`);
  const name = match[1]!;
  const numberOfKeys = Number(match[2]);
  const lua = readFileSync(new URL(`./${file}`, import.meta.url), 'utf8');
  // The command ioredis adds to each connection: herald + the name in camel case (heraldPublish).
  const command = `herald${name.replace(/(^|-)([a-z])/g, (_, _dash: string, letter: string) => letter.toUpperCase())}`;
  const defined = new WeakSet<Redis>();
  return {
    name,
    numberOfKeys,
    run(redis, keys, args) {
      if (keys.length !== numberOfKeys) throw new Error(`${file} takes ${numberOfKeys} keys, not ${keys.length}`);
      if (!defined.has(redis)) {
        redis.defineCommand(command, { numberOfKeys, lua });
        defined.add(redis);
      }
      const call = (redis as unknown as Record<string, (...keysAndArgs: (string | number)[]) => Promise<unknown>>)[command]!;
      return call.call(redis, ...keys, ...args);
    },
  };
}

/** The reply as a list of `length` items, else a ScriptReplyError naming the script. */
export function replyTuple(script: LuaScript, reply: unknown, length: number): unknown[] {
  if (Array.isArray(reply) && reply.length === length) return reply;
  throw new ScriptReplyError(`${script.name}: expected a reply of ${length} items, got ${JSON.stringify(reply)?.slice(0, 100)}`);
}
