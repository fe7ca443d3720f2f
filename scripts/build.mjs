#!/usr/bin/env node
// The build: vigil's TypeScript bundled into plain ES modules under dist/, so the daemon runs
// without a TypeScript loader (tsx cost every process ~20-30 MiB and ~0.3 s at start). Run by
// `npm ci` / `npm install` (the `prepare` script) and by `npm test` before the tests; about a
// second.
//
// Entry points (each a file of its own, for `new Worker()` and `import()`):
//   dist/vigil.mjs                  the command line (bin/vigil imports it)
//   dist/plugin-worker.mjs          a plugin's thread or process (src/plugins/worker.ts)
//   dist/probe-worker.mjs           the checker worker (src/lvs/probe-worker.ts)
//   dist/plugins/NAME/index.mjs     a built-in plugin, loaded in its worker
//   dist/plugins/NAME/config.mjs    what a built-in takes from the daemon's config (the engine)
// Code they share is split into dist/chunks/, loaded once per thread. Packages stay outside the
// bundle and load from node_modules as usual (native addons among them).
import { build } from 'esbuild';
import { performance } from 'node:perf_hooks';
import { existsSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const dist = join(root, 'dist');

const entryPoints = [
  { in: 'src/cli/main.ts', out: 'vigil' },
  { in: 'src/plugins/worker.ts', out: 'plugin-worker' },
  { in: 'src/lvs/probe-worker.ts', out: 'probe-worker' },
];
// more worker runtimes, when their sources exist (a shared worker for the built-ins)
for (const [src, out] of [['src/plugins/builtin-worker.ts', 'builtin-worker']]) {
  if (existsSync(join(root, src))) entryPoints.push({ in: src, out });
}
for (const name of readdirSync(join(root, 'plugins')).sort()) {
  for (const part of ['index', 'config']) {
    const file = join('plugins', name, `${part}.ts`);
    if (existsSync(join(root, file)) && existsSync(join(root, 'plugins', name, 'index.ts'))) {
      entryPoints.push({ in: file, out: `plugins/${name}/${part}` });
    }
  }
}

rmSync(dist, { recursive: true, force: true });
const started = performance.now();
await build({
  absWorkingDir: root,
  entryPoints,
  outdir: dist,
  outExtension: { '.js': '.mjs' },
  chunkNames: 'chunks/[name]-[hash]',
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  packages: 'external',
  sourcemap: 'linked',
  // names stay readable in stack traces and --cpu-prof profiles
  minify: false,
  logLevel: 'warning',
});
const ms = Math.round(performance.now() - started);
if (!process.argv.includes('--quiet')) console.log(`build: ${entryPoints.length} entry points -> dist/ in ${ms} ms`);
