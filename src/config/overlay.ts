// The overlay: a vigil-only YAML file merged over the config read from keepalived.conf (or
// from YAML), so a keepalived.conf stays a file keepalived itself reads while vigil's own
// sections (control, plugins, lvs, plugin_user, ...) live next to it. docs/config.md, "The
// overlay".
//
// Merge rule: maps are merged key by key, recursively; anything else in the overlay (a scalar,
// a list, null) replaces what the config had at that place. Every key may be given, wire fields
// of a vrrp_instance included: the overlay is the operator's, and `vigil -t` checks the result
// like any config. Positions follow the value: a field the overlay set points into the
// overlay, the rest into the config (and its includes).

import { existsSync } from 'node:fs';
import { PositionMap, type Diagnostic, type Path, type Position } from './diagnostics.ts';
import { configSchema } from './schema.ts';
import { readYaml, type YamlRead } from './yaml.ts';

/** The overlay found next to a config without --overlay: FILE.vigil.yaml. */
export const OVERLAY_SUFFIX = '.vigil.yaml';

export function defaultOverlayPath(file: string): string {
  return file + OVERLAY_SUFFIX;
}

/** The command line's --overlay, for every config this process loads (the daemon, its reloads,
 * `vigil -t`, `convert`, and `status` / `events` / `reload` finding control.socket), as
 * setOperatorPidFile does for -p. */
let operatorOverlay: string | undefined;

export function setOperatorOverlay(file: string | undefined): void {
  operatorOverlay = file;
}

/** The overlay file a daemon on `file` watches (it may not exist yet). */
export function watchedOverlay(file: string): string {
  return operatorOverlay ?? defaultOverlayPath(file);
}

/** Which overlay a config gets: `--overlay FILE` (must exist), none with `false`, or else the
 * default next to a keepalived.conf when that file exists. */
export function overlayFor(file: string, format: 'yaml' | 'keepalived', option: string | false | undefined): string | undefined {
  if (option === false) return undefined;
  if (option !== undefined) return option;
  if (operatorOverlay !== undefined) return operatorOverlay;
  if (format !== 'keepalived') return undefined;
  const p = defaultOverlayPath(file);
  return existsSync(p) ? p : undefined;
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => v !== null && typeof v === 'object' && !Array.isArray(v);

/** Reads an overlay: YAML whose top level is a map of config sections. */
export function readOverlay(text: string, file: string): YamlRead {
  const r = readYaml(text, file);
  const diagnostics: Diagnostic[] = [...r.diagnostics];
  const at = (path: Path) => r.positions.get(path);
  if (r.raw === null || r.raw === undefined || (isObj(r.raw) && Object.keys(r.raw).length === 0)) return { ...r, raw: {}, diagnostics };
  if (!isObj(r.raw)) {
    diagnostics.push({ ...at([]), severity: 'error', field: 'overlay', message: 'the overlay must be a YAML map of config sections (control:, plugins:, ...)' });
    return { ...r, raw: {}, diagnostics };
  }
  const known = new Set(Object.keys(configSchema.shape));
  for (const key of Object.keys(r.raw)) {
    if (!known.has(key)) diagnostics.push({ ...at([key]), severity: 'warning', field: key, message: `'${key}' is not a section of vigil's config (${[...known].join(', ')}); ignored` });
  }
  return { ...r, diagnostics };
}

/** The config with the overlay merged over it (neither is changed). */
export function mergeOverlay(base: unknown, overlay: unknown): unknown {
  if (!isObj(base) || !isObj(overlay)) return overlay;
  const out: Obj = { ...base };
  for (const [k, v] of Object.entries(overlay)) out[k] = k in out ? mergeOverlay(out[k], v) : v;
  return out;
}

/** How deep `path` goes into `root` before it meets a missing key. */
function depth(root: unknown, path: Path): number {
  let v = root;
  let d = 0;
  for (const k of path) {
    if (v === null || typeof v !== 'object') break;
    v = (v as Obj)[String(k)];
    if (v === undefined) break;
    d++;
  }
  return d;
}

/** Positions of the merged config: the overlay's for what it set, the config's for the rest. */
export class OverlayPositions extends PositionMap {
  constructor(
    private readonly base: PositionMap,
    private readonly baseRaw: unknown,
    private readonly overlay: PositionMap,
    private readonly overlayRaw: unknown,
  ) {
    super(base.get([]));
  }

  override set(path: Path, pos: Position): void {
    this.base.set(path, pos);
  }

  override get(path: Path): Position {
    // a value the overlay replaced (not a map) owns everything under it
    let v = this.overlayRaw;
    for (const k of path) {
      if (!isObj(v)) break;
      v = v[String(k)];
      if (v === undefined) break;
      if (!isObj(v)) return this.overlay.get(path);
    }
    return depth(this.overlayRaw, path) > depth(this.baseRaw, path) ? this.overlay.get(path) : this.base.get(path);
  }

  /** Did the overlay set this exact field? */
  fromOverlay(path: Path): boolean {
    return depth(this.overlayRaw, path) === path.length;
  }
}
