// Built-in plugins run compiled. A worker that loads TypeScript through tsx needs tsx's loader
// in that worker (its own loader thread and compiler state): about 30 MiB per plugin, for code
// that does not change while the daemon runs. So the engine bundles each built-in plugin, and
// the worker runtime, into one plain JavaScript module with esbuild (tsx's own compiler), and
// the worker loads that: no loader, no hook thread.
//
// Packages stay outside the bundle, imported by absolute file URL as Node resolves them from
// here, so the bundles can live in a private temporary directory (the install directory may be
// read-only under systemd's ProtectSystem) and a native addon (netlink) is loaded the usual way.
// Users' plugins keep the tsx path: they may import packages of their own, from their own
// directory.

import { createHash } from 'node:crypto';
import { builtinModules } from 'node:module';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync, existsSync, renameSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { build, stop as stopEsbuild, type Plugin } from 'esbuild';

const WORKER_SOURCE = fileURLToPath(new URL('./worker.ts', import.meta.url));
const BUILTINS = new Set([...builtinModules, ...builtinModules.map((m) => `node:${m}`)]);

/** Bare imports (packages) become external imports of the file Node would load. */
const packagesByUrl: Plugin = {
  name: 'packages-by-url',
  setup(b) {
    b.onResolve({ filter: /^[^./]/ }, (args) => {
      if (BUILTINS.has(args.path)) return { path: args.path, external: true };
      return { path: import.meta.resolve(args.path), external: true };
    });
  },
};

const API_SOURCE = fileURLToPath(new URL('./api.ts', import.meta.url));
/** vigil's own code and packages: what a user plugin's bundle may take from here unchecked. */
const VIGIL_ROOT = fileURLToPath(new URL('../../', import.meta.url));
const TRUSTED = ['src/', 'plugins/', 'node_modules/'].map((d) => join(VIGIL_ROOT, d));

/** For a self-contained user plugin: 'vigil/plugin' is vigil's api.ts and 'zod' vigil's zod, as
 * the worker's resolver gives them (resolve-hook.mjs), both bundled in. */
const vigilAndZod: Plugin = {
  name: 'vigil-and-zod',
  setup(b) {
    b.onResolve({ filter: /^(vigil|vigil\/plugin)$/ }, () => ({ path: API_SOURCE }));
    b.onResolve({ filter: /^zod(\/.*)?$/ }, (args) => ({ path: fileURLToPath(import.meta.resolve(args.path)) }));
  },
};

export interface Standalone {
  /** One ES module: the plugin with everything it imports but Node's own modules. */
  code: string;
  /** The files it was made of, vigil's own left out (for plugin-security.ts). */
  files: string[];
}

/** A user plugin bundled into one module that a process can import from a data: URL, reading
 * no file (plugin-process.ts: the process has given up root by then). */
export async function bundleStandalone(entry: string): Promise<Standalone> {
  const cwd = dirname(entry);
  const out = await build({
    entryPoints: [entry],
    absWorkingDir: cwd,
    bundle: true,
    write: false,
    metafile: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    logLevel: 'silent',
    // a bundled CommonJS package may require() Node's modules; a data: module has no require
    banner: { js: "import { createRequire as __vigilCreateRequire } from 'node:module'; const require = __vigilCreateRequire('/');" },
    plugins: [vigilAndZod],
  });
  const code = out.outputFiles[0]?.text;
  if (code === undefined) throw new Error(`esbuild produced nothing for ${entry}`);
  const files = Object.keys(out.metafile.inputs)
    .filter((f) => !/^[a-z-]+:/.test(f))
    .map((f) => resolve(cwd, f))
    .filter((f) => !TRUSTED.some((t) => f.startsWith(t)));
  return { code, files };
}

/** A directory of this process's own, named with its pid; those of processes that are gone (an
 * engine that was killed never removed its own) are removed first. */
function freshDir(): string {
  const base = tmpdir();
  for (const name of readdirSync(base)) {
    const pid = /^vigil-plugins-(\d+)-/.exec(name)?.[1];
    if (pid === undefined || Number(pid) === process.pid || isRunning(Number(pid))) continue;
    rmSync(join(base, name), { recursive: true, force: true });
  }
  return mkdtempSync(join(base, `vigil-plugins-${process.pid}-`));
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM'; // alive, someone else's
  }
}

export interface Compiled {
  /** The worker runtime to start the worker with. */
  runtime: URL;
  /** The plugin module, for the runtime to import. */
  entry: string;
}

/** esbuild's compiler process is let go this long after the last compile (it is started again
 * for the next one): compiles happen at start and at restarts, and the process would
 * otherwise hold its memory for the daemon's whole life. */
const IDLE_STOP_MS = 2000;

export class PluginCompiler {
  private dir: string | undefined;
  private runtime: Promise<string> | undefined;
  private pending = 0;
  private idleTimer: NodeJS.Timeout | undefined;

  /** Compiles the runtime (once) and the plugin module at `entry` (every call: a restart picks
   * up an edited built-in). Identical output is written once, under a name of its hash. */
  async compile(entry: string): Promise<Compiled> {
    clearTimeout(this.idleTimer);
    this.pending++;
    try {
      this.runtime ??= this.bundle(WORKER_SOURCE);
      const [runtime, plugin] = await Promise.all([this.runtime, this.bundle(entry)]);
      return { runtime: pathToFileURL(runtime), entry: plugin };
    } catch (e) {
      this.runtime = undefined; // try the runtime again next time
      throw e;
    } finally {
      this.released();
    }
  }

  /** The worker runtime, compiled (a plugin process runs it), and a user plugin bundled whole. */
  async compileStandalone(entry: string): Promise<{ runtime: URL; plugin: Standalone }> {
    clearTimeout(this.idleTimer);
    this.pending++;
    try {
      this.runtime ??= this.bundle(WORKER_SOURCE);
      const [runtime, plugin] = await Promise.all([this.runtime, bundleStandalone(entry)]);
      return { runtime: pathToFileURL(runtime), plugin };
    } catch (e) {
      this.runtime = undefined;
      throw e;
    } finally {
      this.released();
    }
  }

  private released(): void {
    if (--this.pending === 0) {
      this.idleTimer = setTimeout(() => void stopEsbuild(), IDLE_STOP_MS);
      this.idleTimer.unref();
    }
  }

  /** Removes the compiled modules (at the daemon's stop). */
  close(): void {
    clearTimeout(this.idleTimer);
    if (this.dir) rmSync(this.dir, { recursive: true, force: true });
    this.dir = undefined;
    this.runtime = undefined;
  }

  private async bundle(source: string): Promise<string> {
    const out = await build({
      entryPoints: [source],
      bundle: true,
      write: false,
      format: 'esm',
      platform: 'node',
      target: 'node20',
      logLevel: 'silent',
      plugins: [packagesByUrl],
    });
    const text = out.outputFiles[0]?.text;
    if (text === undefined) throw new Error(`esbuild produced nothing for ${source}`);
    this.dir ??= freshDir();
    const name = `${basename(dirname(source))}-${basename(source).replace(/\.[cm]?[tj]s$/, '')}-${createHash('sha256').update(text).digest('hex').slice(0, 16)}.mjs`;
    const file = join(this.dir, name);
    if (!existsSync(file)) {
      mkdirSync(this.dir, { recursive: true });
      const tmp = `${file}.${process.pid}.tmp`;
      writeFileSync(tmp, text, { mode: 0o600 });
      renameSync(tmp, file);
    }
    return file;
  }
}
