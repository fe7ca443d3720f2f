// The load balancer half of `npm run bench` (issue 11): NEW connections per second through the
// virtual service 192.0.2.100:80, every configuration in the same run and the same lab
// (test/lib/lvs-lab.ts: a client, lb1, real servers rs1..rs3 on the back segment):
//
//   (a) direct     the client routed to one real server through lb1 as a plain router (no NAT)
//   (b) handwritten a minimal nftables DNAT ruleset in lb1 (numgen inc mod N map) -- the ceiling
//                  for any nftables data plane
//   (c) vigil      vigil in lb1 from keepalived.conf (virtual_server, wrr, TCP_CHECKs)
//   (d) HAProxy    HAProxy in lb1, TCP mode, roundrobin, health checks
//   then (c) and (b) with persistence (persistence_timeout 300) and with 100 real servers.
//
// Load: wrk in the client's namespace, `Connection: close` (every request a new connection),
// a short warm-up run, then RUNS runs of SECONDS; the median of each figure over the runs.
// Real servers: one HAProxy per real server namespace answering every request itself
// (`http-request return`, body = the address it was reached on), bound to 0.0.0.0 so the 100
// server case only adds addresses (198.51.100.11..110, spread over rs1..rs3).
//
// Safety: namespaces of this process only (Lab, prefix vg<pid>), documentation-range addresses,
// every process ended by PID and every namespace removed at the end, on failure and on Ctrl-C.
import { execFileSync, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, release } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startVigil, type DaemonHandle } from '../../test/lib/daemon.ts';
import { balancerConf, GATEWAY_VIP, VIP, withLvsLab, type LvsLab } from '../../test/lib/lvs-lab.ts';
import { stopChild } from '../../test/lib/netns.ts';
import { root, savePart, sleep, track, untrack } from './lab.ts';

const CLIENT = fileURLToPath(new URL('../../test/lib/fixtures/http-client.mjs', import.meta.url));
const log = (s: string) => console.log(`lvs    ${s}`);

export interface WrkRun {
  rps: number;
  p50Ms: number;
  p99Ms: number;
  requests: number;
  /** wrk's socket errors (connect + read + write + timeout) and non-2xx answers. */
  errors: number;
  /** Whole-machine CPU busy over the run, percent of all cores (/proc/stat). */
  busyPct: number;
}

export interface LvsCase {
  id: string;
  label: string;
  servers: number;
  runs: WrkRun[];
  rps: number | null;
  p50Ms: number | null;
  p99Ms: number | null;
  busyPct: number | null;
  errors: number;
  /** The sanity check before the runs: answers per real server address over 300 connections. */
  spread?: Record<string, number>;
  note?: string;
}

export interface LvsResult {
  date: string;
  machine: { cpus: number; haproxy: string; wrk: string; nft: string; commit: string; kernel: string; loadavgBefore: number[]; loadavgAfter: number[] };
  wrk: { threads: number; connections: number; seconds: number; runs: number; warmupS: number };
  cases: LvsCase[];
  ratios: Array<{ name: string; value: number | null }>;
}

export function lvsToolsInstalled(): string | null {
  for (const [cmd, args] of [['wrk', ['-v']], ['haproxy', ['-v']], ['nft', ['--version']]] as const) {
    try {
      execFileSync(cmd, [...args], { stdio: 'ignore' });
    } catch (e) {
      // wrk -v exits 1 after printing its version
      if ((e as { code?: string }).code === 'ENOENT') return cmd;
    }
  }
  return null;
}

function version(cmd: string, args: string[]): string {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).split('\n')[0] ?? '';
  } catch (e) {
    return `${(e as { stdout?: string }).stdout ?? ''}${(e as { stderr?: string }).stderr ?? ''}`.split('\n')[0] ?? '';
  }
}

// ---- wrk ----
const UNIT: Record<string, number> = { us: 0.001, ms: 1, s: 1000, m: 60_000 };
function ms(text: string | undefined): number {
  const m = /^([\d.]+)(us|ms|s|m)$/.exec(text ?? '');
  return m ? Number(m[1]) * (UNIT[m[2] as string] ?? NaN) : NaN;
}

export function parseWrk(out: string): Omit<WrkRun, 'busyPct'> {
  const p = (q: string) => ms(new RegExp(`^\\s+${q}%\\s+(\\S+)`, 'm').exec(out)?.[1]);
  const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? 0);
  return {
    rps: Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? NaN),
    p50Ms: p('50'),
    p99Ms: p('99'),
    requests: Number(/(\d+) requests in/.exec(out)?.[1] ?? NaN),
    errors: (sock ? sock.slice(1).reduce((n, x) => n + Number(x), 0) : 0) + non2xx,
  };
}

function cpuTimes(): { busy: number; total: number } {
  const f = (readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '').trim().split(/\s+/).slice(1).map(Number);
  const total = f.reduce((a, b) => a + b, 0);
  const idle = (f[3] ?? 0) + (f[4] ?? 0); // idle + iowait
  return { busy: total - idle, total };
}

const THREADS = 2;
const CONNECTIONS = 50;

async function wrk(l: LvsLab, url: string, seconds: number): Promise<WrkRun> {
  const before = cpuTimes();
  const child = l.lab.spawn(l.client, 'wrk', ['-t', String(THREADS), '-c', String(CONNECTIONS), '-d', `${seconds}s`, '--latency', '-H', 'Connection: close', url]);
  let out = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
  const after = cpuTimes();
  if (code !== 0) throw new Error(`wrk exited ${code}: ${out}`);
  const r = parseWrk(out);
  if (!Number.isFinite(r.rps)) throw new Error(`wrk printed no Requests/sec:\n${out}`);
  return { ...r, busyPct: ((after.busy - before.busy) / Math.max(1, after.total - before.total)) * 100 };
}

const median = (xs: number[]): number | null => {
  const s = xs.filter(Number.isFinite).sort((a, b) => a - b);
  if (s.length === 0) return null;
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
};

/** 300 connections with the lab's Node client: every one answered, and by which addresses. */
function spreadCheck(l: LvsLab, url: string, n = 300): Record<string, number> {
  const out = l.lab.exec(l.client, process.execPath, [CLIENT, url, String(n), '20']);
  const r = JSON.parse(out.trim().split('\n').at(-1) ?? '{}') as { counts: Record<string, number>; failed: number; errors: Record<string, number> };
  if (r.failed > 0) throw new Error(`sanity check: ${r.failed} of ${n} connections failed: ${JSON.stringify(r.errors)}`);
  return r.counts;
}

// ---- the lab's pieces ----
const rsAddr = (i: number) => `198.51.100.${11 + i}`;

function responderConf(): string {
  return `global
    maxconn 8000
    nbthread 2
defaults
    mode http
    timeout connect 5s
    timeout client 10s
    timeout server 10s
frontend www
    bind 0.0.0.0:8080
    http-request return status 200 content-type text/plain lf-string "%[dst]"
`;
}

function haproxyLbConf(servers: number): string {
  const lines = Array.from({ length: servers }, (_, i) => `    server rs${i + 1} ${rsAddr(i)}:8080 check inter 3s`);
  return `global
    maxconn 8000
defaults
    mode tcp
    timeout connect 5s
    timeout client 30s
    timeout server 30s
frontend vs
    bind ${VIP}:80
    default_backend pool
backend pool
    balance roundrobin
${lines.join('\n')}
`;
}

function handwritten(servers: number, persistent: boolean): string {
  const map = Array.from({ length: servers }, (_, i) => `${i} : ${rsAddr(i)}`).join(', ');
  const match = `ip daddr ${VIP} tcp dport 80`;
  if (!persistent) {
    return `table ip handlb {
    chain pre {
        type nat hook prerouting priority dstnat; policy accept;
        ${match} dnat to numgen inc mod ${servers} map { ${map} } : 8080
    }
}
`;
  }
  // a known client goes where the map says; a new one is scheduled and remembered
  const chains = Array.from({ length: servers }, (_, i) => `    chain b${i} {
        update @persist { ip saddr : ${rsAddr(i)} } meta l4proto tcp dnat to ${rsAddr(i)}:8080
    }
`).join('');
  const vmap = Array.from({ length: servers }, (_, i) => `${i} : goto b${i}`).join(', ');
  return `table ip handlb {
    map persist {
        type ipv4_addr : ipv4_addr
        flags dynamic,timeout
        timeout 300s
    }
    chain pre {
        type nat hook prerouting priority dstnat; policy accept;
        ${match} dnat to ip saddr map @persist : 8080
        ${match} numgen inc mod ${servers} vmap { ${vmap} }
    }
${chains}}
`;
}

function vsBlock(servers: number, persistent: boolean): string {
  const rs = Array.from({ length: servers }, (_, i) => `    real_server ${rsAddr(i)} 8080 {
        weight 1
        TCP_CHECK {
            connect_timeout 3
        }
    }
`).join('');
  return `virtual_server ${VIP} 80 {
    delay_loop 3
    lb_algo wrr
    lb_kind NAT
    protocol TCP
${persistent ? '    persistence_timeout 300\n' : ''}${rs}}
`;
}

export interface LvsOptions {
  runs?: number;
  seconds?: number;
  warmupS?: number;
}

export async function benchLvs(opts: LvsOptions = {}): Promise<LvsResult> {
  const runs = opts.runs ?? 5;
  const seconds = opts.seconds ?? 5;
  const warmupS = opts.warmupS ?? 2;
  const cases: LvsCase[] = [];
  const loadavgBefore = loadavg();
  await withLvsLab({ balancers: 1, realServers: 3 }, async (l) => {
    track(l.lab);
    try {
      await runCases(l, cases, runs, seconds, warmupS);
    } finally {
      untrack(l.lab);
    }
  });
  const get = (id: string) => cases.find((c) => c.id === id)?.rps ?? null;
  const div = (a: string, b: string) => {
    const x = get(a);
    const y = get(b);
    return x !== null && y !== null && y > 0 ? x / y : null;
  };
  const ratios = [
    { name: 'vigil / handwritten (3 servers)', value: div('vigil', 'handwritten') },
    { name: 'vigil / HAProxy (3 servers)', value: div('vigil', 'haproxy') },
    { name: 'handwritten / direct', value: div('handwritten', 'direct') },
    { name: 'vigil / handwritten, persistence', value: div('vigil-persist', 'handwritten-persist') },
    { name: 'vigil / handwritten, 100 servers', value: div('vigil-100', 'handwritten-100') },
  ];
  const result: LvsResult = {
    date: new Date().toISOString(),
    machine: {
      cpus: cpus().length,
      haproxy: version('haproxy', ['-v']),
      wrk: version('wrk', ['-v']),
      nft: version('nft', ['--version']),
      commit: version('git', ['-C', root, 'describe', '--always', '--dirty']),
      kernel: release(),
      loadavgBefore,
      loadavgAfter: loadavg(),
    },
    wrk: { threads: THREADS, connections: CONNECTIONS, seconds, runs, warmupS },
    cases,
    ratios,
  };
  printLvs(result);
  return result;
}

async function runCases(l: LvsLab, cases: LvsCase[], runs: number, seconds: number, warmupS: number): Promise<void> {
  const lb = l.lbs[0] as string;
  const sysctl = (ns: string, kv: string) => l.lab.exec(ns, 'sysctl', ['-q', '-w', kv]);
  // one client address opens every connection: a wide port range, and ports in TIME_WAIT reused
  for (const ns of [l.client, lb]) {
    sysctl(ns, 'net.ipv4.ip_local_port_range=1024 65535');
    sysctl(ns, 'net.ipv4.tcp_tw_reuse=1');
  }
  for (const ns of [l.client, lb, ...l.rs]) sysctl(ns, 'net.core.somaxconn=4096');
  // (a): the client reaches the back segment through lb1, as a plain router
  l.lab.exec(l.client, 'ip', ['route', 'add', '198.51.100.0/24', 'via', '192.0.2.1']);
  // 100 real server addresses, spread over the three real server namespaces
  for (let i = 3; i < 100; i++) l.lab.exec(l.rs[i % 3] as string, 'ip', ['addr', 'add', `${rsAddr(i)}/24`, 'dev', 'eth0']);
  const responders: ChildProcess[] = [];
  for (let i = 0; i < 3; i++) {
    const conf = join(l.dir, `rs${i + 1}.cfg`);
    writeFileSync(conf, responderConf());
    const child = l.lab.spawn(l.rs[i] as string, 'haproxy', ['-db', '-f', conf]);
    responders.push(child);
  }
  await sleep(500);
  for (const [i, c] of responders.entries()) if (c.exitCode !== null) throw new Error(`the responder in rs${i + 1} exited ${c.exitCode}`);

  // the VIPs by hand when vigil does not hold them
  const staticVips = (on: boolean) => {
    for (const [addr, dev] of [[`${VIP}/24`, 'eth0'], [`${GATEWAY_VIP}/24`, 'eth1']] as const) {
      try {
        l.lab.exec(lb, 'ip', ['addr', on ? 'add' : 'del', addr, 'dev', dev]);
      } catch (e) {
        if (on) throw e;
      }
    }
  };
  // closed connections stay in conntrack for 120 s (TIME_WAIT); at these rates the earlier runs'
  // would fill the table (262,144) and make the later cases pay for evictions: 1 s in lb1, for
  // every NAT case alike (the sysctl exists once conntrack is loaded in the namespace)
  const conntrackTimeWait = () => {
    try {
      sysctl(lb, 'net.netfilter.nf_conntrack_tcp_timeout_time_wait=1');
    } catch {
      // conntrack not loaded here (direct, HAProxy): nothing to tune
    }
  };
  const nftLoad = (text: string) => {
    const f = join(l.dir, 'handlb.nft');
    writeFileSync(f, text);
    l.lab.exec(lb, 'nft', ['-f', f]);
  };
  const nftDrop = () => {
    try {
      l.lab.exec(lb, 'nft', ['delete', 'table', 'ip', 'handlb']);
    } catch {
      // not there
    }
  };

  interface Spec {
    id: string;
    label: string;
    servers: number;
    url: string;
    setup: () => Promise<void>;
    teardown: () => Promise<void>;
    note?: string;
  }
  const nothing = () => Promise.resolve();
  const vipUrl = `http://${VIP}/`;
  const hand = (servers: number, persistent: boolean) => async () => {
    nftDrop();
    nftLoad(handwritten(servers, persistent));
  };
  const handDown = async () => nftDrop();
  let vigil: DaemonHandle | undefined;
  const vigilUp = (servers: number, persistent: boolean) => async () => {
    staticVips(false);
    const conf = join(l.dir, 'lb1.conf');
    writeFileSync(conf, balancerConf(1, vsBlock(servers, persistent)));
    vigil = startVigil(l.lab, lb, conf);
    await vigil.waitFor(/\(VI_FRONT\) Entering MASTER STATE/, 20_000);
    await vigil.waitFor(/\(VI_BACK\) Entering MASTER STATE/, 20_000);
    await vigil.waitFor(new RegExp(`LVS: data plane holds 1 service\\(s\\), ${servers} backend\\(s\\)`), 30_000);
    await sleep(1000); // gratuitous ARPs sent, first checks settled
  };
  const vigilDown = async () => {
    if (vigil) await stopChild(vigil.child);
    vigil = undefined;
    staticVips(true);
  };
  let lbProxy: ChildProcess | undefined;
  const haproxyUp = async () => {
    const conf = join(l.dir, 'lb-haproxy.cfg');
    writeFileSync(conf, haproxyLbConf(3));
    lbProxy = l.lab.spawn(lb, 'haproxy', ['-db', '-f', conf]);
    await sleep(1500);
    if (lbProxy.exitCode !== null) throw new Error(`haproxy in lb1 exited ${lbProxy.exitCode}`);
  };
  const haproxyDown = async () => {
    if (lbProxy) await stopChild(lbProxy);
    lbProxy = undefined;
  };
  const oneServer = 'one client: every connection goes to one server';
  const specs: Spec[] = [
    { id: 'direct', label: '(a) direct, lb1 routing, no NAT', servers: 1, url: `http://${rsAddr(0)}:8080/`, setup: nothing, teardown: nothing, note: 'one real server, no NAT: the ceiling' },
    { id: 'handwritten', label: '(b) hand-written nftables DNAT', servers: 3, url: vipUrl, setup: hand(3, false), teardown: handDown },
    { id: 'vigil', label: '(c) vigil (nftables, wrr, TCP_CHECK)', servers: 3, url: vipUrl, setup: vigilUp(3, false), teardown: vigilDown },
    { id: 'haproxy', label: '(d) HAProxy, TCP mode, health checks', servers: 3, url: vipUrl, setup: haproxyUp, teardown: haproxyDown },
    { id: 'handwritten-persist', label: '(b) hand-written, persistence map', servers: 3, url: vipUrl, setup: hand(3, true), teardown: handDown, note: oneServer },
    { id: 'vigil-persist', label: '(c) vigil, persistence_timeout 300', servers: 3, url: vipUrl, setup: vigilUp(3, true), teardown: vigilDown, note: oneServer },
    { id: 'handwritten-100', label: '(b) hand-written, 100 real servers', servers: 100, url: vipUrl, setup: hand(100, false), teardown: handDown },
    { id: 'vigil-100', label: '(c) vigil, 100 real servers', servers: 100, url: vipUrl, setup: vigilUp(100, false), teardown: vigilDown },
  ];
  for (const sp of specs) cases.push({ id: sp.id, label: sp.label, servers: sp.servers, runs: [], rps: null, p50Ms: null, p99Ms: null, busyPct: null, errors: 0, note: sp.note });

  staticVips(true);
  // rounds: each configuration once per round, so a drift of the machine over the run spreads
  // over all of them instead of favouring whichever ran first
  for (let round = 1; round <= runs; round++) {
    for (const [k, sp] of specs.entries()) {
      const c = cases[k] as LvsCase;
      if (c.note?.startsWith('failed')) continue;
      try {
        await sp.setup();
        conntrackTimeWait();
        // every answer comes back, from the servers this configuration should reach
        if (round === 1) c.spread = spreadCheck(l, sp.url, sp.servers > 3 ? 600 : 300);
        await wrk(l, sp.url, warmupS);
        await sleep(1500); // the warm-up's TIME_WAITs expire in lb1's conntrack
        const r = await wrk(l, sp.url, seconds);
        c.runs.push(r);
        log(`round ${round} ${sp.label.padEnd(38)} ${Math.round(r.rps).toString().padStart(6)} req/s  p50 ${r.p50Ms.toFixed(2)} ms  p99 ${r.p99Ms.toFixed(2)} ms  busy ${r.busyPct.toFixed(0)}%  errors ${r.errors}${round === 1 ? `  (sanity: ${Object.keys(c.spread ?? {}).length} server address(es) answered)` : ''}`);
      } catch (e) {
        c.note = `failed: ${(e as Error).message.split('\n').slice(0, 3).join(' ')}`;
        log(`round ${round} ${sp.label}: ${c.note}`);
      } finally {
        await sp.teardown();
        await sleep(1500);
      }
    }
  }
  for (const c of cases) {
    c.rps = median(c.runs.map((x) => x.rps));
    c.p50Ms = median(c.runs.map((x) => x.p50Ms));
    c.p99Ms = median(c.runs.map((x) => x.p99Ms));
    c.busyPct = median(c.runs.map((x) => x.busyPct));
    c.errors = c.runs.reduce((n, x) => n + x.errors, 0);
  }
  staticVips(false);
  for (const c of responders) await stopChild(c);
}

function printLvs(r: LvsResult): void {
  const w = Math.max(...r.cases.map((c) => c.label.length), 20);
  console.log(`\nload balancer: new connections/s to ${VIP}:80 (wrk -t${r.wrk.threads} -c${r.wrk.connections}, Connection: close, median of ${r.wrk.runs} x ${r.wrk.seconds} s), ${r.machine.cpus} cores shared by everything; load average before ${r.machine.loadavgBefore.map((x) => x.toFixed(2)).join(' ')}, after ${r.machine.loadavgAfter.map((x) => x.toFixed(2)).join(' ')}; ${r.machine.commit}`);
  console.log(`${'configuration'.padEnd(w)}  ${'req/s'.padStart(8)} ${'p50 ms'.padStart(7)} ${'p99 ms'.padStart(7)} ${'busy%'.padStart(6)} ${'errors'.padStart(6)}  note`);
  for (const c of r.cases) {
    const f = (x: number | null, d: number) => (x === null ? '-' : x.toFixed(d));
    console.log(`${c.label.padEnd(w)}  ${f(c.rps, 0).padStart(8)} ${f(c.p50Ms, 2).padStart(7)} ${f(c.p99Ms, 2).padStart(7)} ${f(c.busyPct, 0).padStart(6)} ${String(c.errors).padStart(6)}  ${c.note ?? ''}`);
  }
  for (const x of r.ratios) console.log(`ratio ${x.name.padEnd(34)} ${x.value === null ? '-' : `${x.value.toFixed(2)}x`}`);
}

/** Into the lab part's JSON of this run when there is one (key `lvs`), else its own file. */
export function saveLvs(r: LvsResult, labFile?: string): string {
  return savePart('lvs', r, labFile);
}
