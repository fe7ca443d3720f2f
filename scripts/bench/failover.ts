// Failover in the namespace lab, vigil and keepalived measured the same way in the same run.
//
// Lab: a bridge namespace, routers r1 (192.0.2.1, priority 200) and r2 (192.0.2.2, priority
// 100), a client (192.0.2.200) probing the VIP 192.0.2.100 over UDP every 10 ms; every router
// runs an echo server that answers with its name, so the client knows who holds the VIP.
// r2 runs for the whole case; r1 is started for each trial, preempts, and then:
//   node death  r1's link is cut, then every process in r1 is frozen (SIGSTOP) and SIGKILLed,
//               so nothing says goodbye; floor: r2's Master_Down_Interval
//   clean stop  the daemon on r1 gets SIGTERM (priority-0 advert); floor: r2's Skew_Time
// Figures per trial: cut -> first reply from r2 at the client; cut -> r2's first advert on the
// wire (tcpdump in the client); that advert -> start of r2's notify script (it records its
// start time), the transition -> notify latency.
import { execFileSync, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { killAllIn } from '../../test/lib/daemon.ts';
import type { Lab } from '../../test/lib/netns.ts';
import { masterDownInterval, skewTime } from '../../src/vrrp/timers.ts';
import {
  dropLab, IMPLS, newLab, readAdverts, root, sleep, startCapture, startDaemon, stopCapture, stopDaemon, summarize,
  type Daemon, type Impl, type Summary,
} from './lab.ts';
import type { Row } from './report.ts';

const VIP = '192.0.2.100';

export interface FailoverCase {
  version: 2 | 3;
  advertInt: number;
}
export const FAILOVER_CASES: FailoverCase[] = [
  { version: 2, advertInt: 1 },
  { version: 3, advertInt: 0.1 },
  { version: 3, advertInt: 0.05 },
];
type Mode = 'kill' | 'term';

export interface FailoverResult {
  impl: Impl;
  version: 2 | 3;
  advertInt: number;
  mode: Mode;
  floorMs: number;
  trialsMs: number[];
  reply: Summary;
  wire: Summary;
  /** takeover advert on the wire -> notify script start (ms) */
  notifyMs: number[];
}

function conf(c: FailoverCase, priority: number, notify: string): string {
  return `global_defs {\n  script_user root\n  enable_script_security\n}\nvrrp_instance VI_1 {\n  state BACKUP\n  interface eth0\n  virtual_router_id 9\n  priority ${priority}\n  advert_int ${c.advertInt}\n  version ${c.version}\n  notify ${notify}\n  virtual_ipaddress {\n    ${VIP}/24\n  }\n}\n`;
}

async function waitLine(child: ChildProcess, re: RegExp, ms: number): Promise<void> {
  let seen = '';
  await new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`timeout waiting for ${re}: ${seen}`)), ms);
    child.stdout?.on('data', (d: Buffer) => {
      seen += d.toString();
      if (re.test(seen)) {
        clearTimeout(t);
        resolve();
      }
    });
  });
}

function buildLab(lab: Lab): Record<'br' | 'r1' | 'r2' | 'client', string> {
  const br = lab.addNamespace('br');
  lab.exec(br, 'ip', ['link', 'add', 'br0', 'type', 'bridge']);
  lab.exec(br, 'ip', ['link', 'set', 'br0', 'up']);
  const out = { br, r1: '', r2: '', client: '' };
  for (const [h, addr] of [['r1', 1], ['r2', 2], ['client', 200]] as const) {
    const ns = lab.addNamespace(h);
    lab.veth(ns, 'eth0', br, `p-${h}`);
    lab.exec(br, 'ip', ['link', 'set', `p-${h}`, 'master', 'br0']);
    lab.exec(ns, 'ip', ['addr', 'add', `192.0.2.${addr}/24`, 'dev', 'eth0']);
    out[h] = ns;
  }
  return out;
}

async function runCase(impl: Impl, c: FailoverCase, trials: number, modes: Mode[], dir: string, log: (s: string) => void): Promise<FailoverResult[]> {
  const lab = newLab();
  const cs = Math.round(c.advertInt * 100);
  try {
    const ns = buildLab(lab);
    const notifyOut = join(dir, `${impl}-v${c.version}-${cs}.notify`);
    const script = join(dir, 'notify.sh');
    writeFileSync(script, `#!/bin/sh\necho "$(date +%s%N) $1 $2 $3" >> "$NOTIFY_OUT"\n`);
    chmodSync(script, 0o755);
    // the notify script's output file: passed through the script's path would need quoting in
    // both config dialects; a per-case wrapper keeps it simple
    const wrapper = join(dir, `notify-${impl}-${cs}.sh`);
    writeFileSync(wrapper, `#!/bin/sh\nNOTIFY_OUT=${notifyOut} exec ${script} "$@"\n`);
    chmodSync(wrapper, 0o755);
    writeFileSync(join(dir, 'r1.conf'), conf(c, 200, wrapper));
    writeFileSync(join(dir, 'r2.conf'), conf(c, 100, wrapper));
    const pcap = join(dir, `${impl}-${cs}.pcap`);
    const dump = startCapture(lab, ns.client, 'eth0', pcap);
    const echo2 = lab.spawn(ns.r2, process.execPath, [join(root, 'scripts/bench/udp-echo.mjs'), 'r2']);
    await waitLine(echo2, /ready/, 10_000);
    const r2 = startDaemon(lab, impl, ns.r2, join(dir, 'r2.conf'), dir, 'r2');
    const replies: Array<{ t: number; tag: string }> = [];
    const probe = lab.spawn(ns.client, process.execPath, [join(root, 'scripts/bench/udp-probe.mjs'), VIP]);
    let partial = '';
    probe.stdout?.on('data', (d: Buffer) => {
      const text = partial + d.toString();
      const lines = text.split('\n');
      partial = lines.pop() ?? '';
      for (const l of lines) {
        const [t, tag] = l.split(' ');
        replies.push({ t: Number(t), tag: tag ?? '' });
      }
    });
    let echo1: ChildProcess | null = null;
    const results: FailoverResult[] = [];
    const cuts: Array<{ mode: Mode; cut: number }> = [];
    for (const mode of modes) {
      const times: number[] = [];
      for (let i = 0; i < trials; i++) {
        // r1 back: link up, no stale VIP, its echo server, its daemon
        lab.exec(ns.r1, 'ip', ['link', 'set', 'eth0', 'up']);
        try {
          lab.exec(ns.r1, 'ip', ['addr', 'del', `${VIP}/24`, 'dev', 'eth0']);
        } catch {
          // not there
        }
        if (!echo1 || echo1.exitCode !== null || echo1.signalCode !== null) {
          echo1 = lab.spawn(ns.r1, process.execPath, [join(root, 'scripts/bench/udp-echo.mjs'), 'r1']);
          await waitLine(echo1, /ready/, 10_000);
        }
        const r1: Daemon = startDaemon(lab, impl, ns.r1, join(dir, 'r1.conf'), dir, 'r1');
        await r1.until(() => r1.states.get('VI_1') === 'MASTER', 30_000, 'r1 MASTER');
        await r2.until(() => r2.states.get('VI_1') === 'BACKUP', 30_000, 'r2 BACKUP');
        const since = Date.now();
        const deadline = since + 10_000;
        while (Date.now() < deadline && !replies.some((r) => r.t > since && r.tag === 'r1')) await sleep(10);
        if (!replies.some((r) => r.t > since && r.tag === 'r1')) throw new Error('the VIP does not answer from r1 before the failover');
        await sleep(300);
        const cut = Date.now();
        if (mode === 'kill') {
          execFileSync('ip', ['-n', ns.r1, 'link', 'set', 'eth0', 'down']);
          killAllIn(ns.r1);
        } else {
          r1.child.kill('SIGTERM');
        }
        cuts.push({ mode, cut });
        const end = cut + 20_000;
        let first: number | undefined;
        while (Date.now() < end && first === undefined) {
          first = replies.find((r) => r.t > cut && r.tag === 'r2')?.t;
          if (first === undefined) await sleep(5);
        }
        if (first === undefined) throw new Error(`${impl}: no reply from r2 within 20 s of the ${mode}`);
        times.push(first - cut);
        await stopDaemon(r1);
      }
      const floorMs = (mode === 'kill' ? masterDownInterval(c.version, 100, cs) : skewTime(c.version, 100, cs)) / 1000;
      results.push({ impl, version: c.version, advertInt: c.advertInt, mode, floorMs, trialsMs: times, reply: summarize(times), wire: summarize([]), notifyMs: [] });
    }
    await stopCapture(dump);
    await stopDaemon(r2);
    // the capture and the notify records, matched to the cuts
    const adverts = readAdverts(pcap).filter((a) => a.src === '192.0.2.2' && a.priority === 100);
    const starts = (() => {
      try {
        return readFileSync(notifyOut, 'utf8').trim().split('\n').map((l) => l.split(' ')).filter((f) => f[3] === 'MASTER').map((f) => Number(f[0]) / 1e6);
      } catch {
        return [];
      }
    })();
    for (const res of results) {
      const wire: number[] = [];
      for (const { cut } of cuts.filter((x) => x.mode === res.mode)) {
        const adv = adverts.find((a) => a.ts / 1000 > cut);
        if (!adv) continue;
        wire.push(adv.ts / 1000 - cut);
        const start = starts.find((s) => s > cut);
        if (start !== undefined) res.notifyMs.push(start - adv.ts / 1000);
      }
      res.wire = summarize(wire);
      log(`failover ${impl.padEnd(10)} v${c.version} advert_int ${String(c.advertInt).padEnd(4)} ${res.mode === 'kill' ? 'node death' : 'clean stop'}: trials ${res.trialsMs.join(' ')} ms`);
    }
    return results;
  } finally {
    await dropLab(lab);
  }
}

export async function benchFailover(trials: number, log: (s: string) => void, cases = FAILOVER_CASES): Promise<{ rows: Row[]; results: FailoverResult[]; notify: Row[] }> {
  const dir = mkdtempSync(join(tmpdir(), 'vigil-bench-failover-'));
  const results: FailoverResult[] = [];
  try {
    for (const c of cases) for (const impl of IMPLS) results.push(...(await runCase(impl, c, trials, ['kill', 'term'], dir, log)));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const rows: Row[] = [];
  const get = (impl: Impl, c: FailoverCase, mode: Mode) => results.find((r) => r.impl === impl && r.version === c.version && r.advertInt === c.advertInt && r.mode === mode);
  for (const c of cases) {
    for (const mode of ['kill', 'term'] as const) {
      const v = get('vigil', c, mode);
      const k = get('keepalived', c, mode);
      const label = `v${c.version} ${c.advertInt}s ${mode === 'kill' ? 'node death' : 'clean stop'}`;
      const floor = v?.floorMs ?? k?.floorMs;
      for (const stat of ['median', 'p95', 'max'] as const) {
        rows.push({ section: 'failover: cut -> first reply from the VIP at the client', figure: `${label} ${stat}`, unit: 'ms', vigil: v?.reply[stat] ?? null, keepalived: k?.reply[stat] ?? null, ...(floor !== undefined ? { floor } : {}), note: stat === 'median' ? `n=${v?.reply.n ?? 0}/${k?.reply.n ?? 0}; floor = ${mode === 'kill' ? 'Master_Down_Interval' : 'Skew_Time'}` : '' });
      }
      rows.push({ section: 'failover: cut -> first advert of the new Master on the wire', figure: `${label} median`, unit: 'ms', vigil: v?.wire.median ?? null, keepalived: k?.wire.median ?? null, ...(floor !== undefined ? { floor } : {}) });
    }
  }
  const notify: Row[] = [];
  const all = (impl: Impl) => summarize(results.filter((r) => r.impl === impl).flatMap((r) => r.notifyMs));
  const nv = all('vigil');
  const nk = all('keepalived');
  for (const stat of ['median', 'p99', 'max'] as const) {
    notify.push({ section: "events: new Master's first advert (capture) -> notify script start", figure: `transition -> notify ${stat}`, unit: 'ms', vigil: nv[stat], keepalived: nk[stat], note: stat === 'median' ? `n=${nv.n}/${nk.n} takeovers` : '' });
  }
  return { rows, results, notify };
}
