import { mkdirSync, mkdtempSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { clientBundleReader } from '../../apps/api/src/routes/client-bundle.ts';
import { isStale } from '../../scripts/build/client-bundle.ts';

const dir = mkdtempSync(join(tmpdir(), 'herald-bundle-'));
const at = (path: string, seconds: number): string => {
  writeFileSync(path, path);
  utimesSync(path, seconds, seconds);
  return path;
};

describe('the page’s client bundle, built ahead of time', () => {
  it('is stale when missing or older than any of its sources, a file in a folder included, and fresh otherwise', () => {
    const sources = join(dir, 'src');
    mkdirSync(sources);
    at(join(sources, 'a.ts'), 1000);
    const lock = at(join(dir, 'lock.json'), 1000);
    utimesSync(sources, 1000, 1000);
    expect(isStale(join(dir, 'missing.js'), [sources, lock])).toBe(true);
    const bundle = at(join(dir, 'bundle.js'), 2000);
    expect(isStale(bundle, [sources, lock])).toBe(false);
    at(join(sources, 'a.ts'), 3000);
    expect(isStale(bundle, [sources, lock])).toBe(true);
    at(join(sources, 'a.ts'), 1000);
    at(lock, 3000);
    expect(isStale(bundle, [sources, lock])).toBe(true);
  });

  it('a replica without the file says which file and how to build it, and reads it once it is there', () => {
    const file = join(dir, 'herald-client.js');
    const read = clientBundleReader(file);
    expect(read).toThrow(`the page's client bundle ${file} cannot be read: build it with \`npm run build:client-bundle\``);
    writeFileSync(file, 'export { createClient };');
    expect(read()).toBe('export { createClient };');
    // Read once per process: a later rebuild is the next process's.
    writeFileSync(file, 'changed');
    expect(read()).toBe('export { createClient };');
  });
});
