// track-script's config: every vrrp_script some instance tracks, with the instances that track it
// and the weight each uses, resolved here by keepalived 2.2's rules (vrrp.c, vrrp_track.c) so the
// worker only runs and counts. Loaded in the engine's main thread: zod and types only.
//
// keepalived's rules, applied in fromVigilConfig:
// - a track_script entry's weight (and reverse/noreverse) overrides the vrrp_script's own;
// - weights are limited to -253..253 (keepalived turns +-254 into +-253);
// - a member of a sync group ignores its own weighted track_script entries (the group's members
//   must keep equal priorities), and an address owner (priority 255) ignores weighted ones too;
// - a sync group's track_script applies to every member; a weighted one becomes unweighted
//   (weight 0: FAULT on failure) when a member is an address owner; where an instance already
//   tracks the script, the group's weight replaces the instance's unless that is 0;
// - a script named twice in one list counts once; a script nobody tracks is not run.
// What was ignored is kept in `notes`, which the plugin logs at start.

import { z } from 'zod';
import type { Config } from '../../src/config/schema.ts';
import { effect, initialState } from './state.ts';

const weight = z.number().int().min(-253).max(253);

export const trackerSchema = z.object({ instance: z.string().min(1), weight, reverse: z.boolean() }).strict();

export const scriptSchema = z
  .object({
    /** The command line, split like keepalived (no shell). */
    line: z.string().min(1),
    /** Seconds between runs (each run starts `interval` after the previous one started). */
    interval: z.number().positive().default(1),
    /** Seconds a run may take; keepalived's default is the interval. Timeouts are failures. */
    timeout: z.number().positive().optional(),
    rise: z.number().int().min(1).default(1),
    fall: z.number().int().min(1).default(1),
    user: z.string().min(1).optional(),
    group: z.string().min(1).optional(),
    init_fail: z.boolean().default(false),
    tracked_by: z.array(trackerSchema).min(1),
  })
  .strict();

export const schema = z
  .object({
    /** global_defs script_user: `user [group]`. */
    script_user: z.string().min(1).optional(),
    enable_script_security: z.boolean().default(false),
    /** A script that script security refuses (or that is missing): keepalived stops tracking it
     * (`untrack`, the default); `fail` holds it failed instead, which faults weight-0 trackers. */
    refused: z.enum(['untrack', 'fail']).default('untrack'),
    scripts: z.record(z.string().min(1), scriptSchema),
    /** What fromVigilConfig ignored, as keepalived would have said it; logged at start. */
    notes: z.array(z.string()).default([]),
  })
  .strict();

export type TrackScriptConfig = z.infer<typeof schema>;
export type TrackedScript = z.infer<typeof scriptSchema>;
type Tracker = z.infer<typeof trackerSchema>;
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
function resolve(e: Entry, sc: VrrpScript, owner: string, notes: string[]): Omit<Tracker, 'instance'> {
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

export function fromVigilConfig(config: Config): z.input<typeof schema> | undefined {
  const notes: string[] = [];
  const tracking = new Map<string, Tracker[]>();
  const add = (script: string, t: Tracker): void => {
    const list = tracking.get(script) ?? [];
    const i = list.findIndex((x) => x.instance === t.instance);
    if (i < 0) list.push(t);
    else if ((list[i] as Tracker).weight !== 0) {
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
  const scripts: Record<string, z.input<typeof scriptSchema>> = {};
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
  const section = config.plugins['track-script'];
  const refused = typeof section === 'object' && section !== null ? (section as { refused?: 'untrack' | 'fail' }).refused : undefined;
  const { script_user, enable_script_security } = config.global_defs;
  return {
    ...(script_user !== undefined ? { script_user } : {}),
    enable_script_security,
    ...(refused !== undefined ? { refused } : {}),
    scripts,
    notes,
  };
}

/** What the plugin reports first for every script, known from the config alone (keepalived
 * applies it before the instances start): an init_fail script starts failed, so its weight or
 * FAULT holds from the first moment; a script without it is `init` and changes nothing until its
 * first run. The daemon presets these in the engine before starting the instances, and the
 * plugin confirms them when it is up (src/daemon/tracker-presets.ts). */
export function initialReports(derived: unknown): Array<{ instance: string; source: string; fault: boolean; adjust: number }> {
  const cfg = schema.parse(derived);
  const out: Array<{ instance: string; source: string; fault: boolean; adjust: number }> = [];
  for (const [name, sc] of Object.entries(cfg.scripts)) {
    const { status } = initialState(sc.rise, sc.init_fail);
    if (status === 'init') continue;
    for (const t of sc.tracked_by) out.push({ instance: t.instance, source: name, ...effect(status, t) });
  }
  return out;
}
