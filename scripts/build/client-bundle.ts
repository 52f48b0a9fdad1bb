import { mkdirSync, readdirSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { CLIENT_BUNDLE_FILE } from '../../apps/api/src/routes/client-bundle.ts';

// `npm run build:client-bundle`: @herald/client for browsers, the
// file the API serves at /assets/herald-client.js (apps/api/src/routes/client-bundle.ts). Every
// entry point that serves it calls ensureClientBundle(): npm start and start:api (package.json),
// npm run stack, the tests' global setup; the API image builds it in its build stage.

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CLIENT_ENTRY = join(ROOT, 'packages/client/src/index.ts');

/** What the bundle is made of: a change to any of these makes it stale. */
const SOURCES = [
  'packages/client/src',
  'packages/client/package.json',
  'packages/contract/src',
  'packages/contract/package.json',
  // zod's and eventsource-parser's versions
  'package-lock.json',
  // how it is bundled
  fileURLToPath(import.meta.url),
].map((path) => (path.startsWith('/') ? path : join(ROOT, path)));

/** The newest modification time among a file or a folder's files, in ms. */
function newestMtime(path: string): number {
  const stat = statSync(path);
  if (!stat.isDirectory()) return stat.mtimeMs;
  return readdirSync(path).reduce((newest, name) => Math.max(newest, newestMtime(join(path, name))), stat.mtimeMs);
}

/** Whether `output` is missing or older than any of `sources`. */
export function isStale(output: string, sources: readonly string[]): boolean {
  let built: number;
  try {
    built = statSync(output).mtimeMs;
  } catch {
    return true;
  }
  return sources.some((source) => newestMtime(source) > built);
}

/** Bundles the client (~1 s) and writes it whole: a replica never reads half a file. */
export async function buildClientBundle(): Promise<void> {
  const result = await build({
    entryPoints: [CLIENT_ENTRY],
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    minify: true,
    legalComments: 'none',
    write: false,
    logLevel: 'silent',
  });
  mkdirSync(dirname(CLIENT_BUNDLE_FILE), { recursive: true });
  const partial = `${CLIENT_BUNDLE_FILE}.${process.pid}.tmp`;
  writeFileSync(partial, result.outputFiles[0]!.text);
  renameSync(partial, CLIENT_BUNDLE_FILE);
}

/** Builds the bundle when it is missing or older than its sources; true when it built it. */
export async function ensureClientBundle(): Promise<boolean> {
  if (!isStale(CLIENT_BUNDLE_FILE, SOURCES)) return false;
  await buildClientBundle();
  return true;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const built = await ensureClientBundle();
  if (built) console.error(`built ${CLIENT_BUNDLE_FILE.slice(ROOT.length)}`);
}
