import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

/** @herald/client's sources: what the page runs is always this checkout's client, never a stale build. */
const CLIENT_ENTRY = fileURLToPath(new URL('../../../../packages/client/src/index.ts', import.meta.url));

let bundle: Promise<string> | undefined;

/**
 * @herald/client for browsers: one ES module with zod and eventsource-parser in it, minified
 * (about 110 KB; zod is nearly all of it). esbuild bundles it once per process, in memory, the
 * first time it is asked for (~150 ms), so the page needs no build step and a replica that never
 * serves the page never pays for it. A failure is kept and rethrown: the route answers 500.
 */
export function clientBundle(): Promise<string> {
  bundle ??= build({
    entryPoints: [CLIENT_ENTRY],
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    minify: true,
    legalComments: 'none',
    write: false,
    logLevel: 'silent',
  }).then((result) => result.outputFiles[0]!.text);
  return bundle;
}
