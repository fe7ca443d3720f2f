#!/usr/bin/env node
// The build: vigil's TypeScript bundled into plain ES modules under dist/, so the daemon runs
// without a TypeScript loader (tsx cost every process ~20-30 MiB and ~0.3 s at start). Run by
// `npm ci` / `npm install` (the `prepare` script) and by `npm test` before the tests; about a
// second.
//
// Entry points (each a file of its own, for `new Worker()` and `import()`):
//   dist/vigil.mjs                  the command line (bin/vigil imports it)
//   dist/plugin-worker.mjs          a plugin's thread or process (src/plugins/worker.ts)
//   dist/plugin-validate.mjs        vigil -t's check of a user plugin (src/plugins/validate-worker.ts)
//   dist/probe-worker.mjs           the checker worker (src/lvs/probe-worker.ts)
//   dist/plugins/NAME/index.mjs     a built-in plugin, loaded in its worker
//   dist/plugins/NAME/config.mjs    what a built-in takes from the daemon's config (the engine)
// Code they share is split into dist/chunks/, loaded once per thread. Pure JavaScript packages
// are bundled too: zod alone is ~190 files, and loading a module graph file by file was most of
// the daemon's start and of `vigil -t` (~0.35 s). Packages with native addons, or that load
// files of their own at run time, stay in node_modules (EXTERNAL).
import { build } from 'esbuild';
import { performance } from 'node:perf_hooks';
import { existsSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const dist = join(root, 'dist');

const entryPoints = [
  { in: 'src/cli/main.ts', out: 'vigil' },
  { in: 'src/plugins/worker.ts', out: 'plugin-worker' },
  // vigil -t: loads a user plugin in a process of its own to validate its config section
  { in: 'src/plugins/validate-worker.ts', out: 'plugin-validate' },
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

/** Loaded from node_modules at run time: native addons (koffi, netlink, raw-socket), esbuild (its
 * binary; only to compile users' plugins), pino (its transports run files of its own in
 * workers), and the cloud and mail clients (large, loaded only by the plugins that use them). */
const EXTERNAL = ['koffi', 'netlink', 'raw-socket', 'esbuild', 'pino', '@aws-sdk/*', 'nodemailer'];

// built beside, then swapped in: a daemon or test starting meanwhile finds the old build or the
// new one, never half of one
const next = `${dist}.${process.pid}.tmp`;
rmSync(next, { recursive: true, force: true });
const started = performance.now();
await build({
  absWorkingDir: root,
  entryPoints,
  outdir: next,
  outExtension: { '.js': '.mjs' },
  chunkNames: 'chunks/[name]-[hash]',
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  external: EXTERNAL,
  // bundled CommonJS packages require() Node's own modules: give every output file a require
  banner: { js: "import { createRequire as __vigilRequire } from 'node:module'; const require = __vigilRequire(import.meta.url);" },
  sourcemap: 'linked',
  // names stay readable in stack traces and --cpu-prof profiles
  minify: false,
  logLevel: 'warning',
});
rmSync(dist, { recursive: true, force: true });
renameSync(next, dist);
const ms = Math.round(performance.now() - started);
if (!process.argv.includes('--quiet')) console.log(`build: ${entryPoints.length} entry points -> dist/ in ${ms} ms`);
