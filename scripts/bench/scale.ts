// Scale, advert timing and reload in the namespace lab, vigil and keepalived side by side.
//
// Lab: namespaces m (the Master, priority 200) and b (the Backup, priority 100) joined by
// ceil(N / 200) veth pairs eth0..ethK (VRIDs are 1..255 per interface; 200 per link here),
// m at 203.0.113.201+k, b at 203.0.113.221+k; instance i has VRID i % 200 + 1 on eth(i / 200)
// and one /32 VIP. Both daemons start at the same moment; then:
//   converge  start -> every instance logged in its final state (N MASTER on m, N BACKUP on b)
//   usage     CPU (utime + stime of every process of the daemon, /proc/PID/stat) over a window,
//             per second of wall time, and RSS (VmRSS, summed) at its end, Master and Backup
//   timing    tcpdump on every link in b during that window: |interval - advert_int| between
//             consecutive adverts of each VRID, p50 / p99 / max
//   reload    (optional) one instance's priority changed on the Master, SIGHUP: time to the
//             daemon's "reload done" log line, and every transition logged by either daemon in
//             the 3 s after (there must be none)
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  advertDeviations, countIn, dropLab, measureUsage, newLab, readAdverts, sleep, startCapture, startDaemon, stopCapture, stopDaemon, summarize,
  type Impl, type Summary, type Usage,
} from './lab.ts';

const PER_LINK = 200;
const VIP_NETS = ['192.0.2', '198.51.100', '203.0.113'];

const SPINNER = `
import { definePlugin } from 'vigil/plugin';
import { z } from 'zod';
export default definePlugin({
  name: 'spinner',
  configSchema: z.object({}),
  setup(ctx) {
    ctx.log.info('about to spin');
    setTimeout(() => { for (;;) {} }, 50);
  },
});
`;

export interface ScaleSpec {
  impl: Impl;
  n: number;
  version: 2 | 3;
  advertInt: number;
  windowMs: number;
  spin?: boolean;
  reload?: boolean;
}

export interface ScaleResult {
  spec: ScaleSpec;
  convergeMs: number;
  master: Usage;
  backup: Usage;
  timing: Summary;
  notes: string[];
  reload?: { ms: number; transitions: number; unchanged: number | null; updated: string };
}

function conf(spec: ScaleSpec, priority: number, overrides: Map<number, number>, pluginsDir?: string): string {
  const parts: string[] = [];
  if (pluginsDir) parts.push(`global_defs {\n  plugins_dir ${pluginsDir}\n}\n`);
  for (let i = 0; i < spec.n; i++) {
    const k = Math.floor(i / PER_LINK);
    const vrid = (i % PER_LINK) + 1;
    parts.push(
      `vrrp_instance VI_${i + 1} {\n  state BACKUP\n  interface eth${k}\n  virtual_router_id ${vrid}\n  priority ${overrides.get(i + 1) ?? priority}\n  advert_int ${spec.advertInt}\n  version ${spec.version}\n  virtual_ipaddress {\n    ${VIP_NETS[k % 3]}.${vrid}/32\n  }\n}\n`,
    );
  }
  return parts.join('');
}

/** The "reload finished" line of each daemon. */
const RELOADED: Record<Impl, RegExp> = {
  vigil: /SIGHUP: reloaded; unchanged: ([^;]*); updated: ([^;]*);/,
  keepalived: /Reload finished|VRRP child process\(\d+\) reloaded|Reloading finished/i,
};

export async function runScale(spec: ScaleSpec): Promise<ScaleResult> {
  const lab = newLab();
  const dir = mkdtempSync(join(tmpdir(), 'vigil-bench-scale-'));
  try {
    const m = lab.addNamespace('m');
    const b = lab.addNamespace('b');
    const links = Math.ceil(spec.n / PER_LINK);
    for (let k = 0; k < links; k++) {
      lab.veth(m, `eth${k}`, b, `eth${k}`);
      lab.exec(m, 'ip', ['addr', 'add', `203.0.113.${201 + k}/24`, 'dev', `eth${k}`]);
      lab.exec(b, 'ip', ['addr', 'add', `203.0.113.${221 + k}/24`, 'dev', `eth${k}`]);
    }
    let pluginsDir: string | undefined;
    if (spec.spin) {
      pluginsDir = join(dir, 'plugins');
      mkdirSync(pluginsDir);
      writeFileSync(join(pluginsDir, 'spinner.ts'), SPINNER);
    }
    writeFileSync(join(dir, 'm.conf'), conf(spec, 200, new Map(), pluginsDir));
    writeFileSync(join(dir, 'b.conf'), conf(spec, 100, new Map()));
    // not next to the configs: vigil watches its config's directory, and a capture written there
    // would make it rescan all through the window (~0.2 % of a core at idle)
    const capDir = join(dir, 'captures');
    mkdirSync(capDir, { recursive: true });
    const caps = Array.from({ length: links }, (_, k) => ({ file: join(capDir, `eth${k}.pcap`), proc: startCapture(lab, b, `eth${k}`, join(capDir, `eth${k}.pcap`)) }));
    await sleep(300); // tcpdump listening
    const t0 = Date.now();
    const master = startDaemon(lab, spec.impl, m, join(dir, 'm.conf'), dir, 'm');
    const backup = startDaemon(lab, spec.impl, b, join(dir, 'b.conf'), dir, 'b');
    let converged = NaN;
    try {
      converged = Math.max(
        await master.until(() => countIn(master, 'MASTER') === spec.n, 60_000, `${spec.n} MASTER`),
        await backup.until(() => countIn(backup, 'BACKUP') === spec.n, 60_000, `${spec.n} BACKUP`),
      );
    } catch {
      // reported as not converged, with what each side reached
    }
    const reached = `MASTER ${countIn(master, 'MASTER')}/${spec.n} on m, BACKUP ${countIn(backup, 'BACKUP')}/${spec.n} on b`;
    await sleep(2000);
    const w0 = Date.now() * 1000;
    const [mu, bu] = await measureUsage([master, backup], spec.windowMs);
    const w1 = Date.now() * 1000;
    let reload: ScaleResult['reload'];
    if (spec.reload) {
      const changed = Math.ceil(spec.n / 2);
      writeFileSync(join(dir, 'm.conf'), conf(spec, 200, new Map([[changed, 150]]), pluginsDir));
      const mark = master.log().length;
      const tMark = master.transitions.length;
      const bMark = backup.transitions.length;
      const t = Date.now();
      master.child.kill('SIGHUP');
      let ms = NaN;
      try {
        ms = (await master.until(() => RELOADED[spec.impl].test(master.log().slice(mark)), 30_000, 'reload done')) - t;
      } catch (e) {
        console.error((e as Error).message.slice(0, 300));
      }
      await sleep(3000);
      const line = RELOADED.vigil.exec(master.log().slice(mark));
      reload = {
        ms,
        transitions: master.transitions.length - tMark + backup.transitions.length - bMark,
        unchanged: spec.impl === 'vigil' ? (line?.[1]?.split(', ').filter((s) => s && s !== '-').length ?? 0) : null,
        updated: spec.impl === 'vigil' ? (line?.[2] ?? '') : `VI_${changed}`,
      };
    }
    for (const c of caps) await stopCapture(c.proc);
    await stopDaemon(master);
    await stopDaemon(backup);
    const adverts = caps.flatMap((c) => readAdverts(c.file)).filter((a) => a.ts >= w0 && a.ts <= w1 && a.priority === 200);
    adverts.sort((x, y) => x.ts - y.ts);
    const timing = summarize(advertDeviations(adverts, spec.advertInt * 1000));
    const crashes = (master.log() + backup.log()).match(/died unexpectedly/g)?.length ?? 0;
    const notes = [...(Number.isNaN(converged) ? [`not converged in 60 s (${reached})`] : []), ...(crashes ? [`engine died ${crashes} times (${/terminate called[^\n]*\n[^\n]*/.exec(master.log() + backup.log())?.[0].replace(/\s+/g, ' ') ?? 'see log'})`] : [])];
    return { spec, convergeMs: converged - t0, master: mu as Usage, backup: bu as Usage, timing, notes, ...(reload ? { reload } : {}) };
  } finally {
    await dropLab(lab);
    rmSync(dir, { recursive: true, force: true });
  }
}
