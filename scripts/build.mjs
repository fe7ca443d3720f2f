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
//   dist/plugin.mjs                 `vigil/plugin` for node outside the daemon (package.json
//                                   exports ./plugin: a plugin's own unit tests import it)
//   dist/types/                     its declarations (tsconfig.types.json), for `tsc` in a plugin
//                                   project outside this repository (exports ./plugin: types)
// Code they share is split into dist/chunks/, loaded once per thread. Pure JavaScript packages
// are bundled too: zod alone is ~190 files, and loading a module graph file by file was most of
// the daemon's start and of `vigil -t` (~0.35 s). Packages with native addons, or that load
// files of their own at run time, stay in node_modules (EXTERNAL).
import { build } from 'esbuild';
import { performance } from 'node:perf_hooks';
import { createHash } from 'node:crypto';
import { cpSync, existsSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const dist = join(root, 'dist');

const entryPoints = [
  { in: 'src/cli/main.ts', out: 'vigil' },
  { in: 'src/plugins/worker.ts', out: 'plugin-worker' },
  // vigil -t: loads a user plugin in a process of its own to validate its config section
  { in: 'src/plugins/validate-worker.ts', out: 'plugin-validate' },
  { in: 'src/lvs/probe-worker.ts', out: 'probe-worker' },
  { in: 'src/plugins/sdk.ts', out: 'plugin' },
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
const EXTERNAL = ['koffi', 'netlink', 'raw-socket', 'esbuild', 'pino', '@aws-sdk/*', 'nodemailer', 'etcd3', 'cockatiel'];

// built beside, then swapped in: a daemon or test starting meanwhile finds the old build or the
// new one, never half of one
const next = `${dist}.${process.pid}.tmp`;
rmSync(next, { recursive: true, force: true });
const started = performance.now();
// esbuild works in a process of its own: the declarations are emitted meanwhile
const bundled = build({
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
let typesMs;
try {
  typesMs = await emitTypes(join(next, 'types'));
} finally {
  await bundled.catch(() => undefined);
}
await bundled;
rmSync(dist, { recursive: true, force: true });
renameSync(next, dist);
const ms = Math.round(performance.now() - started);
if (!process.argv.includes('--quiet')) {
  const types = typesMs === undefined ? 'no declarations: no TypeScript compiler or no tsconfig.types.json' : `declarations in ${typesMs} ms`;
  console.log(`build: ${entryPoints.length} entry points -> dist/ in ${ms} ms (${types}, alongside)`);
}

/** The declarations of `vigil/plugin` (tsconfig.types.json) into `outDir`; its time in ms, or
 * undefined without a TypeScript compiler (an install without dev dependencies: the daemon
 * needs none, only plugin authors' editors and tsc do). The compiler takes seconds, so the
 * previous build's declarations are kept when none of the sources they were made from changed
 * (dist/types/inputs.json: each source's SHA-256). */
async function emitTypes(outDir) {
  let ts;
  try {
    ts = (await import('typescript')).default;
  } catch {
    return undefined;
  }
  const config = join(root, 'tsconfig.types.json');
  // (a copy of the sources without it, as some tests build: no declarations, as without tsc)
  if (!existsSync(config)) return undefined;
  const t0 = performance.now();
  const sha = (file) => createHash('sha256').update(readFileSync(file)).digest('hex');
  const manifestOf = (dir) => join(dir, 'inputs.json');
  const key = `${ts.version} ${sha(config)} ${sha(fileURLToPath(import.meta.url))}`;
  try {
    const previous = JSON.parse(readFileSync(manifestOf(join(dist, 'types')), 'utf8'));
    if (previous.key === key && Object.entries(previous.inputs).every(([f, h]) => existsSync(join(root, f)) && sha(join(root, f)) === h)) {
      cpSync(join(dist, 'types'), outDir, { recursive: true });
      return Math.round(performance.now() - t0);
    }
  } catch {
    // no previous declarations, or not readable: make them
  }
  const host = { ...ts.sys, onUnRecoverableConfigFileDiagnostic: (d) => { throw new Error(ts.flattenDiagnosticMessageText(d.messageText, '\n')); } };
  const parsed = ts.getParsedCommandLineOfConfigFile(config, { outDir }, host);
  const program = ts.createProgram({ rootNames: parsed.fileNames, options: parsed.options });
  // vigil's sources import each other as './x.ts'; in declarations a consumer resolves, the
  // file is './x.d.ts', found from './x.js' by any moduleResolution
  const rewrite = (text) => text.replace(/((?:from|import)\s*\(?\s*)(['"])(\.{1,2}\/[^'"]*?)\.ts\2/g, '$1$2$3.js$2');
  const result = program.emit(undefined, (file, text) => ts.sys.writeFile(file, rewrite(text)), undefined, true);
  // (type errors are tsc --noEmit's to report, in npm test; here only what keeps a declaration
  // from being written, as a warning: the daemon's build does not depend on it)
  const problems = [...parsed.errors, ...result.diagnostics].filter((d) => d.category === ts.DiagnosticCategory.Error);
  if (problems.length > 0) {
    const text = ts.formatDiagnostics(problems, { getCanonicalFileName: (f) => f, getCurrentDirectory: () => root, getNewLine: () => '\n' });
    console.warn(`build: warning: declarations of vigil/plugin incomplete:\n${text}`);
  } else {
    const inputs = {};
    for (const f of program.getSourceFiles()) {
      const rel = relative(root, f.fileName);
      if (!rel.startsWith('..') && !rel.startsWith('node_modules')) inputs[rel] = sha(f.fileName);
    }
    writeFileSync(manifestOf(outDir), JSON.stringify({ key, inputs }));
  }
  return Math.round(performance.now() - t0);
}
