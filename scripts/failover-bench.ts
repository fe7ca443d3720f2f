// Failover time in the namespace lab, vigil and keepalived measured the same way in the same
// run: a client probes the VIP (UDP echo) every 10 ms; the Master's node dies (its link is cut,
// then every process in it is SIGKILLed, so no goodbye advert escapes); the figure is the time
// from the cut to the first reply from the VIP on the new Master. Prints median and max of
// TRIALS trials per case, next to the protocol's Master_Down_Interval.
//
//   node --import tsx scripts/failover-bench.ts [TRIALS]     (root; keepalived installed)
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { masterDownInterval } from '../src/vrrp/timers.ts';

const root = fileURLToPath(new URL('..', import.meta.url));
const trials = Number(process.argv[2] ?? 5);
const LAB = `fb${process.pid % 10000}`;
const VIP = '192.0.2.100';

interface Case {
  impl: 'vigil' | 'keepalived';
  version: 2 | 3;
  advertInt: number;
}

function conf(c: Case, priority: number): string {
  return `vrrp_instance VI_1 {\n  state BACKUP\n  interface eth0\n  virtual_router_id 9\n  priority ${priority}\n  advert_int ${c.advertInt}\n  version ${c.version}\n  virtual_ipaddress {\n    ${VIP}/24\n  }\n}\n`;
}

const children: ChildProcess[] = [];
function start(ns: string, cmd: string, args: string[]): ChildProcess {
  const child = spawn('ip', ['netns', 'exec', `${LAB}-${ns}`, cmd, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  return child;
}

function waitLine(child: ChildProcess, re: RegExp, ms: number): Promise<void> {
  return new Promise((resolve, reject) => {
    let seen = '';
    const t = setTimeout(() => reject(new Error(`timeout waiting for ${re}:\n${seen}`)), ms);
    const on = (d: Buffer) => {
      seen += d.toString();
      if (re.test(seen)) {
        clearTimeout(t);
        resolve();
      }
    };
    child.stdout?.on('data', on);
    child.stderr?.on('data', on);
  });
}

function killNamespace(ns: string): void {
  const pids = execFileSync('ip', ['netns', 'pids', `${LAB}-${ns}`], { encoding: 'utf8' }).split('\n').filter(Boolean);
  for (const pid of pids) {
    try {
      process.kill(Number(pid), 'SIGKILL');
    } catch {
      // gone
    }
  }
}

function router(c: Case, ns: string, dir: string, priority: number): ChildProcess {
  const file = join(dir, `${ns}.conf`);
  writeFileSync(file, conf(c, priority));
  if (c.impl === 'vigil') return start(ns, process.execPath, [join(root, 'bin/vigil'), '-n', '-f', file]);
  // a SIGKILLed keepalived leaves its pid files; the next trial must not find them
  for (const f of [`${ns}.pid`, `${ns}.vrrp.pid`]) rmSync(join(dir, f), { force: true });
  return start(ns, 'keepalived', ['--dont-fork', '--log-console', '--no-syslog', '--vrrp', '-f', file, '-p', join(dir, `${ns}.pid`), '-r', join(dir, `${ns}.vrrp.pid`)]);
}

async function trial(c: Case, dir: string): Promise<number> {
  execFileSync(join(root, 'scripts/lab.sh'), ['up', '2', LAB], { stdio: 'ignore' });
  try {
    for (const ns of ['r1', 'r2']) await waitLine(start(ns, process.execPath, [join(root, 'scripts/bench/udp-echo.mjs')]), /ready/, 10_000);
    const r1 = router(c, 'r1', dir, 200);
    await waitLine(r1, /Entering MASTER STATE/, 20_000);
    const r2 = router(c, 'r2', dir, 100);
    await waitLine(r2, /Entering BACKUP STATE/, 20_000);
    const probe = start('client', process.execPath, [join(root, 'scripts/bench/udp-probe.mjs'), VIP]);
    const replies: number[] = [];
    probe.stdout?.on('data', (d: Buffer) => replies.push(...d.toString().split('\n').filter(Boolean).map(Number)));
    await new Promise((r) => setTimeout(r, 1000));
    if (replies.length === 0) throw new Error('the VIP does not answer before the failover');
    const cut = Date.now();
    execFileSync('ip', ['-n', `${LAB}-r1`, 'link', 'set', 'eth0', 'down']);
    killNamespace('r1');
    // replies already in flight at the cut arrive within a few ms; no takeover can be that
    // fast (the shortest Master_Down_Interval here is 360 ms), so they are not counted
    const settled = cut + 50;
    const deadline = cut + 20_000;
    while (Date.now() < deadline && !replies.some((t) => t > settled)) await new Promise((r) => setTimeout(r, 5));
    const first = replies.find((t) => t > settled);
    if (first === undefined) throw new Error('no reply from the new Master within 20 s');
    return first - cut;
  } finally {
    for (const ch of children.splice(0)) ch.kill('SIGKILL');
    execFileSync(join(root, 'scripts/lab.sh'), ['down', LAB], { stdio: 'ignore' });
  }
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'vigil-fbench-'));
  const cases: Case[] = [
    { impl: 'vigil', version: 2, advertInt: 1 },
    { impl: 'keepalived', version: 2, advertInt: 1 },
    { impl: 'vigil', version: 3, advertInt: 0.1 },
    { impl: 'keepalived', version: 3, advertInt: 0.1 },
  ];
  try {
    for (const c of cases) {
      const times: number[] = [];
      for (let i = 0; i < trials; i++) times.push(await trial(c, dir));
      times.sort((a, b) => a - b);
      const median = times[Math.floor(times.length / 2)] ?? NaN;
      const mdi = masterDownInterval(c.version, 100, Math.round(c.advertInt * 100)) / 1000;
      console.log(
        `failover  ${c.impl.padEnd(10)} v${c.version} advert_int ${String(c.advertInt).padEnd(4)} ` +
          `median ${median} ms  max ${times.at(-1)} ms  (Master_Down_Interval ${mdi.toFixed(1)} ms; trials: ${times.join(', ')})`,
      );
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
