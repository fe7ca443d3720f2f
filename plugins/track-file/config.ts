// track-file's config: the files (keepalived's track_file / vrrp_track_file blocks) and, per
// VRRP instance, which files it tracks with which weight. fromVigilConfig resolves keepalived's
// weight rules here, in the engine, so the worker only reads files and does arithmetic.

import { existsSync, statSync } from 'node:fs';
import { dirname, resolve as resolvePath } from 'node:path';
import { z } from 'zod';
import type { Config } from '../../src/config/schema.ts';
import { readTrackFile, trackStatus } from '../../src/plugins/track-value.ts';

const weight = z.number().int().min(-254).max(254);

export const fileSchema = z.object({
  /** The file holding the number. */
  path: z.string().min(1),
  /** Written at start when the file is missing (keepalived's init_file [VALUE]); with
   * `overwrite`, also when it exists. */
  init: z.object({ value: z.number().int().default(0), overwrite: z.boolean().default(false) }).optional(),
});

export const trackSchema = z.object({
  instance: z.string().min(1),
  /** A key of `files`. */
  file: z.string().min(1),
  /** 0: a non-zero value (zero with `reverse`) puts the instance in FAULT; otherwise
   * value × weight is added to the priority. */
  weight: weight.default(1),
  reverse: z.boolean().default(false),
});

export const schema = z.object({
  files: z.record(z.string().min(1), fileSchema).default({}),
  tracks: z.array(trackSchema).default([]),
});

export type TrackFileConfig = z.infer<typeof schema>;
type Track = z.input<typeof trackSchema>;

interface Tracked {
  name: string;
  weight?: number | undefined;
  reverse?: boolean | undefined;
}

/** keepalived's per-object resolution: the object's `weight N [reverse|noreverse]` if given,
 * else the track_file block's weight and reverse. */
function resolve(t: Tracked, file: Config['vrrp_track_file'][string]): { weight: number; reverse: boolean } {
  if (t.weight !== undefined) return { weight: t.weight, reverse: t.reverse ?? false };
  return { weight: file.weight, reverse: file.weight_reverse };
}

export function fromVigilConfig(config: Config): z.input<typeof schema> | undefined {
  const files = config.vrrp_track_file;
  const groupOf = new Map<string, string>();
  for (const [g, sg] of Object.entries(config.vrrp_sync_group)) for (const m of sg.group) groupOf.set(m, g);
  const byKey = new Map<string, Track>();

  for (const [instance, inst] of Object.entries(config.vrrp_instance)) {
    // keepalived (vrrp_complete_instance): a sync group member (vigil has no
    // sync_group_tracking_weight) or an address owner cannot float its priority, so a file
    // tracked with the default weight 1 becomes unweighted (FAULT on non-zero), and one with
    // any other non-zero weight is dropped.
    const noWeights = groupOf.has(instance) || inst.priority === 255;
    for (const t of inst.track_file) {
      const file = files[t.name];
      if (!file) continue; // keepalived: "track file not found, ignoring"; semantic checks report it
      const key = `${instance}\0${t.name}`;
      if (byKey.has(key)) continue; // keepalived: duplicate track_file ignored
      const { weight: resolved, reverse } = resolve(t, file);
      let w = resolved;
      if (noWeights && w !== 0) {
        if (w !== 1) continue;
        w = 0;
      }
      byKey.set(key, { instance, file: t.name, weight: w, reverse });
    }
  }

  // Sync group track_file (keepalived 2.x applies it to every member). vigil's schema does not
  // carry it yet; read it when present so this starts working as soon as it does.
  for (const sg of Object.values(config.vrrp_sync_group)) {
    const groupTracks = (sg as { track_file?: Tracked[] }).track_file ?? [];
    const hasOwner = sg.group.some((m) => config.vrrp_instance[m]?.priority === 255);
    for (const t of groupTracks) {
      const file = files[t.name];
      if (!file) continue;
      const { weight: resolved, reverse } = resolve(t, file);
      const w = hasOwner ? 0 : resolved; // keepalived: weighted file with an owner member -> weight 0
      for (const instance of sg.group) {
        if (!config.vrrp_instance[instance]) continue;
        const key = `${instance}\0${t.name}`;
        const existing = byKey.get(key);
        // keepalived (add_obj_to_track_file): configured on both, the group's weight wins
        // unless the instance's is unweighted
        if (existing && existing.weight === 0) continue;
        byKey.set(key, { instance, file: t.name, weight: w, reverse });
      }
    }
  }

  const tracks = [...byKey.values()];
  const used = new Set(tracks.map((t) => t.file));
  // keepalived reads only files something tracks, but writes init_file while parsing the
  // config, tracked or not
  const out: Record<string, z.input<typeof fileSchema>> = {};
  for (const [name, f] of Object.entries(files)) {
    if (!used.has(name) && f.init_file === undefined) continue;
    out[name] = { path: f.file, ...(f.init_file !== undefined ? { init: { value: f.init_file === true ? 0 : f.init_file } } : {}) };
  }
  if (tracks.length === 0 && Object.keys(out).length === 0) return undefined;
  return { files: out, tracks };
}

/** What the plugin reports first for each tracking instance, read the way its setup reads it:
 * the init_file value where the plugin is about to write it (file missing, or `overwrite`),
 * else the file's number (missing: 0). A file the plugin would ignore (its directory missing, a
 * number out of range) gives nothing. The daemon presets these in the engine before starting the
 * instances, as keepalived reads its track files before its VRRP instances start, and the plugin
 * confirms them when it is up (src/daemon/tracker-presets.ts). */
export function initialReports(derived: unknown): Array<{ instance: string; source: string; fault: boolean; adjust: number }> {
  const { files, tracks } = schema.parse(derived);
  const values = new Map<string, number | undefined>();
  const valueOf = (name: string, f: z.infer<typeof fileSchema>): number | undefined => {
    const path = resolvePath(f.path);
    if (!statSync(dirname(path), { throwIfNoEntry: false })?.isDirectory()) return undefined;
    if (f.init && (f.init.overwrite || !existsSync(path))) return f.init.value;
    return readTrackFile(path).value;
  };
  const out: Array<{ instance: string; source: string; fault: boolean; adjust: number }> = [];
  for (const t of tracks) {
    const f = files[t.file];
    if (!f) continue;
    if (!values.has(t.file)) values.set(t.file, valueOf(t.file, f));
    const value = values.get(t.file);
    if (value === undefined) continue;
    const e = trackStatus(value, t.weight, t.reverse);
    if (e.fault || e.adjust !== 0) out.push({ instance: t.instance, source: `track_file:${t.file}`, ...e });
  }
  return out;
}
