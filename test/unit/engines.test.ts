import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import semver from 'semver';

// Which Node Herald runs on: one range in every package.json, .nvmrc inside it, and nothing a
// dependency refuses (nvm, volta, mise and npm's engine check all read these files).

const root = new URL('../../', import.meta.url);
const readJson = (path: string): Record<string, unknown> => JSON.parse(readFileSync(new URL(path, root), 'utf8'));
const rootPackage = readJson('package.json') as { workspaces: string[]; engines: { node: string } };
const manifests = ['package.json', ...rootPackage.workspaces.map((workspace) => `${workspace}/package.json`)];
const RANGE = rootPackage.engines.node;

/** Packages that run on their users' machines rather than Herald's, with the range they promise (issue: Node ≥ 20). */
const PUBLISHED: Record<string, string> = {
  'packages/client/package.json': '>=20',
  'packages/react/package.json': '>=20',
  'apps/cli/package.json': '>=20',
};

describe('the Node range', () => {
  it('is the same in every workspace, but for the packages published for other machines', () => {
    for (const path of manifests)
      expect((readJson(path).engines as { node?: string } | undefined)?.node, path).toBe(PUBLISHED[path] ?? RANGE);
  });

  it('holds the version .nvmrc names', () => {
    const wanted = readFileSync(new URL('.nvmrc', root), 'utf8').trim();
    expect(semver.satisfies(`${wanted}.0.0`, RANGE)).toBe(true);
  });

  it('asks for nothing any dependency refuses: each package’s range fits inside what its dependencies accept', () => {
    const refused: string[] = [];
    for (const path of manifests) {
      const manifest = readJson(path) as { dependencies?: Record<string, string>; devDependencies?: Record<string, string> };
      const range = PUBLISHED[path] ?? RANGE;
      const workspace = path.slice(0, -'package.json'.length);
      for (const name of Object.keys({ ...manifest.dependencies, ...manifest.devDependencies })) {
        if (name.startsWith('@herald/')) continue;
        // npm nests a dependency in its workspace when the root holds another version of it.
        const nested = `${workspace}node_modules/${name}/package.json`;
        const installed = existsSync(new URL(nested, root)) ? nested : `node_modules/${name}/package.json`;
        const required = (readJson(installed).engines as { node?: string } | undefined)?.node;
        if (required !== undefined && !semver.subset(range, required)) refused.push(`${path}: ${name} wants ${required}`);
      }
    }
    expect(refused).toEqual([]);
  });
});
