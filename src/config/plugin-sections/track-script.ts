// track-script's section: every vrrp_script some instance tracks, with the instances that track it
// and the weight each uses, resolved here by keepalived 2.2's rules (vrrp.c, vrrp_track.c) so the
// plugin only runs and counts:
// - a track_script entry's weight (and reverse/noreverse) overrides the vrrp_script's own;
// - weights are limited to -253..253 (keepalived turns +-254 into +-253);
// - a member of a sync group ignores its own weighted track_script entries (the group's members
//   must keep equal priorities), and an address owner (priority 255) ignores weighted ones too;
// - a sync group's track_script applies to every member; a weighted one becomes unweighted
//   (weight 0: FAULT on failure) when a member is an address owner; where an instance already
//   tracks the script, the group's weight replaces the instance's unless that is 0;
// - a script named twice in one list counts once; a script nobody tracks is not run.
// What was ignored is kept in `notes`, which the plugin logs at start. The user's own
// `plugins.track-script` may set `refused`.

import type { Path } from '../diagnostics.ts';
import type { Config } from '../schema.ts';
import { tuning } from './tuning.ts';

export interface ScriptTracker {
  instance: string;
  weight: number;
  reverse: boolean;
}

export interface TrackedScript {
  line: string;
  interval: number;
  timeout?: number;
  rise: number;
  fall: number;
  user?: string;
  group?: string;
  init_fail: boolean;
  tracked_by: ScriptTracker[];
}

export interface TrackScriptSection {
  script_user?: string;
  enable_script_security: boolean;
  refused?: 'untrack' | 'fail';
  scripts: Record<string, TrackedScript>;
  notes: string[];
}

/** What the user's own `plugins.track-script` may set. */
export const TUNING = ['refused'] as const;

type Entry = Config['vrrp_instance'][string]['track_script'][number];
type VrrpScript = Config['vrrp_script'][string];

function clampWeight(w: number, what: string, notes: string[]): number {
  if (w > 253 || w < -253) {
    notes.push(`${what}: weight cannot be ${w}, using ${w > 0 ? 253 : -253}`);
    return w > 0 ? 253 : -253;
  }
  return w;
}

/** The weight and reverse an entry ends up with. */
function resolve(e: Entry, sc: VrrpScript, owner: string, notes: string[]): Omit<ScriptTracker, 'instance'> {
  return { weight: clampWeight(e.weight ?? sc.weight, `(${owner}) track script ${e.name}`, notes), reverse: e.reverse ?? sc.weight_reverse };
}

/** Entries of one track_script list that name a vrrp_script, each name once. */
function entries(list: readonly Entry[], owner: string, config: Config, notes: string[]): Array<[Entry, VrrpScript]> {
  const seen = new Set<string>();
  const out: Array<[Entry, VrrpScript]> = [];
  for (const e of list) {
    const sc = config.vrrp_script[e.name];
    if (!sc) notes.push(`(${owner}) track script ${e.name} not found, ignoring`);
    else if (seen.has(e.name)) notes.push(`(${owner}) duplicate track_script ${e.name} - ignoring`);
    else out.push([e, sc]);
    seen.add(e.name);
  }
  return out;
}

export function deriveTrackScript(config: Config, written: unknown): TrackScriptSection | undefined {
  const notes: string[] = [];
  const tracking = new Map<string, ScriptTracker[]>();
  const add = (script: string, t: ScriptTracker): void => {
    const list = tracking.get(script) ?? [];
    const i = list.findIndex((x) => x.instance === t.instance);
    if (i < 0) list.push(t);
    else if ((list[i] as ScriptTracker).weight !== 0) {
      notes.push(`(${t.instance}) track_script ${script} is configured on VRRP instance and sync group. Remove vrrp instance config`);
      list[i] = t;
    } else notes.push(`(${t.instance}) track_script ${script} is configured on VRRP instance and sync group; the instance's weight 0 stays`);
    tracking.set(script, list);
  };

  const syncOf = new Map<string, string>();
  for (const [g, sg] of Object.entries(config.vrrp_sync_group)) for (const m of sg.group) syncOf.set(m, g);

  for (const [name, inst] of Object.entries(config.vrrp_instance)) {
    for (const [e, sc] of entries(inst.track_script, name, config, notes)) {
      const r = resolve(e, sc, name, notes);
      if (r.weight !== 0 && (syncOf.has(name) || inst.priority === 255)) {
        notes.push(`(${name}) ignoring tracked script ${e.name} with weights due to ${syncOf.has(name) ? 'SYNC group' : 'address owner'}`);
        continue;
      }
      add(e.name, { instance: name, ...r });
    }
  }

  for (const [gname, sg] of Object.entries(config.vrrp_sync_group)) {
    const members = sg.group.filter((m) => config.vrrp_instance[m] !== undefined);
    const hasOwner = members.some((m) => config.vrrp_instance[m]?.priority === 255);
    for (const [e, sc] of entries(sg.track_script, gname, config, notes)) {
      const r = resolve(e, sc, gname, notes);
      if (hasOwner && r.weight !== 0) {
        notes.push(`(${gname}) Cannot have weighted track script '${e.name}' with member having priority 255 - clearing weight`);
        r.weight = 0;
      }
      for (const m of members) add(e.name, { instance: m, ...r });
    }
  }

  if (tracking.size === 0) return undefined;
  const scripts: Record<string, TrackedScript> = {};
  for (const [name, trackers] of tracking) {
    const sc = config.vrrp_script[name] as VrrpScript;
    scripts[name] = {
      line: sc.script,
      interval: sc.interval > 0 ? sc.interval : 1,
      // keepalived turns an interval or timeout of 0 into 1
      ...(sc.timeout !== undefined ? { timeout: sc.timeout > 0 ? sc.timeout : 1 } : {}),
      rise: sc.rise,
      fall: sc.fall,
      ...(sc.user !== undefined ? { user: sc.user } : {}),
      ...(sc.group !== undefined ? { group: sc.group } : {}),
      init_fail: sc.init_fail,
      tracked_by: trackers,
    };
  }
  const { refused } = tuning(written, TUNING);
  const { script_user, enable_script_security } = config.global_defs;
  return {
    ...(script_user !== undefined ? { script_user } : {}),
    enable_script_security,
    ...(refused !== undefined ? { refused: refused as 'untrack' | 'fail' } : {}),
    scripts,
    notes,
  };
}

export function trackScriptSource(path: Path): Path {
  const [top, name] = path;
  if (top === 'scripts' && name !== undefined) return ['vrrp_script', name];
  if (top === 'script_user' || top === 'enable_script_security') return ['global_defs', top];
  if (top === 'refused') return ['plugins', 'track-script', ...path];
  return ['vrrp_script'];
}
