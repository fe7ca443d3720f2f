// track-process's config: the process checks (keepalived's vrrp_track_process blocks) and, per
// VRRP instance, which it tracks with which weight. Weights are resolved here, in the engine,
// by keepalived's rules, so the worker only counts processes.

import { z } from 'zod';
import type { Config } from '../../src/config/schema.ts';

const weight = z.number().int().min(-254).max(254);

export const checkSchema = z.object({
  process: z.string().min(1),
  params: z.array(z.string()).optional(),
  param_match: z.enum(['exact', 'initial', 'partial']).optional(),
  full_command: z.boolean().default(false),
  quorum: z.number().int().min(0).default(1),
  quorum_max: z.number().int().min(0).optional(),
  /** Milliseconds a gained quorum must hold / a lost one must stay lost before it counts. */
  fork_delay_ms: z.number().nonnegative().default(0),
  terminate_delay_ms: z.number().nonnegative().default(0),
});

export const trackSchema = z.object({
  instance: z.string().min(1),
  /** A key of `checks`. */
  check: z.string().min(1),
  /** 0: the instance is in FAULT while the quorum is not met (met, with `reverse`); otherwise a
   * positive weight is added while it is met, a negative one while it is not. */
  weight: weight.default(1),
  reverse: z.boolean().default(false),
});

export const schema = z.object({
  checks: z.record(z.string().min(1), checkSchema).default({}),
  tracks: z.array(trackSchema).default([]),
  /** How often /proc is scanned. keepalived listens to the kernel's process events instead;
   * a scan of a few hundred processes every half second costs well under 1% of a core. */
  scan_interval_ms: z.number().int().min(50).default(500),
});

export type TrackProcessConfig = z.infer<typeof schema>;

export function fromVigilConfig(config: Config): z.input<typeof schema> | undefined {
  const defs = config.vrrp_track_process;
  const groupOf = new Set(Object.values(config.vrrp_sync_group).flatMap((g) => g.group));
  const tracks: Array<z.input<typeof trackSchema>> = [];
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
  const checks: Record<string, z.input<typeof checkSchema>> = {};
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
