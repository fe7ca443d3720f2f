// notify-fifo's config: the FIFOs to write state lines to, as keepalived's global_defs say:
// notify_fifo gets every line (VRRP and load balancer), vrrp_notify_fifo the VRRP lines,
// lvs_notify_fifo the load balancer's (`VS ...`, `RS ...`); each with an optional long-running
// reader script started with the FIFO's path as its last argument.

import { z } from 'zod';
import type { Config } from '../../src/config/schema.ts';

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
  type Lines = Array<'vrrp' | 'lvs'>;
  const all: Lines = ['vrrp', 'lvs'];
  const triples: Array<[string | undefined, string | undefined, Lines]> = [
    [g.notify_fifo, g.notify_fifo_script, all],
    [g.vrrp_notify_fifo, g.vrrp_notify_fifo_script, ['vrrp']],
    [g.lvs_notify_fifo, g.lvs_notify_fifo_script, ['lvs']],
  ];
  const kinds = new Map<string, Set<'vrrp' | 'lvs'>>();
  for (const [path, script, lines] of triples) {
    if (!path) continue;
    // keepalived wants the FIFO names to differ; one path named twice gets each of its lines
    // once (the union of what both names get), with the first reader script
    const seen = kinds.get(path);
    if (seen) {
      for (const l of lines) seen.add(l);
      continue;
    }
    kinds.set(path, new Set(lines));
    const argv = script ? splitCommand(script) : [];
    fifos.push({ path, ...(argv.length > 0 ? { script: argv } : {}), ...(argv.length > 0 && user ? { user } : {}), ...(argv.length > 0 && group ? { group } : {}) });
  }
  for (const f of fifos) {
    const lines = all.filter((l) => kinds.get(f.path)?.has(l));
    if (lines.length < all.length) f.lines = lines;
  }
  return fifos.length > 0 ? { fifos } : undefined;
}
