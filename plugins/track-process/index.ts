// keepalived's vrrp_track_process: the number of running processes that match a name (and
// parameters) decides a tracked instance's priority or FAULT, like a vrrp_script that never has
// to be run. /proc is scanned every scan_interval_ms; a change of quorum counts only after
// fork_delay (gained) or terminate_delay (lost) if it still holds then, so a reload that
// restarts the process does not bounce the instance.

import { definePlugin, monoMs } from 'vigil/plugin';
import { report } from '../_shared/tracked.ts';
import { effect, type Status } from '../_shared/track-effect.ts';
import { configSchema } from './config.ts';
import { matches, quorumMet, readProcesses, usesCommandLine } from './match.ts';

interface Check {
  name: string;
  spec: {
    process: string;
    params?: string[] | undefined;
    param_match?: 'exact' | 'initial' | 'partial' | undefined;
    full_command: boolean;
  };
  quorum: number;
  quorumMax: number | undefined;
  forkDelayMs: number;
  terminateDelayMs: number;
  /** What the instances have been told; 'init' until the first scan. */
  status: Status;
  /** A change seen but not yet counted: the status it would become and since when. */
  pending: { status: Status; since: number } | undefined;
  count: number;
  tracks: Array<{ instance: string; weight: number; reverse: boolean; fault: boolean; adjust: number }>;
}

export default definePlugin({
  apiVersion: 1,
  name: 'track-process',
  configSchema,
  setup(ctx) {
    const { checks: defs, tracks, scan_interval_ms: intervalMs } = ctx.config;
    const checks = new Map<string, Check>();
    for (const t of tracks) {
      const d = defs[t.check];
      if (!d) {
        ctx.log.error(`${t.instance}: track_process ${t.check} is not defined - ignoring`);
        continue;
      }
      let c = checks.get(t.check);
      if (!c) {
        c = {
          name: t.check,
          spec: { process: d.process, params: d.params, param_match: d.param_match, full_command: d.full_command },
          quorum: d.quorum,
          quorumMax: d.quorum_max,
          forkDelayMs: d.fork_delay_ms,
          terminateDelayMs: d.terminate_delay_ms,
          status: 'init',
          pending: undefined,
          count: 0,
          tracks: [],
        };
        checks.set(t.check, c);
      }
      c.tracks.push({ instance: t.instance, weight: t.weight, reverse: t.reverse, fault: false, adjust: 0 });
    }
    const withArgv = [...checks.values()].some((c) => usesCommandLine(c.spec));
    const source = (c: Check) => `track_process:${c.name}`;

    const apply = (c: Check) => {
      for (const t of c.tracks) report(ctx, t, source(c), effect(c.status, t));
    };

    const scan = () => {
      let procs;
      try {
        procs = readProcesses(withArgv);
      } catch (e) {
        ctx.log.error(`reading /proc: ${(e as Error).message}`);
        return;
      }
      const now = monoMs();
      for (const c of checks.values()) {
        c.count = procs.filter((p) => p.pid !== process.pid && matches(c.spec, p)).length;
        const seen: Status = quorumMet(c.count, c.quorum, c.quorumMax) ? 'ok' : 'fail';
        if (seen === c.status) {
          c.pending = undefined; // it bounced back before its delay ran out
          continue;
        }
        // the first scan decides at once, like keepalived's initial process scan
        const delay = c.status === 'init' ? 0 : seen === 'ok' ? c.forkDelayMs : c.terminateDelayMs;
        if (c.pending?.status !== seen) c.pending = { status: seen, since: now };
        if (now - c.pending.since < delay) continue;
        const was = c.status;
        c.status = seen;
        c.pending = undefined;
        const level = seen === 'ok' || was === 'init' ? 'info' : 'warn';
        ctx.log[level](`track_process ${c.name}: ${c.count} process(es) named ${c.spec.process}, quorum ${seen === 'ok' ? 'met' : 'lost'}`);
        apply(c);
      }
    };

    scan();
    const timer = setInterval(scan, intervalMs);
    ctx.onStop(() => clearInterval(timer));
  },
});
