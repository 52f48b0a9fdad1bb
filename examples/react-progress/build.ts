import { copyFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

// Builds the example into `outdir` (index.html and app.js) with esbuild, in about a second.
//   sh scripts/node.sh examples/react-progress/build.ts [outdir] [--from-packages] [--production]
// From this repository it bundles the workspace's sources of @herald/react and @herald/client
// (what the browser test runs); `--from-packages` takes them from node_modules, as an app that
// installed their tarballs has them (README.md). A development build by default: React's
// StrictMode mounts each component twice only there.

const HERE = fileURLToPath(new URL('.', import.meta.url));
const ROOT = join(HERE, '../..');

export interface BuildOptions {
  readonly outdir: string;
  /** The two packages from node_modules (installed tarballs) instead of this repository's sources. */
  readonly fromPackages?: boolean;
  /** React's production build (StrictMode then checks nothing). */
  readonly production?: boolean;
}

export async function buildExample({ outdir, fromPackages = false, production = false }: BuildOptions): Promise<void> {
  mkdirSync(outdir, { recursive: true });
  await build({
    entryPoints: [join(HERE, 'src/main.tsx')],
    outfile: join(outdir, 'app.js'),
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    jsx: 'automatic',
    define: { 'process.env.NODE_ENV': JSON.stringify(production ? 'production' : 'development') },
    minify: production,
    sourcemap: !production,
    logLevel: 'warning',
    ...(fromPackages
      ? {}
      : {
          alias: {
            '@herald/react': join(ROOT, 'packages/react/src/index.ts'),
            '@herald/client': join(ROOT, 'packages/client/src/index.ts'),
          },
        }),
  });
  copyFileSync(join(HERE, 'index.html'), join(outdir, 'index.html'));
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  const outdir = args.find((arg) => !arg.startsWith('--')) ?? join(HERE, 'dist');
  await buildExample({ outdir, fromPackages: args.includes('--from-packages'), production: args.includes('--production') });
  console.log(`built ${outdir}/index.html and app.js`);
}
