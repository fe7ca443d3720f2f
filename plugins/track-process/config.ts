// track-process's config: the process checks (keepalived's vrrp_track_process blocks) and, per
// VRRP instance, which it tracks with which weight. The config loader makes the section from
// those keywords, weights resolved by keepalived's rules
// (src/config/plugin-sections/track-process.ts), so the worker only counts processes.

import { z } from 'zod';

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

export const configSchema = z.object({
  checks: z.record(z.string().min(1), checkSchema).default({}),
  tracks: z.array(trackSchema).default([]),
  /** How often /proc is scanned. keepalived listens to the kernel's process events instead;
   * a scan of a few hundred processes every half second costs well under 1% of a core. */
  scan_interval_ms: z.number().int().min(50).default(500),
});

export type TrackProcessConfig = z.infer<typeof configSchema>;

