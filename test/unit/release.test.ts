import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

// Release hygiene (CHANGELOG.md): one version for every package, the images and the CLI; a
// LICENSE that says what package.json says; a CHANGELOG and a security policy to point at.
const read = (path: string): string => readFileSync(new URL(`../../${path}`, import.meta.url), 'utf8');
const json = (path: string): { name?: string; version?: string; license?: string; workspaces?: string[] } => JSON.parse(read(path));

const root = json('package.json');

describe('a release', () => {
  it('has one version, the root package.json’s, in every package and as the images’ default tag', () => {
    expect(root.version).toMatch(/^\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$/);
    expect(root.workspaces?.length).toBeGreaterThan(0);
    for (const workspace of root.workspaces ?? []) expect(json(`${workspace}/package.json`).version, workspace).toBe(root.version);
    const compose = read('docker-compose.yml');
    for (const image of ['herald-api', 'herald-worker']) expect(compose).toContain(`image: ${image}:\${HERALD_TAG:-${root.version}}`);
  });

  it('has a LICENSE matching package.json, a CHANGELOG with this version, and a SECURITY.md', () => {
    expect(root.license).toBe('MIT');
    expect(read('LICENSE')).toMatch(/^MIT License\n/);
    expect(read('CHANGELOG.md')).toContain(`## [${root.version}]`);
    expect(read('SECURITY.md')).toMatch(/## Reporting a vulnerability/);
  });
});
