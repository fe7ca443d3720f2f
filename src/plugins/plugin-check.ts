// `vigil -t` on the user plugins directory: every plugin the daemon would refuse for unsafe
// files (plugin-security.ts) is an error here, before anything runs. The files a plugin loads
// are found as esbuild finds them when bundling (its metafile: every module of the static
// import graph, symlinks resolved); packages and dynamic imports are left to the daemon's own
// check at load time (resolve-hook.mjs).

import { dirname, resolve } from 'node:path';
import { build, stop } from 'esbuild';
import type { Diagnostic } from '../config/diagnostics.ts';
import type { Config } from '../config/schema.ts';
import { builtinNames, userPluginFiles } from './loader.ts';
import { lookupUser } from './run.ts';
import { describeUnsafe, PLUGIN_FILE_RULE, pluginFileProblem, pluginFilesProblems } from './plugin-security.ts';

/** The local modules `entry` imports, itself included. */
export async function localModules(entry: string): Promise<string[]> {
  const cwd = dirname(entry);
  const r = await build({
    entryPoints: [entry],
    absWorkingDir: cwd,
    bundle: true,
    write: false,
    metafile: true,
    platform: 'node',
    format: 'esm',
    packages: 'external',
    logLevel: 'silent',
  });
  return Object.keys(r.metafile.inputs).map((f) => resolve(cwd, f));
}

export async function checkUserPlugins(config: Config): Promise<Diagnostic[]> {
  const dir = config.global_defs.plugins_dir;
  if (!dir) return checkPluginUsers(config);
  const out: Diagnostic[] = [];
  const severity = config.global_defs.allow_unsafe_plugins ? ('warning' as const) : ('error' as const);
  const field = 'global_defs.plugins_dir';
  const consequence = config.global_defs.allow_unsafe_plugins ? 'loaded anyway (allow_unsafe_plugins)' : 'refused';
  const dirProblem = pluginFileProblem(resolve(dir), 'directory');
  if (dirProblem) out.push({ file: resolve(dir), line: 1, col: 1, severity, field, message: `plugins directory ${dirProblem.at} ${dirProblem.reason}; ${PLUGIN_FILE_RULE}: every plugin in it is ${consequence}` });
  try {
    for (const p of userPluginFiles(dir)) {
      const own = pluginFileProblem(p.entry);
      if (dirProblem && own) continue; // said once, for the directory
      let problems = own ? [own] : [];
      if (!own) {
        try {
          problems = pluginFilesProblems(await localModules(p.entry));
        } catch (e) {
          // a plugin that does not even parse fails in its worker, with the compiler's words
          out.push({ file: p.entry, line: 1, col: 1, severity: 'warning', field, message: `plugin ${p.id}: its imports could not be followed: ${(e as Error).message.split('\n')[0]}` });
        }
      }
      for (const u of problems) out.push({ file: p.entry, line: 1, col: 1, severity, field, message: `plugin ${p.id}: ${describeUnsafe(u)}; it is ${consequence}` });
    }
  } finally {
    await stop();
  }
  out.push(...checkPluginUsers(config));
  return out;
}

/** global_defs.plugin_user: each names a user plugin (or `*`) and a user that exists. */
function checkPluginUsers(config: Config): Diagnostic[] {
  const dir = config.global_defs.plugins_dir;
  const ids = new Set(dir ? userPluginFiles(dir).map((p) => p.id) : []);
  const builtins = new Set(builtinNames());
  const out: Diagnostic[] = [];
  for (const [id, words] of Object.entries(config.global_defs.plugin_user)) {
    const field = `global_defs.plugin_user.${id}`;
    const at = { file: dir ? resolve(dir) : '-', line: 1, col: 1, field };
    const [user, group] = words.trim().split(/\s+/);
    if (builtins.has(id) && !ids.has(id)) out.push({ ...at, severity: 'error', message: `'${id}' is a built-in plugin: built-ins run inside the daemon, only user plugins can run as another user` });
    else if (id !== '*' && !ids.has(id)) out.push({ ...at, severity: 'warning', message: `no user plugin '${id}' in ${dir ?? '(no plugins_dir)'}` });
    if (user && !lookupUser(user, group)) out.push({ ...at, severity: 'error', message: `user ${user}${group ? ` or group ${group}` : ''} does not exist; the plugin would not start` });
  }
  return out;
}
