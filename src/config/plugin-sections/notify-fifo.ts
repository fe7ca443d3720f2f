// notify-fifo's section: the FIFOs to write state lines to, as keepalived's global_defs say:
// notify_fifo gets every line (VRRP and load balancer), vrrp_notify_fifo the VRRP lines,
// lvs_notify_fifo the load balancer's; each with an optional reader script (its argv, split as
// keepalived splits it) that runs as global_defs script_user.

import type { Path } from '../diagnostics.ts';
import type { Config } from '../schema.ts';

type Lines = Array<'vrrp' | 'lvs'>;

export interface FifoEntry {
  path: string;
  script?: string[];
  user?: string;
  group?: string;
  /** Absent: every line. */
  lines?: Lines;
}

export interface NotifyFifoSection {
  fifos: FifoEntry[];
}

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

const KEYWORDS = [
  ['notify_fifo', 'notify_fifo_script'],
  ['vrrp_notify_fifo', 'vrrp_notify_fifo_script'],
  ['lvs_notify_fifo', 'lvs_notify_fifo_script'],
] as const;

export function deriveNotifyFifo(config: Config): NotifyFifoSection | undefined {
  const g = config.global_defs;
  // script_user is "USER [GROUP]" in keepalived
  const [user, group] = g.script_user ? splitCommand(g.script_user) : [];
  const fifos: FifoEntry[] = [];
  const all: Lines = ['vrrp', 'lvs'];
  const lineKinds: Lines[] = [all, ['vrrp'], ['lvs']];
  const kinds = new Map<string, Set<'vrrp' | 'lvs'>>();
  KEYWORDS.forEach(([fifoKey, scriptKey], i) => {
    const path = g[fifoKey];
    const script = g[scriptKey];
    const lines = lineKinds[i] as Lines;
    if (!path) return;
    // keepalived wants the FIFO names to differ; one path named twice gets each of its lines
    // once (the union of what both names get), with the first reader script
    const seen = kinds.get(path);
    if (seen) {
      for (const l of lines) seen.add(l);
      return;
    }
    kinds.set(path, new Set(lines));
    const argv = script ? splitCommand(script) : [];
    fifos.push({ path, ...(argv.length > 0 ? { script: argv } : {}), ...(argv.length > 0 && user ? { user } : {}), ...(argv.length > 0 && group ? { group } : {}) });
  });
  for (const f of fifos) {
    const lines = all.filter((l) => kinds.get(f.path)?.has(l));
    if (lines.length < all.length) f.lines = lines;
  }
  return fifos.length > 0 ? { fifos } : undefined;
}

export function notifyFifoSource(path: Path, config: Config): Path {
  const i = path[1];
  if (path[0] === 'fifos' && typeof i === 'number') {
    // the i-th FIFO is the i-th of the keywords that name a path of its own
    const seen = new Set<string>();
    let n = -1;
    for (const [fifoKey, scriptKey] of KEYWORDS) {
      const p = config.global_defs[fifoKey];
      if (!p || seen.has(p)) continue;
      seen.add(p);
      if (++n === i) return ['global_defs', path[2] === 'script' || path[2] === 'user' || path[2] === 'group' ? scriptKey : fifoKey];
    }
  }
  return ['global_defs'];
}
