import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

// What `npm ci --omit=dev --workspace=<app>` installs, read from the lockfile as npm resolves it
// (docs/security.md, "What the production install runs"), and the renderer vendored in its place.

const root = new URL('../../', import.meta.url);
const read = (path: string): string => readFileSync(new URL(path, root), 'utf8');

interface LockEntry {
  link?: boolean;
  resolved?: string;
  dev?: boolean;
  hasInstallScript?: boolean;
  dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
  peerDependenciesMeta?: Record<string, { optional?: boolean }>;
}
const lock = JSON.parse(read('package-lock.json')) as { packages: Record<string, LockEntry> };

/** Where npm finds `name` for the package at `from`: its own node_modules, then each one above. */
function locate(from: string, name: string): string | undefined {
  let at = from;
  for (;;) {
    const candidate = at === '' ? `node_modules/${name}` : `${at}/node_modules/${name}`;
    if (lock.packages[candidate]) return candidate;
    if (at === '') return undefined;
    const parent = at.lastIndexOf('/node_modules/');
    at = parent === -1 ? '' : at.slice(0, parent);
  }
}

/** Every lockfile location a production install of the workspace at `workspace` brings in. */
function productionTree(workspace: string): Set<string> {
  const seen = new Set<string>();
  const visit = (location: string): void => {
    const entry = lock.packages[location];
    if (!entry || seen.has(location)) return;
    seen.add(location);
    if (entry.link && entry.resolved) {
      visit(entry.resolved);
      return;
    }
    const optionalPeers = new Set(Object.keys(entry.peerDependenciesMeta ?? {}).filter((n) => entry.peerDependenciesMeta?.[n]?.optional));
    const names = [
      ...Object.keys(entry.dependencies ?? {}),
      ...Object.keys(entry.optionalDependencies ?? {}),
      ...Object.keys(entry.peerDependencies ?? {}).filter((name) => !optionalPeers.has(name)),
    ];
    for (const name of names) {
      const found = locate(location, name);
      if (found) visit(found);
    }
  };
  visit(workspace);
  return seen;
}

const nameOf = (location: string): string => location.slice(location.lastIndexOf('node_modules/') + 'node_modules/'.length);

/**
 * Production packages with an install script, each with why the images may skip it
 * (`npm ci --ignore-scripts` in apps/api/Dockerfile and apps/worker/Dockerfile).
 */
const SKIPPABLE: Record<string, string> = {
  'msgpackr-extract':
    "bullmq's msgpack accelerator: the script only compiles it when no prebuilt binary fits, and the prebuilt binaries come in optional packages",
};

describe('the production install', () => {
  const apps = { api: productionTree('apps/api'), worker: productionTree('apps/worker') };

  it('is what npm installs: the tree holds no devDependency, and finds the apps’ own dependencies', () => {
    for (const [app, tree] of Object.entries(apps)) {
      expect([...tree].filter((location) => lock.packages[location]?.dev)).toEqual([]);
      expect([...tree].map(nameOf), app).toContain('bullmq');
    }
    expect([...apps.api].map(nameOf)).toContain('express');
    // The page's client bundle is built ahead of time: no bundler in production.
    for (const [app, tree] of Object.entries(apps))
      expect(
        [...tree].map(nameOf).filter((name) => name.includes('esbuild')),
        app,
      ).toEqual([]);
  });

  it('brings no renderer package: no analytics ping, no tree-sitter build, no rapidoc', () => {
    for (const [app, tree] of Object.entries(apps))
      expect(
        [...tree].map(nameOf).filter((name) => /scarf|tree-sitter|^rapidoc$|swagger/.test(name)),
        app,
      ).toEqual([]);
  });

  it('runs no install script the images need: each one in it is known, and its native code comes prebuilt in optional packages', () => {
    for (const [app, tree] of Object.entries(apps)) {
      const scripted = [...tree].filter((location) => lock.packages[location]?.hasInstallScript);
      expect(
        scripted.map(nameOf).filter((name) => !(name in SKIPPABLE)),
        app,
      ).toEqual([]);
      for (const location of scripted)
        expect(Object.keys(lock.packages[location]?.optionalDependencies ?? {}).length, location).toBeGreaterThan(0);
    }
    for (const dockerfile of ['apps/api/Dockerfile', 'apps/worker/Dockerfile'])
      expect(read(dockerfile), dockerfile).toMatch(/^RUN npm ci --omit=dev --workspace=@herald\/[\w-]+ --ignore-scripts /m);
  });
});

describe('the vendored RapiDoc', () => {
  const folder = 'apps/api/vendor/rapidoc/';
  const notes = read(`${folder}README.md`);

  it('is the published file its notes name, by version and sha256, with its licences beside it', () => {
    const bundle = readFileSync(new URL(`${folder}rapidoc-min.js`, root));
    const recorded = /`rapidoc-min\.js` \| `package\/dist\/rapidoc-min\.js`, sha256 `([0-9a-f]{64})`/.exec(notes)?.[1];
    expect(createHash('sha256').update(bundle).digest('hex')).toBe(recorded);
    const version = /`rapidoc`\]\(https:\/\/www\.npmjs\.com\/package\/rapidoc\) (\d+\.\d+\.\d+)/.exec(notes)?.[1];
    expect(bundle.subarray(0, 4096).toString()).toContain(`RapiDoc ${version} `);
    for (const licence of ['LICENSE.txt', 'rapidoc-min.js.LICENSE.txt'])
      expect(existsSync(new URL(`${folder}${licence}`, root)), licence).toBe(true);
  });
});
