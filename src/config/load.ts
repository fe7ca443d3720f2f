// Loading a configuration file: detect its format by content (YAML or keepalived.conf),
// read it, merge the overlay over it (overlay.ts), validate it against the schema and the
// plugins' section schemas, then run the semantic checks. Never throws on bad input: every
// problem is a Diagnostic with its place.
//
// Every stage runs, as keepalived -t lists every problem in one run: a field the reader or the
// schema refused is left out (its default applies, or the entry holding it is dropped) and the
// later stages check what is left; their findings about what was left out are not repeated.

import type { Stats } from 'node:fs';
import { hostname } from 'node:os';
import type { z } from 'zod';
import { hasErrors, PositionMap, type Diagnostic, type Path } from './diagnostics.ts';
import { configFileWarnings, octal, readWithStat } from './file-trust.ts';
import { lex } from './keepalived/lexer.ts';
import { mapKeepalived } from './keepalived/mapping.ts';
import { parse } from './keepalived/parser.ts';
import type { PluginSectionRegistry } from './plugin-sections.ts';
import { derivePluginSections, type DeriveOptions } from './plugin-sections/index.ts';
import { configSchema, type Config } from './schema.ts';
import { checkSemantics, type SemanticOptions } from './semantic.ts';
import { mergeOverlay, OverlayPositions, overlayFor, readOverlay } from './overlay.ts';
import { readYaml } from './yaml.ts';

export type ConfigFormat = 'yaml' | 'keepalived';

export interface LoadOptions extends SemanticOptions {
  /** keepalived's -i: which @id lines apply. Defaults to the host name, as in keepalived. */
  configId?: string;
  /** The plugins' section schemas (src/plugins/sections.ts builds them): without it, the
   * sections are derived but not validated. */
  plugins?: PluginSectionRegistry;
  /** smtp-alert's host and user defaults (plugin-sections/index.ts), for tests. */
  derive?: DeriveOptions;
  /** The file's owner and mode, as read (loadConfigFile sets it): a secret written in a file
   * others can read is warned about. */
  fileStat?: Pick<Stats, 'mode' | 'gid'>;
  /** The overlay (overlay.ts): a file, `false` for none; by default FILE.vigil.yaml next to a
   * keepalived.conf when it exists (loadConfigFile). */
  overlay?: string | false;
  /** The overlay's text, as read (loadConfigFile sets it). */
  overlayText?: { file: string; text: string; stat?: Pick<Stats, 'mode' | 'gid'> };
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
  /** The overlay merged over the config, if any. */
  overlay?: string;
  /** What the checks ran on: the config, or with errors the part of it that parsed (for
   * checks made after loading, e.g. `vigil -t`'s plugin checks). */
  checked?: Config;
  /** The `plugins` section as the user wrote it, before the built-ins' sections were made from
   * keepalived keywords (what `vigil convert` prints). */
  pluginsAsWritten?: Record<string, unknown>;
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
  const overlay = overlayFor(file, detectFormat(read.text), opts.overlay);
  let overlayText: LoadOptions['overlayText'];
  const own: Diagnostic[] = [];
  if (overlay !== undefined) {
    try {
      const o = readWithStat(overlay);
      overlayText = { file: overlay, text: o.text, stat: o.stat };
      own.push(...fileTrustDiagnostics(overlay, o.stat));
    } catch (e) {
      own.push({ file: overlay, line: 1, col: 1, severity: 'error', field: 'overlay', message: `cannot read the overlay: ${(e as Error).message}` });
    }
  }
  const r = loadConfigText(read.text, file, { ...opts, fileStat: read.stat, overlayText });
  // who could change the file, first: it is about all that follows
  // (an include's directory warning that repeats the main file's is dropped)
  own.unshift(...fileTrustDiagnostics(file, read.stat));
  const said = new Set(own.map((d) => d.message));
  const diagnostics = [...own, ...r.diagnostics.filter((d) => !(d.field === 'file' && said.has(d.message)))];
  return { ...r, ...(overlay !== undefined ? { overlay } : {}), config: hasErrors(diagnostics) ? null : r.config, diagnostics };
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
  let raw = read.raw;
  let positions: PositionMap = read.positions;
  let overlay: OverlayPositions | undefined;
  if (opts.overlayText) {
    const o = readOverlay(opts.overlayText.text, opts.overlayText.file);
    diagnostics.push(...o.diagnostics);
    raw = mergeOverlay(read.raw, o.raw);
    positions = overlay = new OverlayPositions(read.positions, read.raw, o.positions, o.raw);
  }

  // the schema, on what the readers produced; what it refuses is left out for the later stages
  const refused = new Set(diagnostics.filter((d) => d.severity === 'error').map((d) => d.field));
  const partial = parsePartial(raw, positions);
  // a field the reader already refused is missing here: said once
  diagnostics.push(...partial.diagnostics.filter((d) => !refused.has(d.field)));
  const config = partial.config;
  if (!config) return { config: null, format, diagnostics, positions };

  // the keepalived keywords the built-ins work from become their sections
  const derived = derivePluginSections(config, opts.derive);
  for (const i of derived.ignored) diagnostics.push({ ...positions.get(i.path), severity: 'warning', field: i.path.join('.'), message: i.message });
  const sections = opts.plugins;
  if (sections) {
    for (const [name, section] of Object.entries(config.plugins)) {
      const plugin = sections.get(name);
      const path = ['plugins', name];
      // a user plugin (plugins_dir) validates in its own worker; a section that names no plugin
      // at all is the registry's check's to report (src/plugins/inventory.ts)
      if (!plugin?.schema) continue;
      // validated here, for the file:line report; the section stays as written (the plugin
      // parses it again: a schema that transforms need not accept its own output)
      const r = plugin.schema.safeParse(section);
      if (r.success) continue;
      if (derived.names.includes(name)) diagnostics.push(...derivedDiagnostics(r.error, name, derived.source, positions));
      else diagnostics.push(...zodDiagnostics(r.error, path, positions));
    }
    diagnostics.push(...sections.check(config, positions));
  }

  // what is said about a left-out entry (a name that "names nothing") or inside a list whose
  // entries moved up is not repeated
  const leftOut = (d: Diagnostic) =>
    partial.lists.some((l) => d.field === l || d.field.startsWith(`${l}.`)) || partial.names.some((n) => d.message.includes(`'${n}'`));
  diagnostics.push(...checkSemantics(config, positions, opts).filter((d) => !leftOut(d)));
  // the HTTP listener's token guards metrics, status and events: in a config file others can
  // read, it guards nothing (YAML has no includes: the token is in this file or the overlay)
  const tokenPath = ['control', 'http', 'token'];
  const inOverlay = overlay?.fromOverlay(tokenPath) === true;
  const st = inOverlay ? opts.overlayText?.stat : opts.fileStat;
  const tokenFile = inOverlay ? (opts.overlayText?.file ?? file) : file;
  if (config.control.http?.token !== undefined && st && ((st.mode & 0o004) !== 0 || ((st.mode & 0o040) !== 0 && st.gid !== 0))) {
    diagnostics.push({
      ...positions.get(tokenPath),
      severity: 'warning',
      field: tokenPath.join('.'),
      message: `the token is in a file ${(st.mode & 0o004) !== 0 ? 'others' : `group ${st.gid}`} can read (mode ${octal(st.mode)}): chmod 600 ${tokenFile}, or move it to a file of its own (control.http.token_file, mode 0600)`,
    });
  }
  return { config: hasErrors(diagnostics) ? null : config, format, diagnostics, positions, checked: config, pluginsAsWritten: derived.written };
}

/** The schema on `raw`; when it refuses fields, again without them (a refused value is deleted,
 * so its default applies; an entry missing a required field is deleted whole), until what is
 * left parses. `names`: the record entries deleted (vrrp_instance VI_1, ...); `lists`: the lists
 * an entry was deleted from (the later entries' indexes moved). */
function parsePartial(raw: unknown, positions: PositionMap): { config: Config | null; diagnostics: Diagnostic[]; names: string[]; lists: string[] } {
  const first = configSchema.safeParse(raw);
  if (first.success) return { config: first.data, diagnostics: [], names: [], lists: [] };
  const diagnostics = zodDiagnostics(first.error, [], positions);
  const names: string[] = [];
  const lists: string[] = [];
  let current: unknown = structuredClone(raw);
  let error = first.error;
  for (let round = 0; round < 16; round++) {
    // the last list entries first, so a deletion does not move the next one's index
    const paths = error.issues.map((i) => i.path.map((p) => (typeof p === 'symbol' ? String(p) : p))).sort(laterFirst);
    for (const path of paths) leaveOut(current, path, names, lists);
    const again = configSchema.safeParse(current);
    if (again.success) return { config: again.data, diagnostics, names, lists };
    error = again.error;
    current = structuredClone(current);
  }
  return { config: null, diagnostics, names, lists };
}

function laterFirst(a: Array<string | number>, b: Array<string | number>): number {
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    const x = a[i] as string | number;
    const y = b[i] as string | number;
    if (x === y) continue;
    if (typeof x === 'number' && typeof y === 'number') return y - x;
    return String(y).localeCompare(String(x));
  }
  return b.length - a.length;
}

const NAMED = new Set(['vrrp_instance', 'vrrp_script', 'vrrp_track_file', 'vrrp_track_process', 'vrrp_sync_group', 'virtual_server_group', 'plugins']);

function leaveOut(root: unknown, path: Array<string | number>, names: string[], lists: string[]): void {
  if (path.length === 0) return;
  let parent = root;
  for (const k of path.slice(0, -1)) {
    if (parent === null || typeof parent !== 'object') return;
    parent = (parent as Record<string, unknown>)[String(k)];
  }
  if (parent === null || typeof parent !== 'object') return;
  const key = path[path.length - 1] as string | number;
  const container = parent as Record<string, unknown>;
  if (container[String(key)] === undefined) {
    // a required field is missing: the entry holding it goes
    leaveOut(root, path.slice(0, -1), names, lists);
    return;
  }
  if (Array.isArray(parent)) {
    parent.splice(Number(key), 1);
    lists.push(path.slice(0, -1).join('.'));
    return;
  }
  delete container[String(key)];
  // an entry of a named section (vrrp_instance VI_1, vrrp_script chk, ...)
  if (path.length === 2 && NAMED.has(String(path[0]))) names.push(String(key));
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

/** A derived section's problems, at the keepalived keyword each part was made from. */
function derivedDiagnostics(error: z.ZodError, name: string, source: (name: string, path: Path) => Path, positions: PositionMap): Diagnostic[] {
  return error.issues.map((issue) => {
    const path = issue.path.map((p) => (typeof p === 'symbol' ? String(p) : p));
    const from = source(name, path);
    // a key the user wrote in the section: said as for any section
    if (from[0] === 'plugins') return { ...positions.get(from), severity: 'error' as const, field: from.join('.'), message: issue.message };
    const where = path.length > 0 ? `${path.join('.')}: ` : '';
    return { ...positions.get(from), severity: 'error' as const, field: from.join('.'), message: `plugin ${name}: ${where}${issue.message}` };
  });
}

function zodDiagnostics(error: z.ZodError, prefix: Path, positions: PositionMap): Diagnostic[] {
  return error.issues.map((issue) => {
    const path = [...prefix, ...issue.path.map((p) => (typeof p === 'symbol' ? String(p) : p))];
    return { ...positions.get(path), severity: 'error' as const, field: path.join('.'), message: issue.message };
  });
}
