// Loading a configuration file: detect its format by content (YAML or keepalived.conf),
// read it, validate it against the schema and the plugins' section schemas, then run the
// semantic checks. Never throws on bad input: every problem is a Diagnostic with its place.

import type { Stats } from 'node:fs';
import { hostname } from 'node:os';
import type { z } from 'zod';
import { hasErrors, PositionMap, type Diagnostic, type Path } from './diagnostics.ts';
import { configFileWarnings, octal, readWithStat } from './file-trust.ts';
import { lex } from './keepalived/lexer.ts';
import { mapKeepalived } from './keepalived/mapping.ts';
import { parse } from './keepalived/parser.ts';
import type { PluginSectionRegistry } from './plugin-sections.ts';
import { builtinNames } from '../plugins/loader.ts';
import { builtinSections } from '../plugins/sections.ts';
import { configSchema, type Config } from './schema.ts';
import { checkSemantics, type SemanticOptions } from './semantic.ts';
import { readYaml } from './yaml.ts';

export type ConfigFormat = 'yaml' | 'keepalived';

export interface LoadOptions extends SemanticOptions {
  /** keepalived's -i: which @id lines apply. Defaults to the host name, as in keepalived. */
  configId?: string;
  plugins?: PluginSectionRegistry;
  /** The file's owner and mode, as read (loadConfigFile sets it): a secret written in a file
   * others can read is warned about. */
  fileStat?: Pick<Stats, 'mode' | 'gid'>;
}

export interface LoadResult {
  /** The validated config, or null when there are errors. */
  config: Config | null;
  format: ConfigFormat;
  diagnostics: Diagnostic[];
  /** Where each field was read, for checks made after loading (`vigil -t`'s script checks). */
  positions?: PositionMap;
  /** The file itself could not be read (missing, no permission): no format to speak of. */
  unreadable?: true;
}

/** YAML has `key:` at the start of its first statement; keepalived.conf has `keyword {`. */
export function detectFormat(text: string): ConfigFormat {
  for (const line of text.split(/\r?\n/)) {
    const t = line.trim();
    if (t === '' || t.startsWith('#') || t.startsWith('!') || t === '---') continue;
    return /^[A-Za-z_][\w-]*\s*:(\s|$)/.test(t) ? 'yaml' : 'keepalived';
  }
  return 'yaml';
}

export function loadConfigFile(file: string, opts: LoadOptions = {}): LoadResult {
  let read: ReturnType<typeof readWithStat>;
  try {
    read = readWithStat(file);
  } catch (e) {
    return {
      config: null,
      format: 'yaml',
      unreadable: true,
      diagnostics: [{ file, line: 1, col: 1, severity: 'error', field: 'file', message: (e as Error).message }],
    };
  }
  const r = loadConfigText(read.text, file, { ...opts, fileStat: read.stat });
  // who could change the file, first: it is about all that follows
  // (an include's directory warning that repeats the main file's is dropped)
  const own = fileTrustDiagnostics(file, read.stat);
  const said = new Set(own.map((d) => d.message));
  return { ...r, diagnostics: [...own, ...r.diagnostics.filter((d) => !(d.field === 'file' && said.has(d.message)))] };
}

/** Warnings for a config file (or include) that someone other than root could change (see
 * file-trust.ts); on the file's first line, field `file`. */
function fileTrustDiagnostics(file: string, stat: Parameters<typeof configFileWarnings>[1]): Diagnostic[] {
  return configFileWarnings(file, stat).map((message) => ({ file, line: 1, col: 1, severity: 'warning' as const, field: 'file', message }));
}

export function loadConfigText(text: string, file: string, opts: LoadOptions = {}): LoadResult {
  const format = detectFormat(text);
  const read = format === 'yaml' ? readYaml(text, file) : readKeepalived(file, text, opts.configId ?? hostname());
  const diagnostics = [...read.diagnostics];
  if (hasErrors(diagnostics)) return { config: null, format, diagnostics };

  const parsed = configSchema.safeParse(read.raw);
  if (!parsed.success) {
    diagnostics.push(...zodDiagnostics(parsed.error, [], read.positions));
    return { config: null, format, diagnostics };
  }
  const config = parsed.data;

  const sections = opts.plugins ?? builtinSections();
  const builtins = builtinNames();
  for (const [name, section] of Object.entries(config.plugins)) {
    const plugin = sections.get(name);
    const path = ['plugins', name];
    if (!plugin) {
      // a built-in validates at start; a user plugin (plugins_dir) in its own worker
      if (!builtins.includes(name) && !config.global_defs.plugins_dir) {
        diagnostics.push({ ...read.positions.get(path), severity: 'warning', field: path.join('.'), message: `no built-in plugin named '${name}' and no plugins_dir to find it in` });
      }
      continue;
    }
    // validated here, for the file:line report, and typed with the plugin's defaults
    const r = plugin.schema.safeParse(section);
    if (r.success) config.plugins[name] = r.data;
    else diagnostics.push(...zodDiagnostics(r.error, path, read.positions));
  }

  diagnostics.push(...checkSemantics(config, read.positions, opts));
  // the HTTP listener's token guards metrics, status and events: in a config file others can
  // read, it guards nothing (YAML has no includes: the token is in this file)
  const st = opts.fileStat;
  if (config.control.http?.token !== undefined && st && ((st.mode & 0o004) !== 0 || ((st.mode & 0o040) !== 0 && st.gid !== 0))) {
    const path = ['control', 'http', 'token'];
    diagnostics.push({
      ...read.positions.get(path),
      severity: 'warning',
      field: path.join('.'),
      message: `the token is in a file ${(st.mode & 0o004) !== 0 ? 'others' : `group ${st.gid}`} can read (mode ${octal(st.mode)}): chmod 600 ${file}, or move it to a file of its own (control.http.token_file, mode 0600)`,
    });
  }
  return { config: hasErrors(diagnostics) ? null : config, format, diagnostics, positions: read.positions };
}

function readKeepalived(file: string, text: string, configId: string) {
  // included files are checked as the main file is (loadConfigFile checks that one); a
  // directory is named once, however many of its files are included
  const trust: Diagnostic[] = [];
  const readInclude = (p: string): string => {
    const { text: t, stat } = readWithStat(p);
    for (const d of fileTrustDiagnostics(p, stat)) if (!trust.some((x) => x.message === d.message)) trust.push(d);
    return t;
  };
  const lexed = lex(file, { configId, readFile: (p) => (p === file ? text : readInclude(p)) });
  const parsed = parse(lexed.tokens);
  const diagnostics = [...trust, ...lexed.diagnostics, ...parsed.diagnostics];
  const positions = new PositionMap({ file, line: 1, col: 1 });
  const raw = mapKeepalived(parsed.statements, { diagnostics, positions });
  return { raw, positions, diagnostics };
}

function zodDiagnostics(error: z.ZodError, prefix: Path, positions: PositionMap): Diagnostic[] {
  return error.issues.map((issue) => {
    const path = [...prefix, ...issue.path.map((p) => (typeof p === 'symbol' ? String(p) : p))];
    return { ...positions.get(path), severity: 'error' as const, field: path.join('.'), message: issue.message };
  });
}
