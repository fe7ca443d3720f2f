// track-script's config: every vrrp_script some instance tracks, with the instances that track it
// and the weight each uses. The config loader makes the section by keepalived 2.2's rules
// (src/config/plugin-sections/track-script.ts), so the worker only runs and counts; what those
// rules ignored is in `notes`, which the plugin logs at start. The user's own
// `plugins.track-script` section may set `refused`.

import { z } from 'zod';
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

export const configSchema = z
  .object({
    /** global_defs script_user: `user [group]`. */
    script_user: z.string().min(1).optional(),
    enable_script_security: z.boolean().default(false),
    /** A script that script security refuses (or that is missing): keepalived stops tracking it
     * (`untrack`, the default); `fail` holds it failed instead, which faults weight-0 trackers. */
    refused: z.enum(['untrack', 'fail']).default('untrack'),
    scripts: z.record(z.string().min(1), scriptSchema),
    /** What the config loader ignored, as keepalived would have said it; logged at start. */
    notes: z.array(z.string()).default([]),
  })
  .strict();

export type TrackScriptConfig = z.infer<typeof configSchema>;
export type TrackedScript = z.infer<typeof scriptSchema>;
/** What the plugin reports first for every script, known from the config alone (keepalived
 * applies it before the instances start): an init_fail script starts failed, so its weight or
 * FAULT holds from the first moment; a script without it is `init` and changes nothing until its
 * first run. The daemon presets these in the engine before starting the instances, and the
 * plugin confirms them when it is up (src/daemon/tracker-presets.ts). */
export function initialReports(section: unknown): Array<{ instance: string; source: string; fault: boolean; adjust: number }> {
  const cfg = configSchema.parse(section);
  const out: Array<{ instance: string; source: string; fault: boolean; adjust: number }> = [];
  for (const [name, sc] of Object.entries(cfg.scripts)) {
    const { status } = initialState(sc.rise, sc.init_fail);
    if (status === 'init') continue;
    for (const t of sc.tracked_by) out.push({ instance: t.instance, source: name, ...effect(status, t) });
  }
  return out;
}
