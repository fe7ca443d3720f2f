// notify-fifo's config: the FIFOs to write VRRP state lines to (keepalived's notify_fifo and
// vrrp_notify_fifo, which get the same VRRP lines), each with an optional long-running reader
// script started with the FIFO's path as its last argument.

import { z } from 'zod';
import type { Config } from '../../src/config/schema.ts';

export const fifoSchema = z.object({
  path: z.string().min(1),
  /** argv of notify_fifo_script / vrrp_notify_fifo_script; the FIFO path is appended. */
  script: z.array(z.string().min(1)).min(1).optional(),
  /** Run the script as this user (global_defs script_user), and group. */
  user: z.string().optional(),
  group: z.string().optional(),
});

export const schema = z.object({
  fifos: z.array(fifoSchema).default([]),
  /** Instances whose priority changes are written too (keepalived's notify_priority_changes):
   * `INSTANCE "VI_1" MASTER_PRIORITY 90` or `BACKUP_PRIORITY`. */
  priority_changes: z.array(z.string().min(1)).default([]),
  /** Lines kept in memory while the FIFO is full (no reader draining it); beyond this the
   * oldest are dropped, with a warning. */
  queue_limit: z.number().int().positive().default(10_000),
});

export type NotifyFifoConfig = z.infer<typeof schema>;

/** Splits a keepalived script line into argv: blanks separate words, "double" and 'single'
 * quotes group them (keepalived's own parser reads quoted strings as one word). */
export function splitCommand(line: string): string[] {
  const out: string[] = [];
  let cur = '';
  let inWord = false;
  let quote: string | undefined;
  for (const c of line) {
    if (quote) {
      if (c === quote) quote = undefined;
      else cur += c;
    } else if (c === '"' || c === "'") {
      quote = c;
      inWord = true;
    } else if (/\s/.test(c)) {
      if (inWord) out.push(cur);
      cur = '';
      inWord = false;
    } else {
      cur += c;
      inWord = true;
    }
  }
  if (inWord) out.push(cur);
  return out;
}

export function fromVigilConfig(config: Config): z.input<typeof schema> | undefined {
  const g = config.global_defs;
  // script_user is "USER [GROUP]" in keepalived
  const [user, group] = g.script_user ? splitCommand(g.script_user) : [];
  const fifos: Array<z.input<typeof fifoSchema>> = [];
  const pairs: Array<[string | undefined, string | undefined]> = [
    [g.notify_fifo, g.notify_fifo_script],
    [g.vrrp_notify_fifo, g.vrrp_notify_fifo_script],
  ];
  for (const [path, script] of pairs) {
    if (!path) continue;
    // keepalived requires the FIFO names to differ; one FIFO gets each line once
    if (fifos.some((f) => f.path === path)) continue;
    const argv = script ? splitCommand(script) : [];
    fifos.push({ path, ...(argv.length > 0 ? { script: argv } : {}), ...(argv.length > 0 && user ? { user } : {}), ...(argv.length > 0 && group ? { group } : {}) });
  }
  return fifos.length > 0 ? { fifos } : undefined;
}
