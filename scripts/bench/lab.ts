// Shared pieces of the lab benchmarks: namespaces that are always removed (also on Ctrl-C),
// the two daemons started the same way, their process trees' CPU and RSS from /proc, log
// followers that track each instance's state, tcpdump captures and percentiles.
//
// Safety: only namespaces this process creates (prefix vb<pid>), only documentation-range
// addresses, only processes this process started, ended by PID.
import { execFileSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Lab, stopChild } from '../../test/lib/netns.ts';
import { readPcapVrrp } from '../../test/lib/pcap.ts';
import { decodeAdvert } from '../../src/vrrp/packet.ts';

export const root = fileURLToPath(new URL('../..', import.meta.url));
export const VIGIL = join(root, 'bin/vigil');
export type Impl = 'vigil' | 'keepalived';
export const IMPLS: Impl[] = ['vigil', 'keepalived'];

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

// ---- labs that are cleaned up whatever happens ----
const live = new Set<Lab>();
let hooked = false;
export function newLab(): Lab {
  return track(new Lab());
}
/** Removes `lab` on Ctrl-C too (a lab made elsewhere, e.g. by test/lib/lvs-lab.ts). */
export function track(lab: Lab): Lab {
  if (!hooked) {
    hooked = true;
    for (const sig of ['SIGINT', 'SIGTERM'] as const) {
      process.once(sig, () => {
        console.error(`\n${sig}: removing the benchmark labs`);
        void Promise.all([...live].map((l) => l.cleanup())).finally(() => process.exit(130));
      });
    }
  }
  live.add(lab);
  return lab;
}
export function untrack(lab: Lab): void {
  live.delete(lab);
}
export async function dropLab(lab: Lab): Promise<void> {
  await lab.cleanup();
  live.delete(lab);
}

// ---- daemons ----
export interface Daemon {
  impl: Impl;
  ns: string;
  child: ChildProcess;
  log(): string;
  /** Last state logged per instance ("MASTER", "BACKUP", "FAULT"). */
  states: Map<string, string>;
  /** Every transition line with its arrival time (ms, wall clock). */
  transitions: Array<{ at: number; instance: string; state: string }>;
  /** Resolves with the arrival time of the first log chunk after which `pred` holds. */
  until(pred: () => boolean, ms: number, what: string): Promise<number>;
}

const TRANSITION = /\(([\w.-]+)\) Entering (MASTER|BACKUP|FAULT) STATE/g;

export function startDaemon(lab: Lab, impl: Impl, ns: string, conf: string, dir: string, tag: string): Daemon {
  let child: ChildProcess;
  if (impl === 'vigil') {
    child = lab.spawn(ns, process.execPath, [VIGIL, '-n', '-l', '-f', conf, '-p', join(dir, `${tag}.pid`)]);
  } else {
    // a SIGKILLed keepalived leaves its pid files behind; the next start must not find them
    for (const f of [`${tag}.pid`, `${tag}.vrrp.pid`]) rmSync(join(dir, f), { force: true });
    child = lab.spawn(ns, 'keepalived', ['--dont-fork', '--log-console', '--log-detail', '--no-syslog', '--vrrp', '-f', conf, '-p', join(dir, `${tag}.pid`), '-r', join(dir, `${tag}.vrrp.pid`)]);
  }
  return followDaemon(impl, ns, child);
}

/** Follows a started daemon's log: its state per instance and each transition's arrival time on
 * `clock` (ms; the wall clock by default, performance.now() where only differences matter). */
export function followDaemon(impl: Impl, ns: string, child: ChildProcess, clock: () => number = Date.now): Daemon {
  let log = '';
  let partial = '';
  const states = new Map<string, string>();
  const transitions: Daemon['transitions'] = [];
  const waiters = new Set<() => void>();
  const onData = (d: Buffer) => {
    const at = clock();
    const text = partial + d.toString();
    const cut = text.lastIndexOf('\n');
    partial = text.slice(cut + 1);
    const lines = text.slice(0, cut + 1);
    log += d.toString();
    for (const m of lines.matchAll(TRANSITION)) {
      states.set(m[1] ?? '', m[2] ?? '');
      transitions.push({ at, instance: m[1] ?? '', state: m[2] ?? '' });
    }
    for (const w of [...waiters]) w();
  };
  child.stdout?.on('data', onData);
  child.stderr?.on('data', onData);
  return {
    impl,
    ns,
    child,
    log: () => log,
    states,
    transitions,
    until: (pred, ms, what) =>
      new Promise<number>((resolve, reject) => {
        if (pred()) return resolve(clock());
        const check = () => {
          if (!pred()) return;
          done();
          resolve(clock());
        };
        const timer = setTimeout(() => {
          done();
          reject(new Error(`${impl} in ${ns}: timed out after ${ms} ms waiting for ${what}; log tail:\n${log.slice(-2000)}`));
        }, ms);
        const done = () => {
          clearTimeout(timer);
          waiters.delete(check);
        };
        waiters.add(check);
      }),
  };
}

export function countIn(d: Daemon, state: string): number {
  let n = 0;
  for (const s of d.states.values()) if (s === state) n++;
  return n;
}

export async function stopDaemon(d: Daemon): Promise<void> {
  await stopChild(d.child);
}

// ---- /proc: a daemon's process tree ----
function parentOf(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  } catch {
    return -1;
  }
}

/** The pid and every descendant (for vigil: supervisor and engine; keepalived: parent and VRRP child). */
export function processTree(pid: number): number[] {
  const all = readdirSync('/proc').filter((n) => /^\d+$/.test(n)).map(Number);
  const tree = new Set([pid]);
  let grew = true;
  while (grew) {
    grew = false;
    for (const p of all) {
      if (!tree.has(p) && tree.has(parentOf(p))) {
        tree.add(p);
        grew = true;
      }
    }
  }
  return [...tree];
}

const CLK_TCK = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;

function cpuTicks(pids: number[]): Map<number, number> {
  const t = new Map<number, number>();
  for (const pid of pids) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      t.set(pid, Number(f[11]) + Number(f[12])); // utime, stime (fields 14 and 15)
    } catch {
      // exited
    }
  }
  return t;
}

export function rssKiB(pids: number[]): number {
  let kib = 0;
  for (const pid of pids) {
    try {
      const m = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
      kib += Number(m?.[1] ?? 0);
    } catch {
      // exited
    }
  }
  return kib;
}

export interface Usage {
  /** CPU seconds per second, percent of one core. */
  cpuPct: number;
  rssMiB: number;
  processes: number;
}

/** CPU over a window for several daemons at once, RSS at its end. */
export async function measureUsage(daemons: Daemon[], windowMs: number): Promise<Usage[]> {
  const trees = daemons.map((d) => processTree(d.child.pid ?? -1));
  const before = trees.map(cpuTicks);
  const t0 = performance.now();
  await sleep(windowMs);
  const secs = (performance.now() - t0) / 1000;
  return trees.map((pids, i) => {
    // a process that died in the window (a crashed engine) is left out of the sum
    const after = cpuTicks(pids);
    let ticks = 0;
    for (const [pid, t] of after) ticks += t - (before[i]?.get(pid) ?? t);
    return {
    cpuPct: (ticks / CLK_TCK / secs) * 100,
    rssMiB: rssKiB(pids) / 1024,
    processes: after.size,
    };
  });
}

// ---- captures ----
export function startCapture(lab: Lab, ns: string, iface: string, file: string): ChildProcess {
  return lab.spawn(ns, 'tcpdump', ['-i', iface, '-n', '-U', '-w', file, 'ip proto 112']);
}

export async function stopCapture(c: ChildProcess): Promise<void> {
  await stopChild(c, 'SIGINT');
}

export interface Advert {
  ts: number; // µs, capture time
  src: string;
  vrid: number;
  priority: number;
}

export function readAdverts(file: string): Advert[] {
  let buf: Buffer;
  try {
    buf = readFileSync(file);
  } catch {
    return [];
  }
  const out: Advert[] = [];
  for (const p of readPcapVrrp(buf)) {
    const d = decodeAdvert(p.vrrp, { family: p.family, src: p.src, dst: p.dst });
    if (d.ok) out.push({ ts: p.ts, src: p.src, vrid: d.advert.vrid, priority: d.advert.priority });
  }
  return out;
}

/** |gap - nominal| in ms for every pair of consecutive adverts of one (source, VRID). */
export function advertDeviations(adverts: Advert[], nominalMs: number, src?: (s: string) => boolean): number[] {
  const last = new Map<string, number>();
  const dev: number[] = [];
  for (const a of adverts) {
    if (src && !src(a.src)) continue;
    const key = `${a.src}/${a.vrid}`;
    const prev = last.get(key);
    if (prev !== undefined) dev.push(Math.abs((a.ts - prev) / 1000 - nominalMs));
    last.set(key, a.ts);
  }
  return dev;
}

// ---- statistics ----
export interface Summary {
  n: number;
  median: number;
  p95: number;
  p99: number;
  max: number;
}

export function pct(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? NaN;
}

export function summarize(xs: number[]): Summary {
  const s = [...xs].sort((a, b) => a - b);
  return { n: s.length, median: pct(s, 50), p95: pct(s, 95), p99: pct(s, 99), max: s.at(-1) ?? NaN };
}

export const f1 = (x: number) => (Number.isFinite(x) ? x.toFixed(1) : '-');
export const ratio = (v: number, k: number) => (Number.isFinite(v) && Number.isFinite(k) && k > 0 ? `${(v / k).toFixed(2)}x` : '-');

export function keepalivedInstalled(): boolean {
  try {
    execFileSync('keepalived', ['--version'], { stdio: 'ignore' });
    execFileSync('tcpdump', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** Saves one benchmark part's result: into the lab part's JSON of this run under `key` when
 * there is one, else into bench/results/DATE-KEY.json. Returns the file. */
export function savePart(key: string, result: { date: string }, labFile?: string): string {
  if (labFile && existsSync(labFile)) {
    const doc = JSON.parse(readFileSync(labFile, 'utf8')) as Record<string, unknown>;
    doc[key] = result;
    writeFileSync(labFile, `${JSON.stringify(doc, null, 1)}\n`);
    return labFile;
  }
  const dir = join(root, 'bench/results');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${result.date.slice(0, 10)}-${key}.json`);
  writeFileSync(file, `${JSON.stringify({ [key]: result }, null, 1)}\n`);
  return file;
}
