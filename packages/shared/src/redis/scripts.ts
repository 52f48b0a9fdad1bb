import { readFileSync } from 'node:fs';
import type { Redis } from 'ioredis';

// The one loader for Herald's Lua scripts (as BullMQ does): each `lua/<name>.lua` becomes a
// command on the connection, which ioredis runs by EVALSHA and reloads after a NOSCRIPT.

interface ScriptSpec {
  readonly file: string;
  readonly numberOfKeys: number;
}

const SCRIPTS = {
  heraldPublish: { file: 'publish.lua', numberOfKeys: 2 },
  heraldSubmitRate: { file: 'submit-rate.lua', numberOfKeys: 2 },
  heraldStreamSlots: { file: 'stream-slots.lua', numberOfKeys: 2 },
} as const satisfies Record<string, ScriptSpec>;

export type ScriptName = keyof typeof SCRIPTS;
type ScriptCommand = (...keysAndArgs: (string | number)[]) => Promise<unknown>;

const source = (file: string): string =>
  readFileSync(new URL(`./lua/${file}`, import.meta.url), 'utf8');

const loaded = new WeakSet<Redis>();

function ensureDefined(redis: Redis): void {
  if (loaded.has(redis)) return;
  for (const [name, spec] of Object.entries(SCRIPTS)) {
    redis.defineCommand(name, { numberOfKeys: spec.numberOfKeys, lua: source(spec.file) });
  }
  loaded.add(redis);
}

export function runScript(
  redis: Redis,
  name: ScriptName,
  keys: readonly string[],
  args: readonly (string | number)[],
): Promise<unknown> {
  ensureDefined(redis);
  const command = (redis as unknown as Record<ScriptName, ScriptCommand>)[name];
  return command.call(redis, ...keys, ...args);
}
