import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/**
 * @herald/client for browsers: one ES module with zod and eventsource-parser in it, minified
 * (about 110 KB; zod is nearly all of it). It is built ahead of time, not here: the replica only
 * reads it, so the production install needs no bundler. `npm start`, `start:api`, `stack`, the
 * tests' setup and the API image build it (scripts/build/client-bundle.ts) when it is missing or
 * older than the client's or the contract's sources.
 */
export const CLIENT_BUNDLE_FILE = fileURLToPath(new URL('../../dist/herald-client.js', import.meta.url));

/** How to make the file, for the error a replica without it answers and logs. */
export const CLIENT_BUNDLE_HOW = 'build it with `npm run build:client-bundle` (the API image builds it in its build stage)';

/**
 * Reads the bundle once per process, the first time the page asks for it (a replica that never
 * serves the page never reads it). Missing, it throws an error that names the file and says how
 * to build it: the route answers 500 and the request's log line carries that message; the next
 * request looks again.
 */
export function clientBundleReader(file: string = CLIENT_BUNDLE_FILE): () => string {
  let bundle: string | undefined;
  return () => {
    if (bundle === undefined) {
      try {
        bundle = readFileSync(file, 'utf8');
      } catch (error) {
        throw new Error(`the page's client bundle ${file} cannot be read: ${CLIENT_BUNDLE_HOW}`, { cause: error });
      }
    }
    return bundle;
  };
}
