// Which plugins a config names, against which plugins exist: the built-ins and the modules in
// plugins_dir. Found before anything runs (vigil -t, the daemon's start and every reload), each
// as a Diagnostic with its place, so that a missing plugin, a typo in a plugin's name or a user
// plugin named like a built-in is an error the operator reads at once, not a plugin that
// silently never starts.
//
// Pure and synchronous (no esbuild, no plugin code): the plugins_dir listing is an argument;
// inventoryCheck() below reads it for callers that have only a config.
//
// The rules:
// - a user plugin may not take a built-in's name. Built-ins are not replaced by a file that
//   happens to share their name (which one ran used to depend on the loader's order, and the
//   user's was skipped without a word); a user who wants their own webhook names it
//   my-webhook. No override is offered: renaming costs one `mv`, an override would be one more
//   thing to read in every config.
// - every `plugins.NAME` section names a built-in or a user plugin file NAME (the section of a
//   user plugin is keyed by its name, which is its file's name: see validate-user.ts).
// - every global_defs.plugin_user entry names a user plugin (or is `*`): an entry naming
//   nothing is most likely a typo, and the plugin meant runs as root meanwhile.

import { resolve } from 'node:path';
import type { Diagnostic, PositionMap } from '../config/diagnostics.ts';
import type { Config } from '../config/schema.ts';
import { userPluginFiles, type UserPluginFile } from './loader.ts';

/** What a user plugin file may be called, for the messages. */
const FORMS = (name: string) => `${name}.ts|.mts|.js|.mjs or ${name}/index.*`;

/** Where a field was read; without positions (a config built in code), the config's own file. */
function at(positions: Pick<PositionMap, 'get'> | undefined, path: string[]): { file: string; line: number; col: number; field: string } {
  const p = positions?.get(path) ?? { file: '-', line: 1, col: 1 };
  return { file: p.file, line: p.line, col: p.col, field: path.join('.') };
}

/** The message for a user plugin file that has a built-in's name. */
export function collisionMessage(file: UserPluginFile): string {
  return `user plugin ${file.entry} has the name of the built-in plugin '${file.id}': built-ins cannot be replaced; rename the file (and its definePlugin name), e.g. to my-${file.id}, and its plugins.${file.id} section with it`;
}

/** A user plugin whose definePlugin name is not its file's name (vigil -t, and the plugin host
 * when one starts anyway). */
export function nameMismatch(file: UserPluginFile, name: string): string {
  return `${file.entry} is named '${name}' (definePlugin name): a user plugin's name is its file's name, '${file.id}', as plugins.${file.id}, plugin_user and vigil status know it; rename one to match the other`;
}

/**
 * The config's plugins against the plugins there are.
 * `builtins`: the built-in plugins' names; `files`: the plugins_dir listing (userPluginFiles),
 * empty when there is no plugins_dir.
 */
export function pluginInventory(config: Config, positions: Pick<PositionMap, 'get'> | undefined, builtins: readonly string[], files: readonly UserPluginFile[]): Diagnostic[] {
  const out: Diagnostic[] = [];
  const dir = config.global_defs.plugins_dir;
  const builtin = new Set(builtins);
  const user = new Set(files.map((f) => f.id));

  for (const f of files) {
    if (builtin.has(f.id)) out.push({ file: f.entry, line: 1, col: 1, severity: 'error', field: 'global_defs.plugins_dir', message: collisionMessage(f) });
  }

  const where = dir ? `in ${resolve(dir)}` : 'and no plugins_dir (global_defs.plugins_dir) to find a user plugin in';
  const known = builtins.length > 0 ? builtins.join(', ') : 'none';
  for (const name of Object.keys(config.plugins)) {
    if (builtin.has(name) || user.has(name)) continue;
    out.push({
      ...at(positions, ['plugins', name]),
      severity: 'error',
      message: `no plugin ${name}: not a built-in (${known}) and no ${FORMS(name)} ${where}`,
    });
  }

  for (const id of Object.keys(config.global_defs.plugin_user)) {
    if (id === '*' || user.has(id)) continue;
    const place = at(positions, ['global_defs', 'plugin_user', id]);
    if (builtin.has(id)) {
      out.push({ ...place, severity: 'error', message: `'${id}' is a built-in plugin: built-ins run inside the daemon, only user plugins can run as another user` });
    } else {
      out.push({ ...place, severity: 'error', message: `no user plugin '${id}': no ${FORMS(id)} ${where}` });
    }
  }
  return out;
}

/** pluginInventory on the plugins_dir as it is now: for the config loader's check hook
 * (PluginSectionRegistry) and `vigil -t`. */
export function inventoryCheck(builtins: readonly string[]): (config: Config, positions?: Pick<PositionMap, 'get'>) => Diagnostic[] {
  return (config, positions) => {
    const dir = config.global_defs.plugins_dir;
    return pluginInventory(config, positions, builtins, dir ? userPluginFiles(dir) : []);
  };
}
