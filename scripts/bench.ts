// `npm run bench`: prints figures, asserts nothing (speed goals live here, not in tests).
//
//   codec     encode / decode throughput of typical adverts
//   sim       virtual-to-wall time ratio of the simulated LAN with a 5-router group
//   events    transition event -> notify script start, through the real plugin host (a worker
//             thread) and the built-in notify-script plugin running a real script
//   plugin    (root) a user plugin in a worker thread against one in its own process as nobody
//             (global_defs.plugin_user): event round trip and memory (PSS and RSS)
//   lab       (root, keepalived and tcpdump installed) vigil and keepalived side by side in
//             network namespaces: failover, advert timing, scale, notify latency, reload; a
//             table, and JSON under bench/results/. See BENCHMARKS.md.
//   lvs       (root, wrk and haproxy installed) the load balancer: new connections/s through
//             the virtual service for a plain router, a hand-written nftables DNAT ruleset,
//             vigil and HAProxy in the same lab; its figures go into the lab part's JSON.
//   checkers  (root, haproxy and tcpdump installed) 1,000 real servers checked every second
//             (TCP_CHECK, HTTP_GET): the daemon's CPU and memory, its VRRP Master's advert
//             timing meanwhile, and dead-server detection time against HAProxy's checks.
//
//   footprint (root, keepalived installed) issue 17's goals: memory of every process of the
//             daemon (PSS, RSS) for the example config and 1,000 instances, exec -> BACKUP, -t,
//             idle CPU, and a mixed pair started together (who ends as Master). See
//             scripts/bench/footprint.ts.
//
//   election  (root, etcd, etcdctl and nft installed) issue 15: two nodes elected on a real
//             three-member etcd (lease_ttl 3): takeover after a SIGKILL of the holder and after
//             cutting it from etcd, against the lease-TTL floor; the fence's margin and the
//             overlap of the two nodes' VIP (goal 0). See scripts/bench/election.ts.
//
//   npm run bench [-- --quick-only] [-- --trials N] [-- --lvs-only] [-- --lvs-runs N]
//                 [-- --checkers-only] [-- --checker-trials N] [-- --footprint-only] [-- --no-lvs]
//                 [-- --election-only] [-- --no-election] [-- --election-trials N]
//                 [-- --election-holder etcdctl]   (etcdctl + ip holders: checks the measuring)
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { EventBus } from '../src/bus/bus.ts';
import { PluginHost } from '../src/plugins/host.ts';
import { BUILTIN_DIR } from '../src/plugins/loader.ts';
import { decodeAdvert, encodeAdvert } from '../src/vrrp/packet.ts';
import type { Advert } from '../src/vrrp/types.ts';
import { SECOND, SimLan } from '../test/sim/lan.ts';
import { keepalivedInstalled } from './bench/lab.ts';
import { runLab } from './bench/run-lab.ts';
import { benchPluginIsolation } from './bench/plugin-isolation.ts';
import { benchLvs, lvsToolsInstalled, saveLvs } from './bench/lvs.ts';
import { benchCheckers, checkersToolsInstalled, saveCheckers } from './bench/checkers.ts';
import { benchFootprint, footprintToolsInstalled, printFootprint, saveFootprint } from './bench/footprint.ts';
import { benchElection, electionToolsInstalled, printElection, saveElection, type HolderKind } from './bench/election.ts';

function rate(n: number, ms: number): string {
  return `${Math.round((n / ms) * 1000).toLocaleString('en-US')}/s`;
}

function benchCodec(): void {
  const cases: Array<[string, Advert, { src: string; dst: string }]> = [
    [
      'v2 IPv4, 3 VIPs, password',
      {
        version: 2,
        family: 4,
        vrid: 51,
        priority: 150,
        intervalCs: 100,
        addresses: ['192.0.2.100', '192.0.2.101', '192.0.2.102'],
        authType: 'simple',
        authPassword: 'secret',
      },
      { src: '192.0.2.1', dst: '224.0.0.18' },
    ],
    [
      'v3 IPv6, 2 VIPs',
      {
        version: 3,
        family: 6,
        vrid: 52,
        priority: 100,
        intervalCs: 100,
        addresses: ['2001:db8::100', '2001:db8::101'],
        authType: 'none',
        authPassword: '',
      },
      { src: 'fe80::1', dst: 'ff02::12' },
    ],
  ];
  for (const [name, advert, ep] of cases) {
    const n = 200_000;
    let bytes = encodeAdvert(advert, ep);
    let t = performance.now();
    for (let i = 0; i < n; i++) bytes = encodeAdvert(advert, ep);
    const encMs = performance.now() - t;
    const opts = {
      family: advert.family,
      ...ep,
      ttl: 255,
      auth: { type: advert.authType, password: advert.authPassword },
    };
    t = performance.now();
    let ok = 0;
    for (let i = 0; i < n; i++) if (decodeAdvert(bytes, opts).ok) ok++;
    const decMs = performance.now() - t;
    if (ok !== n) throw new Error(`${name}: ${n - ok} decodes failed`);
    console.log(`codec  ${name.padEnd(28)} encode ${rate(n, encMs).padStart(12)}  decode ${rate(n, decMs).padStart(12)}`);
  }
}

function benchSim(): void {
  const lan = new SimLan();
  [200, 180, 160, 140, 120].forEach((priority, i) =>
    lan.addNode({ name: `R${i}`, address: `192.0.2.${i + 1}`, priority }),
  );
  lan.startAll();
  const virtual = 100_000 * SECOND;
  const heapBefore = process.memoryUsage().heapUsed;
  const t = performance.now();
  // a failover every 1,000 virtual seconds keeps every code path busy
  for (let at = 1000 * SECOND; at <= virtual; at += 1000 * SECOND) {
    lan.run(at);
    const m = lan.masters()[0];
    m?.kill();
    lan.run(at + 10 * SECOND);
    m?.start();
  }
  const ms = performance.now() - t;
  const heapMiB = (process.memoryUsage().heapUsed - heapBefore) / 2 ** 20;
  console.log(
    `sim    5 routers, ${virtual / SECOND} virtual s: ${ms.toFixed(0)} ms wall, ` +
      `${Math.round(virtual / 1000 / ms).toLocaleString('en-US')}x real time, ` +
      `${lan.packetsDelivered.toLocaleString('en-US')} packets, ${lan.transitions.length} transitions, ` +
      `heap +${heapMiB.toFixed(1)} MiB`,
  );
}

async function benchNotifyLatency(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'vigil-bench-'));
  const out = join(dir, 'starts');
  const script = join(dir, 'notify.sh');
  // the script's first act: record when it started (ns since the epoch) and which event
  writeFileSync(script, `#!/bin/sh\necho "$(date +%s%N) $4" >> ${out}\n`);
  chmodSync(script, 0o755);
  const quiet = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: (m: string) => console.error(m) };
  const bus = new EventBus();
  const host = new PluginHost({ bus, log: quiet, onAdjust: () => undefined, onFault: () => undefined, onRemoved: () => undefined });
  const n = 200;
  try {
    host.apply(
      [{ id: 'notify-script', entry: join(BUILTIN_DIR, 'notify-script', 'index.ts'), origin: 'builtin', config: { script_user: 'root', instances: { VI_1: { notify: { line: script } } } } }],
      [],
      {},
    );
    await host.ready(10_000);
    const sent = new Map<number, number>();
    for (let i = 1; i <= n; i++) {
      // the priority argument carries the event's index, so each start maps to its event
      const e = bus.publish({ type: 'instance.transition', instance: 'VI_1', vrid: 1, interface: 'eth0', from: 'backup', to: i % 2 ? 'master' : 'backup', reason: 'master-down-timer', priority: i });
      sent.set(i, Date.parse(e.time));
      // one transition at a time, as they happen on a real router: wait for this one's script
      const deadline = Date.now() + 5000;
      while (Date.now() < deadline && !readFileSync(out, { flag: 'a+', encoding: 'utf8' }).includes(` ${i}\n`)) await new Promise((r) => setTimeout(r, 2));
    }
    const lat = readFileSync(out, 'utf8')
      .trim()
      .split('\n')
      .map((l) => {
        const [ns, idx] = l.split(' ');
        return Number(ns) / 1e6 - (sent.get(Number(idx)) ?? NaN);
      })
      .sort((a, b) => a - b);
    const pct = (p: number) => lat[Math.min(lat.length - 1, Math.floor((p / 100) * lat.length))]?.toFixed(1);
    console.log(`events transition -> notify script start (${lat.length} runs, worker + spawn + sh): median ${pct(50)} ms  p99 ${pct(99)} ms  max ${lat.at(-1)?.toFixed(1)} ms`);
  } finally {
    await host.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

const argv = process.argv.slice(2);
const footprintOnly = argv.includes('--footprint-only');
const electionOnly = argv.includes('--election-only');

if (!footprintOnly && !electionOnly) {
  benchCodec();
  benchSim();
  await benchNotifyLatency();
}

const trialsArg = argv.indexOf('--trials');
const labTrials = trialsArg >= 0 ? Number(argv[trialsArg + 1]) : 10;
const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
if (footprintOnly || electionOnly) console.log(`quick  skipped: ${footprintOnly ? '--footprint-only' : '--election-only'}`);
else if (isRoot) await benchPluginIsolation();
else console.log('plugin skipped: running a plugin as nobody needs root');
const lvsOnly = argv.includes('--lvs-only');
const checkersOnly = argv.includes('--checkers-only');
const checkerTrialsArg = argv.indexOf('--checker-trials');
const lvsRunsArg = argv.indexOf('--lvs-runs');
const lvsRuns = lvsRunsArg >= 0 ? Number(argv[lvsRunsArg + 1]) : 5;
if (argv.includes('--quick-only')) {
  console.log('lab    skipped: --quick-only');
} else if (!isRoot) {
  console.log('lab    skipped: the namespace lab figures (failover, advert timing, scale, reload, notify vs keepalived, load balancer, health checkers) need root');
} else {
  let labFile: string | undefined;
  const only = lvsOnly ? '--lvs-only' : checkersOnly ? '--checkers-only' : footprintOnly ? '--footprint-only' : electionOnly ? '--election-only' : null;
  if (only) console.log(`lab    skipped: ${only}`);
  else if (!keepalivedInstalled()) console.log('lab    skipped: keepalived or tcpdump is not installed (scripts/install-test-deps.sh installs both)');
  else labFile = await runLab(labTrials);
  const missing = lvsToolsInstalled();
  if (checkersOnly || footprintOnly || electionOnly) console.log(`lvs    skipped: ${only}`);
  else if (argv.includes('--no-lvs')) console.log('lvs    skipped: --no-lvs');
  else if (missing) console.log(`lvs    skipped: ${missing} is not installed (scripts/install-test-deps.sh installs wrk and haproxy)`);
  else console.log(`lvs    results in ${saveLvs(await benchLvs({ runs: lvsRuns }), labFile)}`);
  const missingForChecks = checkersToolsInstalled();
  if (lvsOnly || footprintOnly || electionOnly) console.log(`checks skipped: ${only}`);
  else if (missingForChecks) console.log(`checks skipped: ${missingForChecks} is not installed (scripts/install-test-deps.sh installs haproxy and tcpdump)`);
  else {
    const trials = checkerTrialsArg >= 0 ? Number(argv[checkerTrialsArg + 1]) : undefined;
    console.log(`checks results in ${saveCheckers(await benchCheckers({ trials }), labFile)}`);
  }
  const missingForFootprint = footprintToolsInstalled();
  if (lvsOnly || checkersOnly || electionOnly) console.log(`foot   skipped: ${only}`);
  else if (missingForFootprint) console.log(`foot   skipped: ${missingForFootprint} is not installed (scripts/install-test-deps.sh installs it)`);
  else {
    const r = await benchFootprint();
    printFootprint(r);
    console.log(`foot   results in ${saveFootprint(r, labFile)}`);
  }
  const missingForElection = electionToolsInstalled();
  const electionTrialsArg = argv.indexOf('--election-trials');
  const holderArg = argv.indexOf('--election-holder');
  if (lvsOnly || checkersOnly || footprintOnly) console.log(`elect  skipped: ${only}`);
  else if (argv.includes('--no-election')) console.log('elect  skipped: --no-election');
  else if (missingForElection) console.log(`elect  skipped: ${missingForElection} is not installed (scripts/install-test-deps.sh installs etcd-server and etcd-client)`);
  else {
    const r = await benchElection({
      trials: electionTrialsArg >= 0 ? Number(argv[electionTrialsArg + 1]) : 20,
      holder: holderArg >= 0 ? (argv[holderArg + 1] as HolderKind) : 'vigil',
    });
    printElection(r);
    console.log(`elect  results in ${saveElection(r, labFile)}`);
  }
}
