// track-interface's section: which instance tracks which interface, with which weight, by
// keepalived's rules, so the plugin only follows links: the instance's own interface is tracked
// unweighted unless dont_track_primary, sync group track_interface reaches every member, and sync
// group members and address owners cannot float their priority.

import type { Path } from '../diagnostics.ts';
import type { Config } from '../schema.ts';

export interface InterfaceTrack {
  instance: string;
  interface: string;
  weight: number;
  reverse: boolean;
}

export interface TrackInterfaceSection {
  tracks: InterfaceTrack[];
}

export function deriveTrackInterface(config: Config): TrackInterfaceSection | undefined {
  const groupOf = new Map<string, string>();
  for (const [g, sg] of Object.entries(config.vrrp_sync_group)) for (const m of sg.group) groupOf.set(m, g);
  const byKey = new Map<string, InterfaceTrack>();
  /** keepalived's add_vrrp_to_interface: a second entry for the same instance and interface
   * replaces the first, unless the first is unweighted (a FAULT tracker stays one). */
  const add = (t: InterfaceTrack) => {
    const key = `${t.instance}\0${t.interface}`;
    const existing = byKey.get(key);
    if (existing && existing.weight === 0) return;
    byKey.set(key, t);
  };

  for (const [instance, inst] of Object.entries(config.vrrp_instance)) {
    const noWeights = groupOf.has(instance) || inst.priority === 255;
    for (const t of inst.track_interface) {
      // keepalived: "Ignoring track_interface X since own interface" (its own interface is
      // tracked by dont_track_primary's rule alone)
      if (t.name === inst.interface) continue;
      let weight = t.weight ?? 0;
      if (noWeights && weight !== 0) {
        // keepalived: a sync group member's weight is cleared (FAULT tracking); an address
        // owner's weighted interface is not tracked at all
        if (inst.priority === 255) continue;
        weight = 0;
      }
      add({ instance, interface: t.name, weight, reverse: t.reverse ?? false });
    }
    if (!inst.dont_track_primary) add({ instance, interface: inst.interface, weight: 0, reverse: false });
  }

  for (const sg of Object.values(config.vrrp_sync_group)) {
    const hasOwner = sg.group.some((m) => config.vrrp_instance[m]?.priority === 255);
    for (const t of sg.track_interface) {
      const weight = hasOwner ? 0 : (t.weight ?? 0);
      for (const instance of sg.group) if (config.vrrp_instance[instance]) add({ instance, interface: t.name, weight, reverse: t.reverse ?? false });
    }
  }

  return byKey.size > 0 ? { tracks: [...byKey.values()] } : undefined;
}

export function trackInterfaceSource(path: Path, section: TrackInterfaceSection): Path {
  const t = path[0] === 'tracks' && typeof path[1] === 'number' ? section.tracks[path[1]] : undefined;
  return t ? ['vrrp_instance', t.instance] : ['vrrp_instance'];
}
