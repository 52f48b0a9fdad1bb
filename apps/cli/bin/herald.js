#!/usr/bin/env node
// The `herald` command. Plain JavaScript, so that any Node can read it and say what is wrong.
// Installed (npm install -g, npx: the package holds no src/), it runs the build in dist/,
// JavaScript for Node >= 20. In a checkout, where src/ sits beside it, it runs the TypeScript
// itself with Node's type stripping (Node >= 22.18; `npm run herald` finds one), so an edit
// needs no build and a stale dist/ is never what runs.
import { existsSync, readFileSync } from 'node:fs';

const major = Number(process.versions.node.split('.')[0]);
if (major < 20) {
  process.stderr.write(`herald: needs Node.js >= 20 (this is ${process.version})\n`);
  process.exit(4);
}

const { version } = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
const source = new URL('../src/main.ts', import.meta.url);
const build = new URL('../dist/apps/cli/src/main.js', import.meta.url);
const entry = existsSync(source) && process.features.typescript ? source : build;

let run;
try {
  ({ run } = await import(entry.href));
} catch (error) {
  if (entry !== build || error?.code !== 'ERR_MODULE_NOT_FOUND' || existsSync(build)) throw error;
  process.stderr.write(
    `herald: this checkout's CLI is TypeScript, which ${process.version} cannot run; ` +
      'use Node >= 22.18 (npm run herald -- … finds one), or build it: npm run build -w apps/cli\n',
  );
  process.exit(4);
}
// exitCode rather than exit(): stdout (the summary) is flushed to a pipe before the process ends.
process.exitCode = await run(process.argv, version);
