// What a reload changes for each instance (DESIGN.md rule 4): nothing, something a running
// router can take in place, or what it is on the wire (then it is re-created).

import type { Config, VrrpInstanceConfig } from '../config/schema.ts';
import { instanceFamily } from '../config/semantic.ts';
import { PRIORITY_OWNER } from '../vrrp/types.ts';

export interface ReloadDiff {
  unchanged: string[];
  updated: string[];
  recreated: string[];
  added: string[];
  removed: string[];
}

export type ChangeKind = 'unchanged' | 'in-place' | 'recreate';

/** Fields a running instance can take in place; anything else changes what the instance is on
 * the wire, and it is re-created. Trackers and notify scripts belong to the plugins, which the
 * reload reconciles on their own. */
const IN_PLACE_FIELDS: ReadonlySet<keyof VrrpInstanceConfig> = new Set<keyof VrrpInstanceConfig>([
  'state',
  'priority',
  'nopreempt',
  'preempt_delay',
  'virtual_ipaddress',
  'virtual_ipaddress_excluded',
  'virtual_routes',
  'virtual_rules',
  'track_interface',
  'track_script',
  'track_file',
  'track_process',
  'dont_track_primary',
  'garp_master_delay',
  'garp_master_repeat',
  'garp_master_refresh',
  'garp_master_refresh_repeat',
  'garp_lower_prio_delay',
  'garp_lower_prio_repeat',
  'notify',
  'notify_master_rx_lower_pri',
  'notify_master',
  'notify_backup',
  'notify_fault',
  'notify_stop',
  'smtp_alert',
  'accept',
]);

/** Global settings that change what instances put on the wire. */
const WIRE_GLOBALS = ['vrrp_mcast_group4', 'vrrp_mcast_group6', 'vrrp_version', 'vrrp_strict'] as const;
/** Global settings a running instance takes in place (its announcement schedule). */
const GARP_GLOBALS = ['vrrp_garp_master_delay', 'vrrp_garp_master_repeat', 'vrrp_garp_master_refresh'] as const;

const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

export function classifyChange(oldCfg: Config, before: VrrpInstanceConfig, newCfg: Config, after: VrrpInstanceConfig): ChangeKind {
  if (WIRE_GLOBALS.some((k) => !same(oldCfg.global_defs[k], newCfg.global_defs[k]))) return 'recreate';
  // the address owner is another kind of router (never adjusted, starts as Master)
  if ((before.priority === PRIORITY_OWNER) !== (after.priority === PRIORITY_OWNER)) return 'recreate';
  if (instanceFamily(before) !== instanceFamily(after)) return 'recreate';
  const keys = new Set([...Object.keys(before), ...Object.keys(after)] as Array<keyof VrrpInstanceConfig>);
  let changed = false;
  for (const k of keys) {
    if (same(before[k], after[k])) continue;
    if (!IN_PLACE_FIELDS.has(k)) return 'recreate';
    changed = true;
  }
  if (GARP_GLOBALS.some((k) => !same(oldCfg.global_defs[k], newCfg.global_defs[k]))) changed = true;
  return changed ? 'in-place' : 'unchanged';
}

/** The entries of `before` that `after` no longer has (addresses, routes, rules of an instance
 * changed in place: these are removed, the rest added idempotently). */
export function dropped<T>(before: readonly T[], after: readonly T[]): T[] {
  const keep = new Set(after.map((x) => JSON.stringify(x)));
  return before.filter((x) => !keep.has(JSON.stringify(x)));
}
