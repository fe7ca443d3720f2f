// track-process's section: the process checks (keepalived's vrrp_track_process blocks) some
// instance tracks and, per VRRP instance, which it tracks with which weight, resolved here by
// keepalived's rules so the plugin only counts processes.

import type { Path } from '../diagnostics.ts';
import type { Config } from '../schema.ts';

export interface ProcessCheck {
  process: string;
  params?: string[];
  param_match?: 'exact' | 'initial' | 'partial';
  full_command: boolean;
  quorum: number;
  quorum_max?: number;
  fork_delay_ms: number;
  terminate_delay_ms: number;
}

export interface ProcessTrack {
  instance: string;
  check: string;
  weight: number;
  reverse: boolean;
}

export interface TrackProcessSection {
  checks: Record<string, ProcessCheck>;
  tracks: ProcessTrack[];
}

export function deriveTrackProcess(config: Config): TrackProcessSection | undefined {
  const defs = config.vrrp_track_process;
  const groupOf = new Set(Object.values(config.vrrp_sync_group).flatMap((g) => g.group));
  const tracks: ProcessTrack[] = [];
  const seen = new Set<string>();
  for (const [instance, inst] of Object.entries(config.vrrp_instance)) {
    // as for track_file: a sync group member or an address owner cannot float its priority, so
    // the default weight 1 becomes 0 (FAULT) and any other non-zero weight is dropped
    const noWeights = groupOf.has(instance) || inst.priority === 255;
    for (const t of inst.track_process) {
      const def = defs[t.name];
      const key = `${instance}\0${t.name}`;
      if (!def || seen.has(key)) continue; // the config check reports an unknown name
      seen.add(key);
      let w = t.weight ?? def.weight;
      const reverse = t.weight !== undefined ? (t.reverse ?? false) : def.weight_reverse;
      if (noWeights && w !== 0) {
        if (w !== 1) continue;
        w = 0;
      }
      tracks.push({ instance, check: t.name, weight: w, reverse });
    }
  }
  if (tracks.length === 0) return undefined;
  const used = new Set(tracks.map((t) => t.check));
  const checks: Record<string, ProcessCheck> = {};
  for (const name of used) {
    const d = defs[name];
    if (!d) continue;
    checks[name] = {
      process: d.process,
      ...(d.params ? { params: d.params } : {}),
      ...(d.param_match ? { param_match: d.param_match } : {}),
      full_command: d.full_command,
      quorum: d.quorum,
      ...(d.quorum_max !== undefined ? { quorum_max: d.quorum_max } : {}),
      fork_delay_ms: d.fork_delay * 1000,
      terminate_delay_ms: d.terminate_delay * 1000,
    };
  }
  return { checks, tracks };
}

const CHECK_FIELD: Record<string, string> = { fork_delay_ms: 'fork_delay', terminate_delay_ms: 'terminate_delay' };

export function trackProcessSource(path: Path, section: TrackProcessSection): Path {
  const [top, key, field] = path;
  if (top === 'checks' && key !== undefined) return ['vrrp_track_process', key, ...(field !== undefined ? [CHECK_FIELD[String(field)] ?? field] : [])];
  if (top === 'tracks' && typeof key === 'number') {
    const t = section.tracks[key];
    if (t) return ['vrrp_instance', t.instance, 'track_process'];
  }
  return ['vrrp_instance'];
}
