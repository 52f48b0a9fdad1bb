#!/usr/bin/env node
// The `herald` command. Plain JavaScript so that an old Node can read it and say what is wrong:
// the CLI itself is TypeScript, run by Node's type stripping (on by default from 22.18; the
// engines of every package.json ask for 22.22, which this checks).
const [major, minor] = process.versions.node.split('.').map(Number);
if (major < 22 || (major === 22 && minor < 22)) {
  process.stderr.write(
    `herald: needs Node.js >= 22.22 (this is ${process.version}); in a Herald checkout, npm run herald -- … finds one\n`,
  );
  process.exit(4);
}

try {
  await import('../src/main.ts');
} catch (error) {
  // Node refuses to strip types under node_modules: an installed *copy* of the CLI (a packed
  // tarball) cannot run. A link to a checkout can: Node resolves it to the real path.
  if (error?.code !== 'ERR_UNSUPPORTED_NODE_MODULES_TYPE_STRIPPING') throw error;
  process.stderr.write(
    'herald: this copy of the CLI sits under node_modules, where Node will not run TypeScript.\n' +
      'Run it from a Herald checkout (npm run herald -- …) or link it: npm install -g ./apps/cli\n',
  );
  process.exit(4);
}
