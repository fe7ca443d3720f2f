// Which plugins run for a config: the built-in ones the config asks for (a folder under
// plugins/ with config.ts and index.ts, run when the config has its section: the config loader
// makes it from keepalived keywords, src/config/plugin-sections/), and every module in the
// user's plugins_dir (`global_defs.plugins_dir`).

import { existsSync, readdirSync, statSync } from 'node:fs';
import { basename, extname, join, resolve } from 'node:path';
import { DIST, FROM_SOURCE, ROOT } from '../install-paths.ts';
import type { PositionMap } from '../config/diagnostics.ts';
import type { Config } from '../config/schema.ts';
import { instanceFamily, instanceVersion } from '../config/semantic.ts';
import type { InstanceInfo } from './api.ts';
import type { PluginSpec } from './host.ts';
import { collisionMessage } from './inventory.ts';
import { parseUserWords } from '../config/user-words.ts';

/** The built-in plugins' sources. */
export const BUILTIN_DIR = join(ROOT, 'plugins');
/** Where a built-in's modules load from: the sources through tsx (tests), else the build
 * (dist/plugins/NAME/{config,index}.mjs, scripts/build.mjs). */
const BUILTIN_MODULES = FROM_SOURCE ? { dir: BUILTIN_DIR, ext: '.ts' } : { dir: join(DIST, 'plugins'), ext: '.mjs' };

const MODULE_EXTENSIONS = ['.ts', '.mts', '.js', '.mjs'];

/** Built-in plugin folders: each has config.ts (its schema, registered with the config loader by
 * sections.ts) and index.ts (loaded only in its worker). */
export function builtinNames(dir = BUILTIN_DIR): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((n) => existsSync(join(dir, n, 'config.ts')) && existsSync(join(dir, n, 'index.ts')))
    .sort();
}

/** The built-ins the config asks for: those with a section (the config loader made it from
 * keepalived keywords, or the user wrote it), each with its section as its config. */
export function builtinSpecs(config: Config): Promise<PluginSpec[]> {
  const { dir, ext } = BUILTIN_MODULES;
  const specs: PluginSpec[] = [];
  for (const name of builtinNames()) {
    const section = config.plugins[name];
    if (section !== undefined) specs.push({ id: name, entry: join(dir, name, `index${ext}`), config: section, origin: 'builtin' });
  }
  return Promise.resolve(specs);
}

/** A module of the user plugins directory: its id (the file's name without extension, or the
 * folder's) and its path. */
export interface UserPluginFile {
  id: string;
  entry: string;
}

/** The module files of a user plugins directory: `name.ts|.mts|.js|.mjs`, or a folder
 * `name/` with an index module. Files starting with `.` or `_` and `.d.ts` are skipped. */
export function userPluginFiles(dir: string): UserPluginFile[] {
  if (!existsSync(dir)) return [];
  const out: UserPluginFile[] = [];
  for (const name of readdirSync(dir).sort()) {
    if (name.startsWith('.') || name.startsWith('_') || name.endsWith('.d.ts')) continue;
    const p = resolve(dir, name);
    const st = statSync(p, { throwIfNoEntry: false });
    if (!st) continue;
    if (st.isDirectory()) {
      const index = MODULE_EXTENSIONS.map((e) => join(p, `index${e}`)).find((f) => existsSync(f));
      if (index) out.push({ id: name, entry: index });
    } else if (MODULE_EXTENSIONS.includes(extname(name))) {
      out.push({ id: basename(name, extname(name)), entry: p });
    }
  }
  return out;
}

/** The plugins to run for `config`: the built-ins it asks for, then every user plugin.
 * `positions` (the config's LoadResult.positions): user plugins' config problems are then
 * reported at their place in the config file.
 *
 * A user plugin named like a built-in is an error of the config (inventory.ts), so a config
 * that loaded has none; should one appear between the load and here (a file added meanwhile),
 * this throws rather than run one of the two under the other's name. */
export async function pluginSpecs(config: Config, positions?: PositionMap): Promise<PluginSpec[]> {
  const specs = await builtinSpecs(config);
  const dir = config.global_defs.plugins_dir;
  if (dir) {
    const builtins = new Set(builtinNames());
    for (const f of userPluginFiles(dir)) {
      if (builtins.has(f.id)) throw new Error(`plugin ${f.id}: ${collisionMessage(f)}`);
      const spec: PluginSpec = { id: f.id, entry: f.entry, config: undefined, origin: 'user', checkFiles: !config.global_defs.allow_unsafe_plugins };
      const who = pluginUser(config, f.id);
      if (who) spec.runAs = who;
      if (positions) spec.where = sectionPlaces(positions, f.id);
      specs.push(spec);
    }
  }
  return specs;
}

/** `plugins.ID.<path>` to `file:line:col` (its deepest ancestor that the config file has). */
export function sectionPlaces(positions: Pick<PositionMap, 'get'>, id: string): (path: ReadonlyArray<string | number>) => string {
  return (path) => {
    const p = positions.get(['plugins', id, ...path]);
    return `${p.file}:${p.line}:${p.col}`;
  };
}

/** The user a user plugin runs as (global_defs.plugin_user: its own entry, else `*`), if any. */
export function pluginUser(config: Config, id: string): { user: string; group?: string } | undefined {
  const users = config.global_defs.plugin_user;
  return parseUserWords(users[id] ?? users['*'] ?? '');
}

/** What plugins are told of each instance. */
export function instanceInfos(config: Config): InstanceInfo[] {
  const groupOf = new Map<string, string>();
  for (const [g, sg] of Object.entries(config.vrrp_sync_group)) for (const m of sg.group) groupOf.set(m, g);
  return Object.entries(config.vrrp_instance).map(([name, inst]) => {
    const info: InstanceInfo = {
      name,
      vrid: inst.virtual_router_id,
      interface: inst.interface,
      family: instanceFamily(inst),
      version: instanceVersion(config, inst),
      priority: inst.priority,
      virtualAddresses: inst.virtual_ipaddress.map((v) => v.address),
    };
    const group = groupOf.get(name);
    if (group) info.group = group;
    return info;
  });
}
