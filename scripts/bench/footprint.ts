// Issue 17's goals, vigil and keepalived in the same run (root; keepalived installed):
//
//   memory   the example config (config/keepalived.conf: 2 instances, 3 built-in plugins) and
//            1,000 instances, each daemon alone in a namespace whose eth0 is a veth: once every
//            instance has entered its state (alone: MASTER) and 5 s more, summed over every
//            process of the daemon (the /proc tree under the exec'd pid: supervisor, engine,
//            plugin processes, any compiler process; keepalived's parent and children): PSS and
//            RSS and private memory from smaps_rollup, and "alone" (below); each process's
//            figures go into the JSON
//   start    exec -> "(VI_1) Entering BACKUP STATE" on the log, example config, median of N;
//            `-t -f config/keepalived.conf` wall time, median of M
//   idle     one instance at advert_int 1 as Master: CPU time of every thread of every process
//            over 30 s (schedstat, ns: finer than utime + stime's 10 ms ticks)
//   race     a mixed pair started at the same moment on a veth (vigil priority 200 nopreempt,
//            keepalived 150 nopreempt, both state BACKUP, one VRID): who ends as Master, how
//            long each took; how many rounds the higher priority won
//
// Why "alone" next to PSS: PSS divides each page among every process that maps it. This
// harness is node itself (and other node processes may run on the machine), so vigil's PSS
// comes out lower by their share of node's text and of the shared libraries; keepalived's by
// every process's share of libc. Reading smaps from a process that is not node changes nothing
// (PSS depends on who maps a page, not on who reads the figure). So the bench also counts the
// distinct physical pages the daemon's processes map (/proc/PID/pagemap, root), each once: what
// the daemon's PSS sums to on a host where nothing else maps the same files, the figure a
// 64 MiB goal is about. PSS as measured is the lower bound, RSS summed the upper one.
//
// Safety: namespaces made here (test/lib/netns.ts Lab, removed on exit and on Ctrl-C), only
// documentation-range addresses, only processes started here, ended by PID.
import { execFileSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readdirSync, readFileSync, readSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Lab } from '../../test/lib/netns.ts';
import { dropLab, followDaemon, newLab, processTree, root, savePart, sleep, stopDaemon, VIGIL, type Daemon, type Impl } from './lab.ts';
import { printRows, type Row } from './report.ts';

const EXAMPLE = join(root, 'config/keepalived.conf');
const log = (s: string) => console.log(`foot   ${s}`);

// ---- the daemons, started as the issue says ----
/** vigil: `bin/vigil -n -l -G -f CONF -p PID`; keepalived: `-n -l -G -f CONF -p/-r/-c` (all of
 * it, not only --vrrp: its checker child counts when it starts one). Logs are followed for the
 * keepalived-style "(NAME) Entering STATE" lines both print with -l. */
function launch(lab: Lab, impl: Impl, ns: string, conf: string, dir: string, tag: string): Daemon & { t0: number } {
  const pid = (f: string) => join(dir, `${tag}.${f}.pid`);
  // a SIGKILLed keepalived leaves its pid files behind; the next start must not find them
  for (const f of ['main', 'vrrp', 'check']) rmSync(pid(f), { force: true });
  const t0 = performance.now();
  const child =
    impl === 'vigil'
      ? lab.spawn(ns, process.execPath, [VIGIL, '-n', '-l', '-G', '-f', conf, '-p', pid('main')])
      : lab.spawn(ns, 'keepalived', ['-n', '-l', '-G', '-f', conf, '-p', pid('main'), '-r', pid('vrrp'), '-c', pid('check')]);
  return { ...followDaemon(impl, ns, child, () => performance.now()), t0 };
}

/** A namespace `name` whose eth0..eth{links-1} are veths to a peer namespace (nothing runs
 * there: a veth needs its other end somewhere), 192.0.2.1+k/24 on this side. */
function hostNs(lab: Lab, name: string, links = 1): string {
  const ns = lab.addNamespace(name);
  const peer = lab.addNamespace(`${name}p`);
  for (let k = 0; k < links; k++) {
    lab.veth(ns, `eth${k}`, peer, `eth${k}`);
    lab.exec(ns, 'ip', ['addr', 'add', `${['192.0.2', '198.51.100', '203.0.113'][k % 3]}.${1 + Math.floor(k / 3)}/24`, 'dev', `eth${k}`]);
  }
  return ns;
}

// ---- configs ----
const PER_LINK = 200; // VRIDs 1..255 per interface; as scripts/bench/scale.ts lays them out
const VIP_NETS = ['192.0.2', '198.51.100', '203.0.113'];

/** n instances over ceil(n / 200) links, one /32 VIP each (scale.ts's layout). */
function manyConf(n: number): string {
  const parts: string[] = [];
  for (let i = 0; i < n; i++) {
    const k = Math.floor(i / PER_LINK);
    const vrid = (i % PER_LINK) + 1;
    parts.push(
      `vrrp_instance VI_${i + 1} {\n  state BACKUP\n  interface eth${k}\n  virtual_router_id ${vrid}\n  priority 200\n  advert_int 1\n  virtual_ipaddress {\n    ${VIP_NETS[k % 3]}.${vrid + 10}/32\n  }\n}\n`,
    );
  }
  return parts.join('');
}

/** The mixed pair's instance (and the idle one's): state BACKUP, one VRID, advert_int 1. */
export function pairConf(priority: number, nopreempt: boolean): string {
  return `vrrp_instance VI_1 {\n  state BACKUP\n  interface eth0\n  virtual_router_id 51\n  priority ${priority}\n${nopreempt ? '  nopreempt\n' : ''}  advert_int 1\n  virtual_ipaddress {\n    192.0.2.100/24\n  }\n}\n`;
}

// ---- memory from /proc ----
export interface ProcMem {
  pid: number;
  cmd: string;
  pssKiB: number;
  rssKiB: number;
  /** Private_Clean + Private_Dirty: pages no other process maps. */
  privateKiB: number;
  swapKiB: number;
}

export interface TreeMem {
  processes: number;
  pssMiB: number;
  rssMiB: number;
  privateMiB: number;
  /** Distinct physical pages mapped by any process of the daemon (see the top comment). */
  aloneMiB: number;
  perProcess: ProcMem[];
  /** Instances per state when measured. */
  states: Record<string, number>;
  /** exec -> every instance in its state. */
  settledMs: number;
}

function cmdOf(pid: number): string {
  try {
    const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
    return argv.map((a) => a.replace(root, '')).join(' ').slice(0, 100);
  } catch {
    return '?';
  }
}

function procMem(pid: number): ProcMem | null {
  try {
    const t = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
    const kib = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+)`, 'm').exec(t)?.[1] ?? 0);
    return { pid, cmd: cmdOf(pid), pssKiB: kib('Pss'), rssKiB: kib('Rss'), privateKiB: kib('Private_Clean') + kib('Private_Dirty'), swapKiB: kib('Swap') };
  } catch {
    return null; // exited (or a kernel thread: no smaps)
  }
}

const PAGE = 4096;
const KPF_ZERO_PAGE = 24; // /proc/kpageflags bit: the shared zero page, in nobody's RSS

/** Adds the page frame numbers of every resident page of `pid` to `into`. Only mappings that
 * smaps says have resident pages are read: node reserves gigabytes it never touches. */
function residentFrames(pid: number, into: Set<number>): void {
  let smaps: string;
  let fd: number;
  try {
    smaps = readFileSync(`/proc/${pid}/smaps`, 'utf8');
    fd = openSync(`/proc/${pid}/pagemap`, 'r');
  } catch {
    return;
  }
  try {
    let range: [number, number] | null = null;
    for (const line of smaps.split('\n')) {
      const h = /^([0-9a-f]+)-([0-9a-f]+) /.exec(line);
      if (h) {
        range = [parseInt(h[1] ?? '0', 16), parseInt(h[2] ?? '0', 16)];
        continue;
      }
      if (!range || !line.startsWith('Rss:')) continue;
      const [start, end] = range;
      range = null;
      if (Number(/\d+/.exec(line)?.[0] ?? 0) === 0 || start >= 2 ** 47) continue; // [vsyscall] is above
      const buf = Buffer.alloc(((end - start) / PAGE) * 8);
      const got = readSync(fd, buf, 0, buf.length, (start / PAGE) * 8);
      for (let o = 0; o + 8 <= got; o += 8) {
        const hi = buf.readUInt32LE(o + 4);
        if (!(hi & 0x80000000)) continue; // bit 63: present (a swapped page has no frame)
        const pfn = (hi & 0x7fffff) * 2 ** 32 + buf.readUInt32LE(o); // bits 0-54
        if (pfn) into.add(pfn);
      }
    }
  } finally {
    closeSync(fd);
  }
}

/** KiB of distinct frames, the shared zero page left out. */
function framesKiB(frames: Set<number>): number {
  const fd = openSync('/proc/kpageflags', 'r');
  const b = Buffer.alloc(8);
  let n = 0;
  try {
    for (const pfn of frames) {
      readSync(fd, b, 0, 8, pfn * 8);
      if (!((b.readUInt32LE(KPF_ZERO_PAGE >= 32 ? 4 : 0) >>> KPF_ZERO_PAGE % 32) & 1)) n++;
    }
  } finally {
    closeSync(fd);
  }
  return (n * PAGE) / 1024;
}

function treeMem(d: Daemon, settledMs: number): TreeMem {
  const pids = processTree(d.child.pid ?? -1);
  const perProcess = pids.map(procMem).filter((p): p is ProcMem => p !== null);
  const frames = new Set<number>();
  for (const p of perProcess) residentFrames(p.pid, frames);
  const sum = (f: (p: ProcMem) => number) => perProcess.reduce((s, p) => s + f(p), 0) / 1024;
  const states: Record<string, number> = {};
  for (const s of d.states.values()) states[s] = (states[s] ?? 0) + 1;
  return { processes: perProcess.length, pssMiB: sum((p) => p.pssKiB), rssMiB: sum((p) => p.rssKiB), privateMiB: sum((p) => p.privateKiB), aloneMiB: framesKiB(frames) / 1024, perProcess, states, settledMs };
}

/** Both daemons at once, each alone in a namespace with `links` veths: every instance in a
 * state (alone they end MASTER; a daemon that has not got there in `waitMs` is measured as it
 * is, its states in the JSON), 5 s more, then the memory of each process tree. */
async function memoryOf(conf: string, instances: number, links: number, dir: string, waitMs: number): Promise<Record<Impl, TreeMem>> {
  const lab = newLab();
  try {
    const started = (['vigil', 'keepalived'] as const).map((impl) => launch(lab, impl, hostNs(lab, impl.slice(0, 2), links), conf, dir, `mem-${impl}`));
    const settled = await Promise.all(
      started.map(async (d) => {
        try {
          return (await d.until(() => [...d.states.values()].filter((s) => s === 'MASTER').length === instances, waitMs, `${instances} MASTER`)) - d.t0;
        } catch (e) {
          log(`${d.impl}: ${(e as Error).message.split('\n')[0]}`);
          return NaN;
        }
      }),
    );
    await sleep(5000);
    const out = { vigil: treeMem(started[0] as Daemon, settled[0] ?? NaN), keepalived: treeMem(started[1] as Daemon, settled[1] ?? NaN) };
    for (const d of started) await stopDaemon(d);
    return out;
  } finally {
    await dropLab(lab);
  }
}

// ---- start ----
export interface StartResult {
  /** exec -> VI_1 entered BACKUP, each run (ms). */
  backupMs: number[];
  median: number;
  /** exec -> every instance of the example in BACKUP, median. */
  allMedian: number;
}

const median = (xs: number[]) => {
  const s = xs.filter(Number.isFinite).sort((a, b) => a - b);
  return s.length ? (s[(s.length - 1) >> 1] as number) : NaN;
};

async function startTimes(impl: Impl, runs: number, dir: string): Promise<StartResult> {
  const lab = newLab();
  const backupMs: number[] = [];
  const allMs: number[] = [];
  try {
    const ns = hostNs(lab, `s${impl.slice(0, 1)}`);
    for (let i = 0; i < runs; i++) {
      const d = launch(lab, impl, ns, EXAMPLE, dir, `start-${impl}`);
      const entered = (name: string) => d.transitions.find((t) => t.instance === name && t.state === 'BACKUP');
      try {
        backupMs.push((await d.until(() => entered('VI_1') !== undefined, 30_000, 'VI_1 BACKUP')) - d.t0);
        await d.until(() => entered('VI_6') !== undefined, 30_000, 'VI_6 BACKUP');
        allMs.push(Math.max(entered('VI_1')?.at ?? NaN, entered('VI_6')?.at ?? NaN) - d.t0);
      } catch (e) {
        log(`${impl} start run ${i + 1}: ${(e as Error).message.split('\n')[0]}`);
        backupMs.push(NaN);
      }
      await stopDaemon(d);
    }
    return { backupMs, median: median(backupMs), allMedian: median(allMs) };
  } finally {
    await dropLab(lab);
  }
}

export interface ConfigTestResult {
  runsMs: number[];
  median: number;
  /** How the last run ended: "0", another exit code, or the signal's name. keepalived 2.2.7
   * ends a check that found nothing wrong by SIGTERM to itself (a wrong config exits 5). */
  exit: string;
}

/** `-t -f config/keepalived.conf` wall time, in a namespace that has the example's eth0. */
async function configTestTimes(runs: number): Promise<Record<Impl | 'netnsExec', ConfigTestResult>> {
  const lab = newLab();
  try {
    const ns = hostNs(lab, 'ct');
    const time = (cmd: string, args: string[]): ConfigTestResult => {
      const runsMs: number[] = [];
      let exit = '0';
      for (let i = 0; i < runs; i++) {
        const t = performance.now();
        try {
          execFileSync('ip', ['netns', 'exec', ns, cmd, ...args], { stdio: 'ignore' });
          exit = '0';
        } catch (e) {
          const { status, signal } = e as { status?: number | null; signal?: string | null };
          exit = signal ?? String(status);
        }
        runsMs.push(performance.now() - t);
      }
      return { runsMs, median: median(runsMs), exit };
    };
    return {
      vigil: time(process.execPath, [VIGIL, '-t', '-f', EXAMPLE]),
      keepalived: time('keepalived', ['-t', '-f', EXAMPLE]),
      // what `ip netns exec` itself adds to both
      netnsExec: time('true', []),
    };
  } finally {
    await dropLab(lab);
  }
}

// ---- idle CPU ----
/** CPU time (ns) of every thread of every process of the daemon, from schedstat: at idle a
 * daemon uses less than one clock tick (10 ms) in 30 s, below what /proc/PID/stat resolves. */
function cpuNs(pids: number[]): number {
  let ns = 0;
  for (const pid of pids) {
    let tasks: string[];
    try {
      tasks = readdirSync(`/proc/${pid}/task`);
    } catch {
      continue; // exited
    }
    for (const tid of tasks) {
      try {
        ns += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
      } catch {
        // the thread ended
      }
    }
  }
  return ns;
}

/** Two consecutive windows: the first right after MASTER (a Node daemon's V8 still compiles and
 * collects the start's garbage for ~30 s), the second after it, the steady state. */
async function idleCpu(windowS: number, dir: string): Promise<{ afterStart: Record<Impl, number>; steady: Record<Impl, number> }> {
  const lab = newLab();
  try {
    writeFileSync(join(dir, 'idle.conf'), pairConf(200, false));
    const ds = (['vigil', 'keepalived'] as const).map((impl) => launch(lab, impl, hostNs(lab, `i${impl.slice(0, 1)}`), join(dir, 'idle.conf'), dir, `idle-${impl}`));
    const up = await Promise.allSettled(ds.map((d) => d.until(() => d.states.get('VI_1') === 'MASTER', 30_000, 'MASTER')));
    for (const u of up) if (u.status === 'rejected') throw u.reason;
    await sleep(3000); // past the start's one-off work (plugins, first gratuitous ARPs)
    const trees = ds.map((d) => processTree(d.child.pid ?? -1));
    const window = async (): Promise<Record<Impl, number>> => {
      const before = trees.map(cpuNs);
      const t0 = performance.now();
      await sleep(windowS * 1000);
      const wallNs = (performance.now() - t0) * 1e6;
      const pctOf = (i: number) => ((cpuNs(trees[i] ?? []) - (before[i] ?? NaN)) / wallNs) * 100;
      return { vigil: pctOf(0), keepalived: pctOf(1) };
    };
    const afterStart = await window();
    const steady = await window();
    for (const d of ds) await stopDaemon(d);
    return { afterStart, steady };
  } finally {
    await dropLab(lab);
  }
}

// ---- the mixed pair started together ----
export interface RaceRound {
  /** Which daemon ended as Master ('none' or 'both' when they did not agree). */
  master: Impl | 'none' | 'both';
  /** exec -> entered BACKUP, per daemon (ms). */
  backupMs: Record<Impl, number>;
  /** exec -> its last transition (its final state), per daemon (ms). */
  finalMs: Record<Impl, number>;
  final: Record<Impl, string>;
}

export interface RaceResult {
  rounds: RaceRound[];
  higherWon: number;
}

async function race(rounds: number, dir: string): Promise<RaceResult> {
  const lab = newLab();
  const out: RaceRound[] = [];
  try {
    const vg = lab.addNamespace('rv');
    const ka = lab.addNamespace('rk');
    lab.veth(vg, 'eth0', ka, 'eth0');
    lab.exec(vg, 'ip', ['addr', 'add', '192.0.2.1/24', 'dev', 'eth0']);
    lab.exec(ka, 'ip', ['addr', 'add', '192.0.2.2/24', 'dev', 'eth0']);
    writeFileSync(join(dir, 'race-vigil.conf'), pairConf(200, true));
    writeFileSync(join(dir, 'race-keepalived.conf'), pairConf(150, true));
    for (let i = 0; i < rounds; i++) {
      // the same moment: back to back in one tick, the first one alternating
      const order: Impl[] = i % 2 ? ['keepalived', 'vigil'] : ['vigil', 'keepalived'];
      const ds = new Map(order.map((impl) => [impl, launch(lab, impl, impl === 'vigil' ? vg : ka, join(dir, `race-${impl}.conf`), dir, `race-${impl}`)] as const));
      const all = [...ds.values()];
      // the first Master, or none in 20 s (reported as 'none'); each waiter settles on its own
      await Promise.race(all.map((d) => d.until(() => d.states.get('VI_1') === 'MASTER', 20_000, 'a MASTER').catch(() => NaN)));
      await sleep(5000); // past the Backup's Master_Down_Interval (3 x 1 s + skew): settled
      const pick = <T>(f: (d: Daemon & { t0: number }) => T): Record<Impl, T> => ({ vigil: f(ds.get('vigil') as Daemon & { t0: number }), keepalived: f(ds.get('keepalived') as Daemon & { t0: number }) });
      const final = pick((d) => d.states.get('VI_1') ?? 'none');
      const masters = (['vigil', 'keepalived'] as const).filter((impl) => final[impl] === 'MASTER');
      const r: RaceRound = {
        master: masters.length === 2 ? 'both' : (masters[0] ?? 'none'),
        backupMs: pick((d) => (d.transitions.find((t) => t.state === 'BACKUP')?.at ?? NaN) - d.t0),
        finalMs: pick((d) => (d.transitions.at(-1)?.at ?? NaN) - d.t0),
        final,
      };
      out.push(r);
      log(`race ${i + 1}: ${r.master} Master; BACKUP entered vigil ${r.backupMs.vigil.toFixed(0)} ms, keepalived ${r.backupMs.keepalived.toFixed(0)} ms after exec; final state vigil ${r.final.vigil} at ${r.finalMs.vigil.toFixed(0)} ms, keepalived ${r.final.keepalived} at ${r.finalMs.keepalived.toFixed(0)} ms`);
      for (const d of all) await stopDaemon(d);
    }
    return { rounds: out, higherWon: out.filter((r) => r.master === 'vigil' && r.final.keepalived === 'BACKUP').length };
  } finally {
    await dropLab(lab);
  }
}

// ---- the part ----
export interface FootprintOptions {
  startRuns?: number;
  testRuns?: number;
  idleS?: number;
  raceRounds?: number;
  /** Instances of the large memory case. */
  many?: number;
}

export interface FootprintResult {
  date: string;
  keepalived: string;
  options: Required<FootprintOptions>;
  memory: { example: Record<Impl, TreeMem>; many: Record<Impl, TreeMem> };
  start: Record<Impl, StartResult>;
  configTest: Record<Impl | 'netnsExec', ConfigTestResult>;
  idleCpuPct: { afterStart: Record<Impl, number>; steady: Record<Impl, number> };
  race: RaceResult;
  notes: string[];
}

export function footprintToolsInstalled(): string | null {
  try {
    execFileSync('keepalived', ['--version'], { stdio: 'ignore' });
    return null;
  } catch {
    return 'keepalived';
  }
}

export async function benchFootprint(opts: FootprintOptions = {}): Promise<FootprintResult> {
  const o: Required<FootprintOptions> = { startRuns: 5, testRuns: 10, idleS: 30, raceRounds: 5, many: 1000, ...opts };
  const dir = mkdtempSync(join(tmpdir(), 'vigil-bench-foot-'));
  try {
    log(`config test, ${o.testRuns} runs each`);
    const configTest = await configTestTimes(o.testRuns);
    log(`start, ${o.startRuns} runs each`);
    const start = { vigil: await startTimes('vigil', o.startRuns, dir), keepalived: await startTimes('keepalived', o.startRuns, dir) };
    log('memory, example config');
    const example = await memoryOf(EXAMPLE, 2, 1, dir, 60_000);
    log(`idle CPU, ${o.idleS} s`);
    const idleCpuPct = await idleCpu(o.idleS, dir);
    log(`memory, ${o.many} instances`);
    writeFileSync(join(dir, 'many.conf'), manyConf(o.many));
    const many = await memoryOf(join(dir, 'many.conf'), o.many, Math.ceil(o.many / PER_LINK), dir, 180_000);
    log(`mixed pair started together, ${o.raceRounds} rounds`);
    const raced = await race(o.raceRounds, dir);
    const notes = [
      ...(configTest.keepalived.exit !== '0' ? [`keepalived -t ended by ${configTest.keepalived.exit}${configTest.keepalived.exit === 'SIGTERM' ? ' (how 2.2.7 ends a check that found nothing wrong)' : ''}`] : []),
      ...(configTest.vigil.exit !== '0' ? [`vigil -t ended by ${configTest.vigil.exit}`] : []),
      ...(['example', 'many'] as const).flatMap((c) =>
        (['vigil', 'keepalived'] as const).filter((i) => Number.isNaN(({ example, many })[c][i].settledMs)).map((i) => `${i} ${c}: not every instance MASTER before the measurement (${JSON.stringify(({ example, many })[c][i].states)})`),
      ),
    ];
    let version = '';
    try {
      version = execFileSync('keepalived', ['--version'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).split('\n')[0] ?? '';
    } catch (e) {
      version = ((e as { stderr?: string }).stderr ?? '').split('\n')[0] ?? '';
    }
    return { date: new Date().toISOString(), keepalived: version, options: o, memory: { example, many }, start, configTest, idleCpuPct, race: raced, notes };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export function printFootprint(r: FootprintResult): void {
  const rows: Row[] = [];
  const mem = (section: string, m: Record<Impl, TreeMem>) => {
    const add = (figure: string, f: (t: TreeMem) => number, note?: string) => rows.push({ section, figure, unit: 'MiB', vigil: f(m.vigil), keepalived: f(m.keepalived), ...(note ? { note } : {}) });
    add('PSS alone (distinct pages)', (t) => t.aloneMiB, 'the goal figure');
    add('PSS (measured)', (t) => t.pssMiB, 'lowered by other node processes');
    add('RSS (summed)', (t) => t.rssMiB);
    add('private (USS)', (t) => t.privateMiB);
    rows.push({ section, figure: 'processes', unit: '', vigil: m.vigil.processes, keepalived: m.keepalived.processes, note: `vigil: ${m.vigil.perProcess.map((p) => `${p.cmd.split(' ').slice(0, 3).join(' ')} ${(p.pssKiB / 1024).toFixed(1)}`).join('; ')}` });
    rows.push({ section, figure: 'exec -> all MASTER', unit: 'ms', vigil: m.vigil.settledMs, keepalived: m.keepalived.settledMs });
  };
  mem('memory: example config (2 instances, 3 built-in plugins)', r.memory.example);
  mem(`memory: ${r.options.many} instances`, r.memory.many);
  const s = 'start and config test';
  rows.push({ section: s, figure: `exec -> VI_1 BACKUP (median of ${r.options.startRuns})`, unit: 'ms', vigil: r.start.vigil.median, keepalived: r.start.keepalived.median, note: `runs vigil ${r.start.vigil.backupMs.map((x) => x.toFixed(0)).join(' ')}` });
  rows.push({ section: s, figure: 'exec -> both instances BACKUP', unit: 'ms', vigil: r.start.vigil.allMedian, keepalived: r.start.keepalived.allMedian });
  rows.push({ section: s, figure: `-t -f example (median of ${r.options.testRuns})`, unit: 'ms', vigil: r.configTest.vigil.median, keepalived: r.configTest.keepalived.median, note: `ip netns exec itself: ${r.configTest.netnsExec.median.toFixed(1)} ms, in both` });
  const idle = r.idleCpuPct;
  rows.push({ section: 'idle CPU', figure: `1 instance Master, first ${r.options.idleS} s`, unit: 'ms/s', vigil: idle.afterStart.vigil * 10, keepalived: idle.afterStart.keepalived * 10, note: 'CPU ms per s; 1.0 = 0.1% of a core; from 3 s after MASTER' });
  rows.push({ section: 'idle CPU', figure: `1 instance Master, next ${r.options.idleS} s`, unit: 'ms/s', vigil: idle.steady.vigil * 10, keepalived: idle.steady.keepalived * 10, note: 'the steady state (the goal figure)' });
  const race = 'mixed pair started together (vigil 200, keepalived 150, nopreempt)';
  const med = (f: (x: RaceRound) => number) => median(r.race.rounds.map(f));
  rows.push({ section: race, figure: 'exec -> BACKUP (median)', unit: 'ms', vigil: med((x) => x.backupMs.vigil), keepalived: med((x) => x.backupMs.keepalived) });
  rows.push({ section: race, figure: 'exec -> final state (median)', unit: 'ms', vigil: med((x) => x.finalMs.vigil), keepalived: med((x) => x.finalMs.keepalived) });
  rows.push({ section: race, figure: 'higher priority ended Master', unit: 'rounds', vigil: r.race.higherWon, keepalived: null, note: `of ${r.race.rounds.length}; Masters: ${r.race.rounds.map((x) => x.master).join(', ')}` });
  printRows(rows);
  console.log('\nfoot   PSS splits each shared page among every process mapping it; this harness is node, so vigil\'s measured PSS is lowered by');
  console.log("foot   the harness's (and any other node's) share of node's text. 'alone' counts each physical page the daemon maps once");
  console.log('foot   (/proc/PID/pagemap): its PSS on a host where nothing else maps the same files. Figures from a busy shared machine.');
  for (const n of r.notes) console.log(`foot   note: ${n}`);
}

export function saveFootprint(r: FootprintResult, labFile?: string): string {
  return savePart('footprint', r, labFile);
}
