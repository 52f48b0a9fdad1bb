// Usage:  node copy-lua.mjs <from> <to>
//
// @herald/shared loads its Lua scripts from beside its modules (redis/scripts/load.ts), so a
// published package that compiles shared in carries the .lua files too, at the same paths.
import { cpSync, readdirSync } from 'node:fs';
import { join, relative } from 'node:path';

const [from, to] = process.argv.slice(2);
if (from === undefined || to === undefined) {
  console.error('usage: node copy-lua.mjs <from> <to>');
  process.exit(2);
}
let copied = 0;
for (const file of readdirSync(from, { recursive: true, encoding: 'utf8' })) {
  if (!file.endsWith('.lua')) continue;
  cpSync(join(from, file), join(to, file));
  copied += 1;
}
if (copied === 0) throw new Error(`no .lua file under ${relative(process.cwd(), from)}`);
