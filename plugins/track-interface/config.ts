// track-interface's config: which instance tracks which interface, with which weight. The config
// loader makes the section by keepalived's rules (src/config/plugin-sections/track-interface.ts)
// so the worker only follows links: the instance's own interface is tracked unweighted unless
// dont_track_primary, sync group track_interface reaches every member, and sync group members
// and address owners cannot float their priority.

import { z } from 'zod';

export const trackSchema = z.object({
  instance: z.string().min(1),
  interface: z.string().min(1).max(15),
  /** 0: the link down (up, with `reverse`) puts the instance in FAULT. Positive: added while
   * the link is up; negative: added while it is down; `reverse` negates the adjustment. */
  weight: z.number().int().min(-254).max(254).default(0),
  reverse: z.boolean().default(false),
});

export const configSchema = z.object({
  tracks: z.array(trackSchema).default([]),
});

export type TrackInterfaceConfig = z.infer<typeof configSchema>;
/** What one link state means for one tracking entry (keepalived's weights and reverse; the
 * plugin applies the same rule to every link change). */
export function linkEffect(up: boolean, weight: number, reverse: boolean): { fault: boolean; adjust: number } {
  const m = reverse ? -1 : 1;
  if (weight === 0) return { fault: up === reverse, adjust: 0 };
  if (weight > 0) return { fault: false, adjust: up ? weight * m : 0 };
  return { fault: false, adjust: up ? 0 : weight * m };
}

/** The daemon gives initialReports the links' states (up: IFF_UP and IFF_RUNNING, as the
 * plugin counts it; a missing link is down). */
export const initialReportsNeed = ['links'] as const;

/** What the plugin reports first for each tracking entry, from the links as they are now: a
 * tracked interface that is down holds its FAULT (or weight) from the first moment, as in
 * keepalived, which reads the links before its instances start. The daemon presets these in the
 * engine before starting the instances, and the plugin confirms them when it is up
 * (src/daemon/tracker-presets.ts). */
export function initialReports(section: unknown, env: { links: ReadonlyMap<string, boolean> }): Array<{ instance: string; source: string; fault: boolean; adjust: number }> {
  const out: Array<{ instance: string; source: string; fault: boolean; adjust: number }> = [];
  for (const t of configSchema.parse(section).tracks) {
    const e = linkEffect(env.links.get(t.interface) === true, t.weight, t.reverse);
    if (e.fault || e.adjust !== 0) out.push({ instance: t.instance, source: `track_interface:${t.interface}`, ...e });
  }
  return out;
}
