// Usage (in a package's directory):  node published-manifest.mjs set|restore
//
// @herald/worker is both a workspace package that Herald's own worker imports as TypeScript
// sources (Node strips the types) and a published package whose tarball carries compiled
// JavaScript. Its package.json's "exports" point at the sources; `set` (prepack) swaps in its
// "publishedExports" (the build in dist) for the tarball, and its "publishedBin" for "bin", and
// keeps the original beside it, and
// `restore` (postpack) puts the original back. Plain JavaScript, so that `npm pack` runs it on any Node.
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';

const MANIFEST = 'package.json';
const KEPT = 'package.json.workspace';
const [step] = process.argv.slice(2);

if (step === 'set') {
  if (existsSync(KEPT)) throw new Error(`${KEPT} is left from an earlier pack: restore it first`);
  const text = readFileSync(MANIFEST, 'utf8');
  const manifest = JSON.parse(text);
  if (manifest.publishedExports === undefined) throw new Error('package.json has no "publishedExports"');
  writeFileSync(KEPT, text);
  const { publishedExports, publishedBin, devDependencies: _inlined, ...rest } = manifest;
  const bin = publishedBin === undefined ? {} : { bin: publishedBin };
  writeFileSync(MANIFEST, `${JSON.stringify({ ...rest, exports: publishedExports, ...bin }, null, 2)}\n`);
} else if (step === 'restore') {
  if (existsSync(KEPT)) renameSync(KEPT, MANIFEST);
} else {
  console.error('usage: node published-manifest.mjs set|restore');
  process.exit(2);
}
