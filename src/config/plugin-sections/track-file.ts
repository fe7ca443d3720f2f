// track-file's section: the files (keepalived's track_file / vrrp_track_file blocks) and, per
// VRRP instance, which files it tracks with which weight, resolved here by keepalived's weight
// rules so the plugin only reads files and does arithmetic.

import type { Path } from '../diagnostics.ts';
import type { Config } from '../schema.ts';

export interface TrackedFile {
  path: string;
  init?: { value: number };
}

export interface FileTrack {
  instance: string;
  file: string;
  weight: number;
  reverse: boolean;
}

export interface TrackFileSection {
  files: Record<string, TrackedFile>;
  tracks: FileTrack[];
}

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

export function deriveTrackFile(config: Config): TrackFileSection | undefined {
  const files = config.vrrp_track_file;
  const groupOf = new Map<string, string>();
  for (const [g, sg] of Object.entries(config.vrrp_sync_group)) for (const m of sg.group) groupOf.set(m, g);
  const byKey = new Map<string, FileTrack>();

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
  const out: Record<string, TrackedFile> = {};
  for (const [name, f] of Object.entries(files)) {
    if (!used.has(name) && f.init_file === undefined) continue;
    out[name] = { path: f.file, ...(f.init_file !== undefined ? { init: { value: f.init_file === true ? 0 : f.init_file } } : {}) };
  }
  if (tracks.length === 0 && Object.keys(out).length === 0) return undefined;
  return { files: out, tracks };
}

export function trackFileSource(path: Path, section: TrackFileSection): Path {
  const [top, key, field] = path;
  if (top === 'files' && key !== undefined) return ['vrrp_track_file', key, ...(field === 'path' ? ['file'] : field === 'init' ? ['init_file'] : [])];
  if (top === 'tracks' && typeof key === 'number') {
    const t = section.tracks[key];
    if (t) return ['vrrp_instance', t.instance, 'track_file'];
  }
  return ['vrrp_track_file'];
}
