// Users' plugins, compiled. vigil itself runs from its build (dist/, scripts/build.mjs) and the
// built-in plugins with it; a user's plugin is TypeScript (or JavaScript) in a directory of its
// own, so the engine bundles it with esbuild into one plain ES module: the plugin, its sibling
// modules and the packages it imports, 'vigil/plugin' and 'zod' taken from this installation.
// No TypeScript loader runs in any thread or process of the daemon.
//
// Once per content: the bundle is kept in a cache directory with the list of the files it was
// made of and their SHA-256; the next start (or restart of the plugin) whose files hash the same
// loads the cached bundle and starts no compiler. esbuild's compiler process runs only while a
// compile is under way and is stopped as soon as none is (it would otherwise hold ~10 MiB for
// the daemon's life).
//
// The cache directory holds code the engine runs as root: it is created 0700 by this user, and
// one that is not ours or is writable by others is not used (the bundle is then kept in memory
// only). systemd's CacheDirectory= (CACHE_DIRECTORY) is honoured.

import { createHash } from 'node:crypto';
import { existsSync, lstatSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Plugin } from 'esbuild';
import { ROOT, VERSION } from '../install-paths.ts';

/** vigil's public plugin module (`vigil/plugin`: api.ts and sdk-helpers.ts), by source:
 * bundled into each user plugin. */
const API_SOURCE = join(ROOT, 'src', 'plugins', 'sdk.ts');
/** vigil's own code and packages: what a user plugin's bundle may take from here unchecked. */
const TRUSTED = ['src/', 'plugins/', 'node_modules/', 'dist/'].map((d) => join(ROOT, d));

/** 'vigil/plugin' is vigil's sdk.ts and 'zod' vigil's zod, both bundled in: the plugin's
 * schema is built with the zod the runtime validates with, from any directory. */
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

export interface UserBundle extends Standalone {
  /** The bundle on disk, in the cache directory (undefined: kept in memory only). */
  file: string | undefined;
  /** It came from the cache: no compiler ran. */
  cached: boolean;
}

/** What the cache keeps next to a bundle. */
interface Manifest {
  /** Every file the bundle was made of (vigil's included), with its SHA-256. */
  inputs: Record<string, string>;
  /** The bundle's file name in the cache directory. */
  module: string;
  files: string[];
}

const sha256 = (data: string | Buffer): string => createHash('sha256').update(data).digest('hex');

/** esbuild's API, loaded on first use: only users' plugins need it (~27 ms of every start). */
const esbuild = () => import('esbuild');

/** The installed esbuild's version, for the cache key, without loading it (a cached bundle
 * needs no compiler). */
function esbuildVersion(): string {
  try {
    return (JSON.parse(readFileSync(join(ROOT, 'node_modules', 'esbuild', 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

/** A user plugin bundled into one module, importable from a file or a data: URL. */
export async function bundleStandalone(entry: string): Promise<Standalone & { inputs: string[] }> {
  const cwd = dirname(entry);
  const out = await (await esbuild()).build({
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
  const inputs = Object.keys(out.metafile.inputs)
    .filter((f) => !/^[a-z-]+:/.test(f))
    .map((f) => resolve(cwd, f));
  const files = inputs.filter((f) => !TRUSTED.some((t) => f.startsWith(t)));
  return { code, files, inputs };
}

/** The cache directory, made and checked; undefined when there is none we may trust. */
export function cacheDir(): string | undefined {
  const uid = process.getuid?.() ?? 0;
  const base = process.env.VIGIL_CACHE_DIR ?? process.env.CACHE_DIRECTORY?.split(':')[0] ?? (uid === 0 ? '/var/cache/vigil' : join(tmpdir(), `vigil-cache-${uid}`));
  const dir = join(base, 'plugins');
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    for (const d of [base, dir]) {
      const st = lstatSync(d);
      if (!st.isDirectory() || st.uid !== uid || (st.mode & 0o022) !== 0) return undefined;
    }
    return dir;
  } catch {
    return undefined;
  }
}

export class PluginCompiler {
  private pending = 0;
  /** Bundles of this engine's life, when there is no cache directory. */
  private readonly memory = new Map<string, { manifest: Manifest; code: string }>();

  private readonly dir: string | undefined;

  /** `dir`: the cache directory (default: cacheDir()); null: none, bundles stay in memory. */
  constructor(dir?: string | null) {
    this.dir = dir === undefined ? cacheDir() : (dir ?? undefined);
  }

  /** The plugin at `entry`, bundled: from the cache when every file it was made of is unchanged,
   * else compiled (and cached). */
  async compileUser(entry: string): Promise<UserBundle> {
    const key = sha256(`${resolve(entry)}\0${VERSION}\0${esbuildVersion()}`).slice(0, 24);
    const hit = this.lookup(key);
    if (hit) return hit;
    this.pending++;
    try {
      const b = await bundleStandalone(entry);
      const inputs: Record<string, string> = {};
      for (const f of b.inputs) inputs[f] = sha256(readFileSync(f));
      const module = `${key}-${sha256(b.code).slice(0, 16)}.mjs`;
      const manifest: Manifest = { inputs, module, files: b.files };
      const file = this.store(key, manifest, b.code);
      return { code: b.code, files: b.files, file, cached: false };
    } finally {
      // the compiler process goes as soon as no compile needs it
      if (--this.pending === 0) void esbuild().then((e) => e.stop());
    }
  }

  /** Nothing to remove: the cache outlives the engine on purpose. */
  close(): void {
    this.memory.clear();
  }

  private lookup(key: string): UserBundle | undefined {
    let manifest: Manifest;
    let code: string;
    let file: string | undefined;
    const held = this.memory.get(key);
    if (held) {
      ({ manifest, code } = held);
    } else if (this.dir) {
      try {
        manifest = JSON.parse(readFileSync(join(this.dir, `${key}.json`), 'utf8')) as Manifest;
        file = join(this.dir, manifest.module);
        code = readFileSync(file, 'utf8');
      } catch {
        return undefined;
      }
    } else {
      return undefined;
    }
    for (const [f, hash] of Object.entries(manifest.inputs)) {
      if (!existsSync(f) || sha256(readFileSync(f)) !== hash) return undefined;
    }
    return { code, files: manifest.files, file, cached: true };
  }

  /** The bundle file the cache's manifest for `key` names, if there is one. */
  private cachedModuleName(key: string): string | undefined {
    try {
      const name = (JSON.parse(readFileSync(join(this.dir as string, `${key}.json`), 'utf8')) as Manifest).module;
      return basename(name) === name ? name : undefined;
    } catch {
      return undefined;
    }
  }

  private store(key: string, manifest: Manifest, code: string): string | undefined {
    if (!this.dir) {
      this.memory.set(key, { manifest, code });
      return undefined;
    }
    const write = (name: string, text: string) => {
      const tmp = join(this.dir as string, `${name}.${process.pid}.tmp`);
      writeFileSync(tmp, text, { mode: 0o600 });
      renameSync(tmp, join(this.dir as string, name));
    };
    try {
      // the bundle of the plugin's previous content goes: one bundle per plugin, not one per edit
      const previous = this.cachedModuleName(key);
      write(manifest.module, code);
      write(`${key}.json`, JSON.stringify(manifest));
      if (previous !== undefined && previous !== manifest.module) rmSync(join(this.dir, previous), { force: true });
      return join(this.dir, manifest.module);
    } catch {
      this.memory.set(key, { manifest, code });
      return undefined;
    }
  }
}
