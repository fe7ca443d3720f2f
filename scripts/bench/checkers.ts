// The health-checker half of `npm run bench` (issue 12): what checking 1,000 real servers every
// second costs the daemon, whether its VRRP adverts stay on time meanwhile, and how fast it
// notices a dead real server next to HAProxy with the same interval and fall count.
//
//   watch 192.0.2.2 --eth0-- lb 192.0.2.1 (VRRP Master, VIP 192.0.2.100) --eth1-- rs
//                             198.51.100.1                     198.51.100.11..20 (+ .200)
//
// rs: one HAProxy (nbthread 1, C, so the servers are not the bottleneck) answers 200 on 100
// ports (20000..20099) of each of ten addresses: 1,000 real servers. The detection server,
// 198.51.100.200:8080, is a separate Node HTTP server (test/lib/fixtures/http-name-server.mjs)
// so it can be killed by PID and started again.
// watch: tcpdump for the Master's adverts, on another namespace's end of the wire.
//
// One daemon after another in lb, each with the same VRRP instance (advert_int 1):
//   baseline  no virtual server
//   tcp       10 virtual servers x 100 real servers, TCP_CHECK, delay_loop 1 (+ the detection
//             server: TCP_CHECK retry 2 delay_before_retry 1); then the detection trials
//   http      the same 1,000 with HTTP_GET { url { path / status_code 200 } }, when this
//             build's `vigil -t` accepts it
// For each: warm-up, then CPU (utime + stime of every process of the daemon, /proc/PID/stat)
// over the window, PSS (smaps_rollup) and RSS at its end; the checker's share is the figure
// minus the baseline's. Adverts: |gap - 1 s| between consecutive adverts, from the end of the
// warm-up to the end of the phase.
//
// Detection: HAProxy in lb checks the same server (`check inter 1s fall 3 rise 1`); the server
// is SIGKILLed at a random phase, and the time to each one's DOWN line is taken from its log
// (vigil's `removing real server`, HAProxy's `Server detect/dead is DOWN` on stderr, arrival
// time of the line here). Then the server is started again and both must see it UP.
//
// Safety: namespaces of this process only (Lab, prefix vg<pid>), documentation-range addresses,
// every process ended by PID, every namespace removed at the end, on failure and on Ctrl-C.
import { execFileSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, release, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Lab, stopChild, waitForOutput } from '../../test/lib/netns.ts';
import {
  processTree,
  readAdverts,
  root,
  savePart,
  sleep,
  startCapture,
  stopCapture,
  summarize,
  track,
  untrack,
  VIGIL,
  type Summary,
} from './lab.ts';

const NAME_SERVER = fileURLToPath(new URL('../../test/lib/fixtures/http-name-server.mjs', import.meta.url));
const log = (s: string) => console.log(`checks ${s}`);

const LB_FRONT = '192.0.2.1';
const WATCH = '192.0.2.2';
const VIP = '192.0.2.100';
const LB_BACK = '198.51.100.1';
/** HAProxy checks from its own address (`source`), so the wire tells its attempts from vigil's. */
const HAPROXY_SRC = '198.51.100.2';
const ADDRESSES = 10;
const PORTS = 100;
const FIRST_PORT = 20000;
const rsAddr = (a: number) => `198.51.100.${11 + a}`;
const DEAD = { ip: '198.51.100.200', port: 8080 };

export type PhaseId = 'baseline' | 'tcp' | 'http';

export interface Phase {
  id: PhaseId;
  label: string;
  /** Real servers checked (not counting the detection server). */
  servers: number;
  /** null: the phase did not run (see note). */
  cpuPct: number | null;
  pssMiB: number | null;
  rssMiB: number | null;
  processes: number | null;
  /** What they were at the end of the window (/proc/PID/cmdline, shortened). */
  processNames?: string[];
  /** Minus the baseline's: what the checkers cost. */
  checkerCpuPct: number | null;
  checkerPssMiB: number | null;
  checkerRssMiB: number | null;
  /** The real-server HAProxy's CPU over the same window, % of one core (context: not the
   * bottleneck). */
  responderCpuPct: number | null;
  /** |advert gap - 1000 ms|, ms, over the CPU window. */
  adverts: Summary | null;
  /** The gaps furthest from 1 s (ms), with when they ended (s into the window): a late advert
   * followed by an early one shows a timer that catches up. */
  worstAdverts?: Array<{ atS: number; gapMs: number }>;
  windowS: number;
  note?: string;
}

export interface Detection {
  /** Kill -> DOWN line; and kill -> the first refused attempt of each (the RST the dead
   * server's kernel sent back, tcpdump in rs), null when the capture missed it. */
  trials: Array<{ vigilMs: number; haproxyMs: number; vigilFirstFailMs: number | null; haproxyFirstFailMs: number | null }>;
  vigil: { median: number; p90: number } | null;
  haproxy: { median: number; p90: number } | null;
  ratioMedian: number | null;
  ratioP90: number | null;
  /** First refused attempt -> DOWN line: the fall-count mechanism alone, without the phase of
   * the kill in the check cycle (which is random and differs between the two). */
  afterFirstFailure: { vigil: { median: number; p90: number }; haproxy: { median: number; p90: number }; ratioMedian: number; ratioP90: number } | null;
  vigilSettings: string;
  haproxySettings: string;
  /** The Master's adverts while the trials ran (removals and re-adds with 1,000 checks going):
   * |gap - 1000 ms|, ms. */
  adverts: Summary | null;
  worstAdverts?: Array<{ atS: number; gapMs: number }>;
  note?: string;
}

export interface CheckersResult {
  date: string;
  machine: { cpus: number; haproxy: string; commit: string; kernel: string; loadavgBefore: number[]; loadavgAfter: number[] };
  setup: { servers: number; addresses: number; portsPerAddress: number; warmupS: number; windowS: number; trials: number };
  phases: Phase[];
  detection: Detection;
}

export interface CheckersOptions {
  warmupS?: number;
  windowS?: number;
  trials?: number;
}

export function checkersToolsInstalled(): string | null {
  for (const [cmd, args] of [['haproxy', ['-v']], ['tcpdump', ['--version']], ['nft', ['--version']]] as const) {
    try {
      execFileSync(cmd, [...args], { stdio: 'ignore' });
    } catch (e) {
      if ((e as { code?: string }).code === 'ENOENT') return cmd;
    }
  }
  return null;
}

// ---- the daemon's processes, from /proc ----
function ticks(pids: number[]): Map<number, number> {
  const t = new Map<number, number>();
  for (const pid of pids) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      t.set(pid, Number(f[11]) + Number(f[12])); // utime, stime: threads (the probe worker) included
    } catch {
      // exited
    }
  }
  return t;
}

function memory(pids: number[]): { pssKiB: number; rssKiB: number } {
  let pssKiB = 0;
  let rssKiB = 0;
  for (const pid of pids) {
    try {
      pssKiB += Number(/^Pss:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'))?.[1] ?? 0);
      rssKiB += Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);
    } catch {
      // exited
    }
  }
  return { pssKiB, rssKiB };
}

function cmdline(pid: number): string {
  try {
    const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
    return argv.map((a) => a.replace(/^.*\//, '')).join(' ').slice(0, 80);
  } catch {
    return `${pid} (exited)`;
  }
}

const CLK_TCK = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;

/** CPU (% of one core) of each process tree over `ms`; the trees are taken at the start and
 * again at the end, so a process born in the window counts from zero. */
async function cpuOver(roots: number[], ms: number): Promise<{ cpuPct: number[]; pids: number[][] }> {
  const before = roots.map((r) => ticks(processTree(r)));
  const t0 = performance.now();
  await sleep(ms);
  const secs = (performance.now() - t0) / 1000;
  const pids = roots.map((r) => processTree(r));
  const cpuPct = pids.map((p, i) => {
    let n = 0;
    for (const [pid, t] of ticks(p)) n += t - (before[i]?.get(pid) ?? 0);
    return (n / CLK_TCK / secs) * 100;
  });
  return { cpuPct, pids };
}

// ---- logs, line by line with their arrival times ----
interface Line {
  at: number;
  text: string;
}
interface Lines {
  all: Line[];
  /** The first line from index `from` on that matches, as soon as it arrives. */
  wait(re: RegExp, from: number, ms: number, what: string): Promise<Line>;
  tail(): string;
}

function lines(child: ChildProcess, who: string): Lines {
  const all: Line[] = [];
  let partial = '';
  const waiters = new Set<() => void>();
  const onData = (d: Buffer) => {
    const at = Date.now();
    const text = partial + d.toString();
    const parts = text.split('\n');
    partial = parts.pop() ?? '';
    for (const p of parts) all.push({ at, text: p });
    for (const w of [...waiters]) w();
  };
  child.stdout?.on('data', onData);
  child.stderr?.on('data', onData);
  const tail = () => all.slice(-30).map((l) => l.text).join('\n');
  return {
    all,
    tail,
    wait: (re, from, ms, what) =>
      new Promise<Line>((resolve, reject) => {
        const check = () => {
          const hit = all.slice(from).find((l) => re.test(l.text));
          if (!hit) return false;
          done();
          resolve(hit);
          return true;
        };
        const timer = setTimeout(() => {
          done();
          reject(new Error(`${who}: timed out after ${ms} ms waiting for ${what}; log tail:\n${tail()}`));
        }, ms);
        const onExit = () => {
          done();
          reject(new Error(`${who} exited (${child.exitCode ?? child.signalCode}) while waiting for ${what}; log tail:\n${tail()}`));
        };
        const done = () => {
          clearTimeout(timer);
          waiters.delete(check);
          child.off('exit', onExit);
        };
        if (check()) return;
        waiters.add(check);
        child.once('exit', onExit);
      }),
  };
}

// ---- configurations ----
function responderConf(): string {
  const binds = Array.from({ length: ADDRESSES }, (_, a) => `    bind ${rsAddr(a)}:${FIRST_PORT}-${FIRST_PORT + PORTS - 1}`);
  return `global
    maxconn 4000
    nbthread 1
defaults
    mode http
    timeout connect 5s
    timeout client 10s
    timeout server 10s
frontend www
${binds.join('\n')}
    http-request return status 200 content-type text/plain string ok
`;
}

// HAProxy's side of the detection race: a layer-4 check (connect only), as TCP_CHECK
function haproxyConf(): string {
  return `global
    maxconn 100
defaults
    mode tcp
    timeout connect 1s
    timeout client 10s
    timeout server 10s
    timeout check 1s
listen detect
    bind 127.0.0.1:9100
    server dead ${DEAD.ip}:${DEAD.port} check inter 1s fall 3 rise 1 source ${HAPROXY_SRC}
`;
}

const VIGIL_DETECT = 'delay_loop 1, TCP_CHECK { connect_timeout 1 retry 2 delay_before_retry 1 }';
const HAPROXY_DETECT = 'check inter 1s fall 3 rise 1 (layer-4 check, timeout check 1s)';

function checker(kind: 'tcp' | 'http'): string {
  return kind === 'tcp'
    ? 'TCP_CHECK {\n            connect_timeout 1\n        }'
    : 'HTTP_GET {\n            url {\n                path /\n                status_code 200\n            }\n            connect_timeout 1\n        }';
}

export function daemonConf(kind: PhaseId): string {
  const vrrp = `global_defs {
    router_id bench-lb
}
vrrp_instance VI_1 {
    interface eth0
    virtual_router_id 51
    priority 150
    advert_int 1
    virtual_ipaddress {
        ${VIP}/24
    }
}
`;
  if (kind === 'baseline') return vrrp;
  const vs = Array.from({ length: ADDRESSES }, (_, a) => {
    const rs = Array.from({ length: PORTS }, (_, p) => `    real_server ${rsAddr(a)} ${FIRST_PORT + p} {
        weight 1
        ${checker(kind)}
    }
`).join('');
    return `virtual_server ${VIP} ${8000 + a} {
    delay_loop 1
    lb_algo rr
    lb_kind NAT
    protocol TCP
${rs}}
`;
  }).join('');
  // the detection server (TCP phase only): 3 consecutive failures at 1 s, as HAProxy's fall 3
  const detect =
    kind === 'tcp'
      ? `virtual_server ${VIP} 9000 {
    delay_loop 1
    lb_algo rr
    lb_kind NAT
    protocol TCP
    real_server ${DEAD.ip} ${DEAD.port} {
        weight 1
        TCP_CHECK {
            connect_timeout 1
            retry 2
            delay_before_retry 1
        }
    }
}
`
      : '';
  return vrrp + vs + detect;
}

/** null when this build's `vigil -t` takes the config without calling a checker unsupported;
 * else why not. */
function unsupported(conf: string): string | null {
  try {
    const out = execFileSync(process.execPath, [VIGIL, '-t', '-f', conf], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    return /not supported|unsupported/i.test(out) ? out.trim().split('\n').find((l) => /support/i.test(l)) ?? 'unsupported' : null;
  } catch (e) {
    const x = e as { stdout?: string; stderr?: string };
    return `${x.stdout ?? ''}${x.stderr ?? ''}`.trim().split('\n').slice(0, 3).join(' ') || 'vigil -t failed';
  }
}

/** The Master's adverts captured between `from` and `to` (ms, wall clock): |gap - 1 s| for
 * each pair of consecutive ones, and the five worst with when they happened. */
function advertTiming(pcap: string, from: number, to: number): { summary: Summary; worst: Array<{ atS: number; gapMs: number }> } {
  const ts = readAdverts(pcap)
    .filter((a) => a.src === LB_FRONT && a.vrid === 51 && a.ts / 1000 >= from && a.ts / 1000 <= to)
    .map((a) => a.ts / 1000);
  const gaps = ts.slice(1).map((t, i) => ({ atS: (t - from) / 1000, gapMs: t - (ts[i] ?? t) }));
  const dev = (g: { gapMs: number }) => Math.abs(g.gapMs - 1000);
  const worst = [...gaps].sort((a, b) => dev(b) - dev(a)).slice(0, 5).map((g) => ({ atS: Number(g.atS.toFixed(1)), gapMs: Number(g.gapMs.toFixed(2)) }));
  return { summary: summarize(gaps.map(dev)), worst };
}

const pctOf = (xs: number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))] ?? NaN;
};

function version(cmd: string, args: string[]): string {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).split('\n')[0] ?? '';
  } catch {
    return '';
  }
}

export async function benchCheckers(opts: CheckersOptions = {}): Promise<CheckersResult> {
  const warmupS = opts.warmupS ?? 5;
  const windowS = opts.windowS ?? 30;
  const trials = opts.trials ?? 15;
  const loadavgBefore = loadavg();
  const lab = track(new Lab());
  const dir = mkdtempSync(join(tmpdir(), 'vigil-checkers-'));
  // Ctrl-C: lab.ts's handler removes the lab and exits; the files go on the way out
  const removeDir = () => rmSync(dir, { recursive: true, force: true });
  process.once('exit', removeDir);
  const phases: Phase[] = [];
  const detection: Detection = { trials: [], vigil: null, haproxy: null, ratioMedian: null, ratioP90: null, afterFirstFailure: null, adverts: null, vigilSettings: VIGIL_DETECT, haproxySettings: HAPROXY_DETECT };
  try {
    await run(lab, dir, phases, detection, { warmupS, windowS, trials });
  } finally {
    await lab.cleanup();
    untrack(lab);
    process.off('exit', removeDir);
    removeDir();
  }
  const result: CheckersResult = {
    date: new Date().toISOString(),
    machine: {
      cpus: cpus().length,
      haproxy: version('haproxy', ['-v']),
      commit: version('git', ['-C', root, 'describe', '--always', '--dirty']),
      kernel: release(),
      loadavgBefore,
      loadavgAfter: loadavg(),
    },
    setup: { servers: ADDRESSES * PORTS, addresses: ADDRESSES, portsPerAddress: PORTS, warmupS, windowS, trials },
    phases,
    detection,
  };
  printCheckers(result);
  return result;
}

async function run(lab: Lab, dir: string, phases: Phase[], detection: Detection, o: Required<CheckersOptions>): Promise<void> {
  const lb = lab.addNamespace('lb');
  const watch = lab.addNamespace('watch');
  const rs = lab.addNamespace('rs');
  lab.veth(lb, 'eth0', watch, 'eth0');
  lab.veth(lb, 'eth1', rs, 'eth0');
  lab.exec(lb, 'ip', ['addr', 'add', `${LB_FRONT}/24`, 'dev', 'eth0']);
  lab.exec(lb, 'ip', ['addr', 'add', `${LB_BACK}/24`, 'dev', 'eth1']);
  lab.exec(lb, 'ip', ['addr', 'add', `${HAPROXY_SRC}/24`, 'dev', 'eth1']);
  lab.exec(watch, 'ip', ['addr', 'add', `${WATCH}/24`, 'dev', 'eth0']);
  for (let a = 0; a < ADDRESSES; a++) lab.exec(rs, 'ip', ['addr', 'add', `${rsAddr(a)}/24`, 'dev', 'eth0']);
  lab.exec(rs, 'ip', ['addr', 'add', `${DEAD.ip}/24`, 'dev', 'eth0']);
  lab.exec(rs, 'sysctl', ['-q', '-w', 'net.core.somaxconn=4096']);

  const responderCfg = join(dir, 'responder.cfg');
  writeFileSync(responderCfg, responderConf());
  const responder = lab.spawn(rs, 'haproxy', ['-db', '-f', responderCfg]);
  const startDead = async (): Promise<ChildProcess> => {
    const c = lab.spawn(rs, process.execPath, [NAME_SERVER, 'dead', DEAD.ip, String(DEAD.port)]);
    await waitForOutput(c, /listening/, 10_000);
    return c;
  };
  let dead = await startDead();
  await sleep(500);
  if (responder.exitCode !== null) throw new Error(`the real-server HAProxy exited ${responder.exitCode}`);

  const pcap = join(dir, 'adverts.pcap');
  const capture = startCapture(lab, watch, 'eth0', pcap);
  await sleep(1000); // tcpdump listening

  let base: Phase | undefined;
  for (const id of ['baseline', 'tcp', 'http'] as const) {
    const servers = id === 'baseline' ? 0 : ADDRESSES * PORTS;
    const label = id === 'baseline' ? 'no virtual server (VRRP only)' : `${servers.toLocaleString('en-US')} x ${id === 'tcp' ? 'TCP_CHECK' : 'HTTP_GET'}, delay_loop 1`;
    const phase: Phase = { id, label, servers, cpuPct: null, pssMiB: null, rssMiB: null, processes: null, checkerCpuPct: null, checkerPssMiB: null, checkerRssMiB: null, responderCpuPct: null, adverts: null, windowS: o.windowS };
    phases.push(phase);
    const conf = join(dir, `${id}.conf`);
    writeFileSync(conf, daemonConf(id));
    const why = unsupported(conf);
    if (why) {
      phase.note = id === 'http' ? `HTTP_GET: not supported by this build (${why})` : `vigil -t: ${why}`;
      log(`${id}: skipped: ${phase.note}`);
      continue;
    }
    let haproxy: ChildProcess | undefined;
    let haproxyLog: Lines | undefined;
    let rsts: Lines | undefined;
    let dump: ChildProcess | undefined;
    if (id === 'tcp') {
      // the dead server's refusals, with the kernel's capture times (-tt: epoch seconds)
      dump = lab.spawn(rs, 'tcpdump', ['-l', '-n', '-tt', '-i', 'eth0', `src host ${DEAD.ip} and src port ${DEAD.port} and tcp[tcpflags] & tcp-rst != 0`]);
      rsts = lines(dump, 'tcpdump (rs)');
      // HAProxy first, so its checks have settled when the trials start
      const cfg = join(dir, 'detect.cfg');
      writeFileSync(cfg, haproxyConf());
      haproxy = lab.spawn(lb, 'haproxy', ['-db', '-f', cfg]);
      haproxyLog = lines(haproxy, 'haproxy');
    }
    const daemon = lab.spawn(lb, process.execPath, [VIGIL, '-n', '-l', '-G', '-f', conf, '-p', join(dir, `${id}.pid`)]);
    const dlog = lines(daemon, `vigil (${id})`);
    try {
      await dlog.wait(/\(VI_1\) Entering MASTER STATE/, 0, 20_000, 'MASTER');
      if (id !== 'baseline') await dlog.wait(/LVS: data plane holds \d+ service/, 0, 60_000, 'the first data plane apply');
      await sleep(o.warmupS * 1000);
      const from = Date.now();
      const pid = daemon.pid ?? -1;
      const { cpuPct, pids } = await cpuOver([pid, responder.pid ?? -1], o.windowS * 1000);
      const windowEnd = Date.now();
      const mem = memory(pids[0] ?? []);
      phase.cpuPct = cpuPct[0] ?? null;
      phase.responderCpuPct = cpuPct[1] ?? null;
      phase.processes = pids[0]?.length ?? null;
      phase.processNames = (pids[0] ?? []).map(cmdline);
      phase.pssMiB = mem.pssKiB / 1024;
      phase.rssMiB = mem.rssKiB / 1024;
      const down = dlog.all.filter((l) => /(removing|disabling) real server/.test(l.text));
      if (id !== 'baseline' && down.length > 0) phase.note = `${down.length} real server(s) went down during the run: ${down[0]?.text}`;
      let trialsFrom = 0;
      let trialsTo = 0;
      if (id === 'tcp' && haproxy && haproxyLog) {
        trialsFrom = Date.now();
        const t = await detectionTrials(o.trials, () => dead, startDead, dlog, haproxyLog, rsts);
        trialsTo = Date.now();
        dead = t.dead;
        detection.trials = t.trials;
      }
      await sleep(300); // the last advert reaches the file (tcpdump -U)
      const a = advertTiming(pcap, from, windowEnd);
      phase.adverts = a.summary;
      phase.worstAdverts = a.worst;
      if (trialsTo > 0) {
        const d = advertTiming(pcap, trialsFrom, trialsTo);
        detection.adverts = d.summary;
        detection.worstAdverts = d.worst;
      }
      if (id === 'baseline') base = phase;
      else if (base?.cpuPct != null && base.pssMiB != null && base.rssMiB != null) {
        phase.checkerCpuPct = (phase.cpuPct ?? NaN) - base.cpuPct;
        phase.checkerPssMiB = (phase.pssMiB ?? NaN) - base.pssMiB;
        phase.checkerRssMiB = (phase.rssMiB ?? NaN) - base.rssMiB;
      }
      if (phase.adverts.max > 2) log(`${label}: the adverts' gaps furthest from 1 s: ${a.worst.map((g) => `${g.gapMs} ms at ${g.atS} s`).join(', ')}`);
      log(
        `${label}: daemon ${phase.cpuPct?.toFixed(1)}% of a core, PSS ${phase.pssMiB.toFixed(1)} MiB, RSS ${phase.rssMiB.toFixed(1)} MiB (${phase.processes} processes); responder ${phase.responderCpuPct?.toFixed(1)}%; adverts n=${phase.adverts.n} p99 |gap-1s| ${phase.adverts.p99.toFixed(2)} ms`,
      );
    } catch (e) {
      phase.note = `failed: ${(e as Error).message.split('\n').slice(0, 4).join(' ')}`;
      log(`${id}: ${phase.note}`);
      if (id === 'tcp') detection.note = phase.note;
    } finally {
      await stopChild(daemon);
      if (haproxy) await stopChild(haproxy);
      if (dump) await stopChild(dump, 'SIGINT');
    }
  }
  await stopCapture(capture);
  await stopChild(dead);
  await stopChild(responder);

  const v = detection.trials.map((t) => t.vigilMs);
  const h = detection.trials.map((t) => t.haproxyMs);
  if (v.length > 0) {
    detection.vigil = { median: pctOf(v, 50), p90: pctOf(v, 90) };
    detection.haproxy = { median: pctOf(h, 50), p90: pctOf(h, 90) };
    detection.ratioMedian = detection.vigil.median / detection.haproxy.median;
    detection.ratioP90 = detection.vigil.p90 / detection.haproxy.p90;
  }
  const paired = detection.trials.filter((t) => t.vigilFirstFailMs !== null && t.haproxyFirstFailMs !== null);
  if (paired.length > 0) {
    const va = paired.map((t) => t.vigilMs - (t.vigilFirstFailMs ?? 0));
    const ha = paired.map((t) => t.haproxyMs - (t.haproxyFirstFailMs ?? 0));
    const vigil = { median: pctOf(va, 50), p90: pctOf(va, 90) };
    const haproxy = { median: pctOf(ha, 50), p90: pctOf(ha, 90) };
    detection.afterFirstFailure = { vigil, haproxy, ratioMedian: vigil.median / haproxy.median, ratioP90: vigil.p90 / haproxy.p90 };
  }
}

const RS_DOWN = new RegExp(`(removing|disabling) real server \\[${DEAD.ip.replaceAll('.', '\\.')}\\]:tcp:${DEAD.port}`);
const RS_UP = new RegExp(`(enabling|adding) real server \\[${DEAD.ip.replaceAll('.', '\\.')}\\]:tcp:${DEAD.port}`);
const HA_DOWN = /Server detect\/dead is DOWN/;
const HA_UP = /Server detect\/dead is UP/;

/** Kill the detection server at a random phase of both checkers' 1 s cycles, time each one's
 * DOWN line, start it again, wait for both to see it UP. */
async function detectionTrials(
  n: number,
  current: () => ChildProcess,
  restart: () => Promise<ChildProcess>,
  vigil: Lines,
  haproxy: Lines,
  rsts?: Lines,
): Promise<{ trials: Detection['trials']; dead: ChildProcess }> {
  const trials: Detection['trials'] = [];
  let dead = current();
  for (let i = 1; i <= n; i++) {
    // any phase of both checkers' cycles (their next check is 0..1 s away either way)
    await sleep(200 + Math.random() * 1000);
    const vFrom = vigil.all.length;
    const hFrom = haproxy.all.length;
    const at = Date.now();
    dead.kill('SIGKILL');
    const [vd, hd] = await Promise.all([
      vigil.wait(RS_DOWN, vFrom, 15_000, `trial ${i}: the detection server removed`),
      haproxy.wait(HA_DOWN, hFrom, 15_000, `trial ${i}: the detection server DOWN`),
    ]);
    await sleep(200); // the capture's last lines
    const firstRst = (to: string): number | null => {
      for (const l of rsts?.all ?? []) {
        const m = /^(\d+\.\d+) IP [\d.]+ > ([\d.]+)\.\d+:/.exec(l.text);
        const t = Number(m?.[1]) * 1000;
        if (m && m[2] === to && t >= at) return t - at;
      }
      return null;
    };
    const t = { vigilMs: vd.at - at, haproxyMs: hd.at - at, vigilFirstFailMs: firstRst(LB_BACK), haproxyFirstFailMs: firstRst(HAPROXY_SRC) };
    trials.push(t);
    const ms = (x: number | null) => (x === null ? '?' : x.toFixed(0));
    log(`detection trial ${i}: vigil ${t.vigilMs} ms (first refused attempt at ${ms(t.vigilFirstFailMs)} ms), HAProxy ${t.haproxyMs} ms (at ${ms(t.haproxyFirstFailMs)} ms)`);
    const vUp = vigil.all.length;
    const hUp = haproxy.all.length;
    dead = await restart();
    await Promise.all([
      vigil.wait(RS_UP, vUp, 15_000, `trial ${i}: the detection server back`),
      haproxy.wait(HA_UP, hUp, 15_000, `trial ${i}: the detection server UP`),
    ]);
  }
  return { trials, dead };
}

function printCheckers(r: CheckersResult): void {
  const f = (x: number | null | undefined, d = 1) => (x === null || x === undefined || !Number.isFinite(x) ? '-' : x.toFixed(d));
  console.log(
    `\nhealth checkers: ${r.setup.servers.toLocaleString('en-US')} real servers (${r.setup.addresses} addresses x ${r.setup.portsPerAddress} ports), ` +
      `${r.setup.windowS} s window after ${r.setup.warmupS} s warm-up, VRRP Master advert_int 1 in the same daemon; ${r.machine.cpus} cores; ` +
      `load average before ${r.machine.loadavgBefore.map((x) => x.toFixed(2)).join(' ')}, after ${r.machine.loadavgAfter.map((x) => x.toFixed(2)).join(' ')}; ${r.machine.commit}`,
  );
  const w = Math.max(28, ...r.phases.map((p) => p.label.length));
  console.log(
    `${'daemon running'.padEnd(w)}  ${'CPU %'.padStart(6)} ${'checker'.padStart(8)} ${'PSS MiB'.padStart(8)} ${'checker'.padStart(8)} ${'RSS MiB'.padStart(8)} ${'checker'.padStart(8)} ${'rs CPU%'.padStart(8)} ${'adverts'.padStart(7)} ${'p99 dev'.padStart(8)} ${'max dev'.padStart(8)}  note`,
  );
  for (const p of r.phases) {
    if (p.cpuPct === null) {
      console.log(`${p.label.padEnd(w)}  ${p.note ?? ''}`);
      continue;
    }
    console.log(
      `${p.label.padEnd(w)}  ${f(p.cpuPct).padStart(6)} ${f(p.checkerCpuPct).padStart(8)} ${f(p.pssMiB).padStart(8)} ${f(p.checkerPssMiB).padStart(8)} ${f(p.rssMiB).padStart(8)} ${f(p.checkerRssMiB).padStart(8)} ${f(p.responderCpuPct).padStart(8)} ${String(p.adverts?.n ?? '-').padStart(7)} ${f(p.adverts?.p99, 2).padStart(8)} ${f(p.adverts?.max, 2).padStart(8)}  ${p.note ?? ''}`,
    );
  }
  console.log('(CPU: % of one core, every process of the daemon; checker: minus the no-virtual-server run; adverts: |gap - 1 s| in ms, goal p99 < 2)');
  const d = r.detection;
  console.log(`\ndead real server -> marked down, ${d.trials.length} trials (SIGKILL at a random phase; goal: vigil within 10% of HAProxy)`);
  console.log(`  vigil   ${d.vigilSettings}: median ${f(d.vigil?.median, 0)} ms  p90 ${f(d.vigil?.p90, 0)} ms`);
  console.log(`  HAProxy ${d.haproxySettings}: median ${f(d.haproxy?.median, 0)} ms  p90 ${f(d.haproxy?.p90, 0)} ms`);
  const a = d.afterFirstFailure;
  if (a) console.log(`  first refused attempt -> down (no kill phase): vigil median ${f(a.vigil.median, 0)} ms p90 ${f(a.vigil.p90, 0)} ms, HAProxy median ${f(a.haproxy.median, 0)} ms p90 ${f(a.haproxy.p90, 0)} ms; ratio median ${a.ratioMedian.toFixed(2)}x p90 ${a.ratioP90.toFixed(2)}x`);
  if (d.adverts) console.log(`  the Master's adverts meanwhile: n=${d.adverts.n}, |gap - 1 s| p99 ${f(d.adverts.p99, 2)} ms, max ${f(d.adverts.max, 2)} ms`);
  console.log(`  ratio vigil / HAProxy: median ${d.ratioMedian === null ? '-' : `${d.ratioMedian.toFixed(2)}x`}  p90 ${d.ratioP90 === null ? '-' : `${d.ratioP90.toFixed(2)}x`}${d.note ? `  (${d.note})` : ''}`);
}

/** Into the lab part's JSON of this run when there is one (key `checkers`), else its own file. */
export function saveCheckers(r: CheckersResult, labFile?: string): string {
  return savePart('checkers', r, labFile);
}

// `node --import tsx scripts/bench/checkers.ts [--trials N] [--window S]`: this part alone
if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const argv = process.argv.slice(2);
  const arg = (k: string) => (argv.includes(k) ? Number(argv[argv.indexOf(k) + 1]) : undefined);
  console.log(`checks results in ${saveCheckers(await benchCheckers({ trials: arg('--trials'), windowS: arg('--window'), warmupS: arg('--warmup') }))}`);
}
