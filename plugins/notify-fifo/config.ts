// notify-fifo's config: the FIFOs to write state lines to, as keepalived's global_defs say:
// notify_fifo gets every line (VRRP and load balancer), vrrp_notify_fifo the VRRP lines,
// lvs_notify_fifo the load balancer's (`VS ...`, `RS ...`); each with an optional long-running
// reader script started with the FIFO's path as its last argument. The section is made from those
// keywords by the config loader (src/config/plugin-sections/notify-fifo.ts).

import { z } from 'zod';

export const fifoSchema = z.object({
  path: z.string().min(1),
  /** argv of notify_fifo_script / vrrp_notify_fifo_script; the FIFO path is appended. */
  script: z.array(z.string().min(1)).min(1).optional(),
  /** Run the script as this user (global_defs script_user), and group. */
  user: z.string().optional(),
  group: z.string().optional(),
  /** Which lines it gets: `vrrp` (INSTANCE / GROUP), `lvs` (VS / RS). Absent: all of them
   * (keepalived's global notify_fifo). */
  lines: z.array(z.enum(['vrrp', 'lvs'])).min(1).optional(),
});

export const configSchema = z.object({
  fifos: z.array(fifoSchema).default([]),
  /** Instances whose priority changes are written too (keepalived's notify_priority_changes):
   * `INSTANCE "VI_1" MASTER_PRIORITY 90` or `BACKUP_PRIORITY`. */
  priority_changes: z.array(z.string().min(1)).default([]),
  /** Lines kept in memory while the FIFO is full (no reader draining it); beyond this the
   * oldest are dropped, with a warning. */
  queue_limit: z.number().int().positive().default(10_000),
});

export type NotifyFifoConfig = z.infer<typeof configSchema>;

