// Usage (a published package's build, after tsc):  node inline-workspaces.mjs <outDir> <rootDir>
//
// The published packages (@herald/client, @herald/cli) carry the workspace packages they import
// (@herald/contract) compiled in beside their own code: tsc compiles the workspace's sources
// under rootDir into outDir, as it does the package's own, but leaves the import as the bare
// name, which an installed tarball cannot resolve. This points each such import at the compiled
// copy, by a relative path, and fails if any bare @herald/ import is left. Plain JavaScript, so
// that `npm pack` runs it on any Node.
import { existsSync, readdirSync, readFileSync, realpathSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';

const [outDir, rootDir] = process.argv.slice(2).map((path) => resolve(path));
if (outDir === undefined || rootDir === undefined) {
  console.error('usage: node inline-workspaces.mjs <outDir> <rootDir>');
  process.exit(2);
}

/** The repository's node_modules, where each workspace package is linked. */
const MODULES = new URL('../../node_modules/', import.meta.url).pathname;

/** `from '@herald/x'` and `import('@herald/x')`: the quoted specifier of each. */
const SPECIFIER = /(?<=\bfrom\s*|\bimport\s*\(\s*)(['"])(@herald\/[a-z-]+)\1/g;

/** Where a workspace package's entry was compiled to in outDir, as a .js file. */
function compiledEntry(name) {
  const manifest = JSON.parse(readFileSync(join(MODULES, name, 'package.json'), 'utf8'));
  const entry = manifest.exports?.['.'];
  if (typeof entry !== 'string' || !entry.endsWith('.ts')) throw new Error(`${name}: its "exports" "." is not a TypeScript source`);
  const source = realpathSync(join(MODULES, name, entry));
  const compiled = join(outDir, relative(rootDir, source)).replace(/\.ts$/, '.js');
  if (!existsSync(compiled))
    throw new Error(`${name}: ${relative(process.cwd(), compiled)} was not compiled (add its sources to the build)`);
  return compiled;
}

function* emitted(dir) {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) yield* emitted(path);
    else if (/\.(js|d\.ts)$/.test(entry.name)) yield path;
  }
}

for (const file of emitted(outDir)) {
  const text = readFileSync(file, 'utf8');
  const rewritten = text.replace(SPECIFIER, (_match, quote, name) => {
    const target = relative(dirname(file), compiledEntry(name)).split(sep).join('/');
    return `${quote}${target.startsWith('.') ? target : `./${target}`}${quote}`;
  });
  // Any other quoted workspace name (a bare `import '@herald/x'`) would not resolve once installed.
  const left = /(['"])@herald\/[a-z-]+\1/.exec(rewritten);
  if (left !== null) throw new Error(`${relative(process.cwd(), file)} still names ${left[0]}`);
  if (rewritten !== text) writeFileSync(file, rewritten);
}
