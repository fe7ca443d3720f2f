// Issue 11 end to end, in the namespace lab (test/lib/lvs-lab.ts): a client, two balancers
// running vigil from keepalived.conf as a VRRP pair (front VIP and the real servers' gateway VIP
// in a sync group) sharing one virtual server, and three real HTTP servers on a second segment
// routed through the balancers. Real nftables, real TCP_CHECKs, real connections:
// - 3,000 connections follow wrr weights 3:2:1 within 5% each; the table holds what the config
//   says; a reload to sh sends the client to one server, to persistence keeps it on one;
// - a real server's service stops: it leaves the pool within its check budget and then no
//   connection fails; it returns and rejoins;
// - with inhibit_on_failure a failing server's established connection keeps working;
// - quorum lost: the sorry server answers; regained: the pool is back;
// - a SIGKILLed engine's replacement keeps an established connection;
// - the Master killed mid-traffic: new connections succeed through the new Master;
// - a clean stop removes the table.
// Needs root: fails otherwise.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { exited, startVigil, type DaemonHandle } from '../lib/daemon.ts';
import { balancerConf, VIP, withLvsLab, type LvsLab } from '../lib/lvs-lab.ts';
import { stopChild } from '../lib/netns.ts';

const CLIENT = fileURLToPath(new URL('../lib/fixtures/http-client.mjs', import.meta.url));
const VIGIL = fileURLToPath(new URL('../../bin/vigil', import.meta.url));

interface RunResult {
  counts: Record<string, number>;
  failed: number;
  errors: Record<string, number>;
  ms: number;
}

/** keepalived.conf virtual_server for the lab: rs1..rs3 with weights 3:2:1 on :8080. */
function vsBlock(opts: { algo?: string; extra?: string; rsExtra?: string; checkPort?: number } = {}): string {
  const rs = (i: number, w: number) => `    real_server 198.51.100.${11 + i} 8080 {
        weight ${w}
${opts.rsExtra ?? ''}        TCP_CHECK {
            ${opts.checkPort ? `connect_port ${opts.checkPort}` : ''}
            connect_timeout 1
            retry 1
            delay_before_retry 0.3
            delay_loop 0.5
            warmup 0
        }
    }
`;
  return `virtual_server ${VIP} 80 {
    delay_loop 0.5
    lb_algo ${opts.algo ?? 'wrr'}
    lb_kind NAT
    protocol TCP
${opts.extra ?? ''}${rs(0, 3)}${rs(1, 2)}${rs(2, 1)}}
`;
}

function clientRun(l: LvsLab, n: number, concurrency = 20): RunResult {
  const out = l.lab.exec(l.client, process.execPath, [CLIENT, `http://${VIP}/`, String(n), String(concurrency)]);
  return JSON.parse(out.trim().split('\n').at(-1) ?? '{}') as RunResult;
}

async function until(what: string, fn: () => boolean, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!fn()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const table = (l: LvsLab, ns: string): string => {
  try {
    return l.lab.exec(ns, 'nft', ['-j', 'list', 'table', 'inet', 'vigil']);
  } catch {
    return '';
  }
};

/** Every address a dnat in the table can send to. */
function dnatTargets(json: string): Set<string> {
  const out = new Set<string>();
  const walk = (v: unknown, inDnat: boolean) => {
    if (typeof v === 'string' && inDnat && /^198\.51\.100\.\d+$/.test(v)) out.add(v);
    else if (Array.isArray(v)) for (const x of v) walk(x, inDnat);
    else if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) walk(x, inDnat || k === 'dnat' || k === 'map' || k === 'elem');
  };
  walk(JSON.parse(json || '{}'), false);
  return out;
}

async function reload(d: DaemonHandle, file: string, text: string): Promise<void> {
  const before = (d.log().match(/reloaded;/g) ?? []).length;
  writeFileSync(file, text);
  d.child.kill('SIGHUP');
  await until('reload', () => (d.log().match(/reloaded;/g) ?? []).length > before, 15_000);
}

/** Follows a long-lived keep-alive connection's answers. */
function hold(l: LvsLab): { child: ChildProcess; lines: () => string[] } {
  const child = l.lab.spawn(l.client, process.execPath, [CLIENT, `http://${VIP}/`, 'hold']);
  let text = '';
  child.stdout?.on('data', (d: Buffer) => (text += d.toString()));
  return { child, lines: () => text.trim().split('\n').filter(Boolean) };
}

test('load balancer: weights, health checks, inhibit, quorum and sorry server, reloads, failover, engine restart', { timeout: 300_000 }, async () => {
  assert.equal(process.getuid?.(), 0, 'this test needs root (network namespaces, nftables)');
  await withLvsLab({}, async (l) => {
    for (let i = 0; i < 3; i++) await l.startServer(i);
    const conf1 = join(l.dir, 'lb1.conf');
    const conf2 = join(l.dir, 'lb2.conf');
    writeFileSync(conf1, balancerConf(1, vsBlock()));
    writeFileSync(conf2, balancerConf(2, vsBlock()));
    // lb1 alone first: its engine restart below must not hand the VIP to lb2
    const lb1 = startVigil(l.lab, l.lbs[0] as string, conf1);
    await lb1.waitFor(/\(VI_FRONT\) Entering MASTER STATE/);
    await lb1.waitFor(/\(VI_BACK\) Entering MASTER STATE/);
    await lb1.waitFor(/LVS: data plane holds 1 service\(s\), 3 backend\(s\)/);

    // --- weights: 3,000 connections, wrr 3:2:1 within 5% each ---------------------------------
    const t0 = Date.now();
    const wrr = clientRun(l, 3000, 20);
    console.log(`wrr 3:2:1 over 3000 connections: ${JSON.stringify(wrr.counts)} in ${Date.now() - t0} ms`);
    assert.equal(wrr.failed, 0, JSON.stringify(wrr.errors));
    for (const [name, share] of [['rs1', 3 / 6], ['rs2', 2 / 6], ['rs3', 1 / 6]] as const) {
      const got = (wrr.counts[name] ?? 0) / 3000;
      assert.ok(Math.abs(got - share) <= 0.05 * share, `${name}: ${(got * 100).toFixed(1)}% of connections, expected ${(share * 100).toFixed(1)}% within 5%`);
    }
    // the table holds exactly the configured real servers
    assert.deepEqual([...dnatTargets(table(l, l.lbs[0] as string))].sort(), ['198.51.100.11', '198.51.100.12', '198.51.100.13']);
    // vigil status shows the pool
    const status = l.lab.exec(l.lbs[0] as string, process.execPath, [VIGIL, 'status', '-f', conf1]);
    const row = /\[192\.0\.2\.100\]:tcp:80\s+up\s+6\/1\s+(\d+)\/\d+\/\d+\s+\[198\.51\.100\.11\]:tcp:8080\s+up \(weight 3\)\s+(\d+)\/\d+\/\d+\s+TCP_CHECK 198\.51\.100\.11:8080 ok/.exec(status);
    assert.ok(row, status);
    // the kernel's counters: every connection of the run, half of them to rs1
    assert.ok(Number(row[1]) >= 3000, `virtual server connections ${row[1]}`);
    assert.ok(Number(row[2]) >= 1500, `rs1 connections ${row[2]}`);
    assert.match(status, /data plane: \d+ applied, 0 refused/);

    // --- a SIGKILLed engine's replacement keeps an established connection ----------------------
    const h2 = hold(l);
    await until('held', () => h2.lines().length >= 2, 10_000);
    const engineLine = /supervisor: engine child (\d+) started/.exec(lb1.log());
    const enginePid = Number(engineLine?.[1]);
    assert.ok(enginePid > 0);
    process.kill(enginePid, 'SIGKILL');
    await lb1.waitFor(/supervisor: engine child \d+ started[\s\S]*supervisor: engine child \d+ started/, 10_000);
    await until('the new engine applied', () => (lb1.log().match(/LVS: data plane holds 1 service/g) ?? []).length >= 2, 15_000);
    const m = h2.lines().length;
    await until('the held connection answers after the restart', () => h2.lines().length >= m + 5, 15_000);
    const afterRestart = h2.lines().slice(m);
    assert.ok(afterRestart.every((x) => x.startsWith('ok ')), `held connection across the engine restart: ${afterRestart.join(', ')}`);
    await stopChild(h2.child);
    await until('lb1 holds the VIP again', () => l.lab.exec(l.lbs[0] as string, 'ip', ['-4', 'addr', 'show', 'dev', 'eth0']).includes(VIP), 20_000);

    const lb2 = startVigil(l.lab, l.lbs[1] as string, conf2);
    await lb2.waitFor(/\(VI_FRONT\) Entering BACKUP STATE/);
    await lb2.waitFor(/LVS: data plane holds 1 service\(s\), 3 backend\(s\)/);


    // --- a real server's service stops: out within its budget, no failed connection after ----
    const stoppedAt = Date.now();
    await stopChild(l.servers.get('2:8080') as ChildProcess);
    await lb1.waitFor(/removing real server \[198\.51\.100\.13\]:tcp:8080 \(TCP_CHECK 198\.51\.100\.13:8080: connection refused\)/, 10_000);
    const removedMs = Date.now() - stoppedAt;
    // delay_loop 0.5 + 2 attempts (refused at once) + delay_before_retry 0.3, plus slack
    console.log(`rs3 stopped -> removed from the pool in ${removedMs} ms`);
    assert.ok(removedMs < 3000, `removed after ${removedMs} ms`);
    await until('rs3 out of the table', () => !dnatTargets(table(l, l.lbs[0] as string)).has('198.51.100.13'), 5000);
    const without = clientRun(l, 300);
    assert.equal(without.failed, 0, `no connection fails once it is out: ${JSON.stringify(without.errors)}`);
    assert.equal(without.counts.rs3, undefined);
    await l.startServer(2);
    await lb1.waitFor(/enabling real server \[198\.51\.100\.13\]:tcp:8080/, 10_000);
    await until('rs3 back in the table', () => dnatTargets(table(l, l.lbs[0] as string)).has('198.51.100.13'), 5000);
    assert.ok((clientRun(l, 300).counts.rs3 ?? 0) > 0, 'rs3 serves again');

    // --- sh: one client, one server; persistence: one client sticks ----------------------------
    await reload(lb1, conf1, balancerConf(1, vsBlock({ algo: 'sh' })));
    const sh = clientRun(l, 200);
    assert.equal(sh.failed, 0);
    assert.equal(Object.keys(sh.counts).length, 1, `sh: ${JSON.stringify(sh.counts)}`);
    await reload(lb1, conf1, balancerConf(1, vsBlock({ extra: '    persistence_timeout 30\n' })));
    const sticky = clientRun(l, 200);
    assert.equal(sticky.failed, 0);
    assert.equal(Object.keys(sticky.counts).length, 1, `persistence: ${JSON.stringify(sticky.counts)}`);

    // --- inhibit_on_failure: the health port fails, the established connection goes on --------
    // the checks look at a health port (8081) of each server; the service stays on 8080
    for (let i = 0; i < 3; i++) await l.startServer(i, 8081);
    await reload(lb1, conf1, balancerConf(1, vsBlock({ checkPort: 8081, rsExtra: '        inhibit_on_failure\n' })));
    const h = hold(l);
    await until('the held connection answers', () => h.lines().length >= 2, 10_000);
    const heldOn = h.lines()[0]?.split(' ')[1] ?? '';
    const idx = Number(heldOn.replace('rs', '')) - 1;
    assert.ok(idx >= 0 && idx < 3, `held connection on ${heldOn}`);
    await stopChild(l.servers.get(`${idx}:8081`) as ChildProcess);
    await lb1.waitFor(new RegExp(`disabling real server \\[198\\.51\\.100\\.${11 + idx}\\]:tcp:8080`), 10_000);
    const n = h.lines().length;
    await until('the held connection keeps answering', () => h.lines().length >= n + 5, 10_000);
    assert.ok(h.lines().slice(n).every((x) => x === `ok ${heldOn}`), `established connection to the inhibited ${heldOn}: ${h.lines().slice(n).join(', ')}`);
    const fresh = clientRun(l, 200);
    assert.equal(fresh.failed, 0);
    assert.equal(fresh.counts[heldOn], undefined, `no new connection to the inhibited ${heldOn}: ${JSON.stringify(fresh.counts)}`);
    await stopChild(h.child);
    await l.startServer(idx, 8081);

    // --- quorum lost: the sorry server answers; regained: the pool is back ----------------------
    const sorry = await l.startServer(0, 9090); // rs1's "sorry" page on another port
    await reload(lb1, conf1, balancerConf(1, vsBlock({ extra: '    quorum 4\n    sorry_server 198.51.100.11 9090\n' })));
    await stopChild(l.servers.get('1:8080') as ChildProcess); // rs2 (2)
    await stopChild(l.servers.get('2:8080') as ChildProcess); // rs3 (1): 3 left < 4
    await lb1.waitFor(/Lost quorum 4-0=4 > 3; sorry server \[198\.51\.100\.11\]:tcp:9090 serves/, 10_000);
    await until('only the sorry server in the table', () => dnatTargets(table(l, l.lbs[0] as string)).size === 1, 5000);
    const sorryRun = clientRun(l, 50);
    assert.equal(sorryRun.failed, 0);
    assert.deepEqual(Object.keys(sorryRun.counts), ['rs1'], 'the sorry server (on rs1:9090) answers');
    assert.match(table(l, l.lbs[0] as string), /9090/);
    await l.startServer(1);
    await lb1.waitFor(/Gained quorum 4\+0=4 <= 5/, 10_000);
    await l.startServer(2);
    await until('the pool back', () => dnatTargets(table(l, l.lbs[0] as string)).size === 3, 10_000);
    assert.ok(!/9090/.test(table(l, l.lbs[0] as string)), 'the sorry server left the table');
    await stopChild(sorry);
    await reload(lb1, conf1, balancerConf(1, vsBlock()));

    // --- the Master dies mid-traffic: new connections go through the new Master ----------------
    // freeze every process of lb1 before the kill, so no goodbye advert leaves (node death)
    const pids = execFileSync('ip', ['netns', 'pids', l.lbs[0] as string], { encoding: 'utf8' }).trim().split(/\s+/).map(Number).filter((p) => p > 0);
    const vigilPids = pids.filter((p) => {
      try {
        return readFileSync(`/proc/${p}/cmdline`, 'utf8').includes('vigil');
      } catch {
        return false;
      }
    });
    assert.ok(vigilPids.length >= 2, `lb1's supervisor and engine: ${vigilPids.join(', ')}`);
    const killedAt = Date.now();
    for (const p of vigilPids) process.kill(p, 'SIGSTOP');
    for (const p of vigilPids) process.kill(p, 'SIGKILL');
    await lb2.waitFor(/\(VI_FRONT\) Entering MASTER STATE/, 15_000);
    const tookOver = Date.now() - killedAt;
    // the first new connection that succeeds through lb2
    let firstOk = -1;
    for (let i = 0; i < 100 && firstOk < 0; i++) {
      const r = clientRun(l, 1, 1);
      if (r.failed === 0) firstOk = Date.now() - killedAt;
    }
    console.log(`Master killed: lb2 Master after ${tookOver} ms, first new connection through it at ${firstOk} ms`);
    assert.ok(firstOk > 0);
    const after = clientRun(l, 300);
    assert.equal(after.failed, 0, `through the new Master: ${JSON.stringify(after.errors)}`);
    assert.equal(Object.keys(after.counts).length, 3);

    // --- a clean stop removes the table ------------------------------------------------------
    assert.notEqual(table(l, l.lbs[1] as string), '');
    lb2.child.kill('SIGTERM');
    assert.equal(await exited(lb2.child), 0);
    assert.equal(table(l, l.lbs[1] as string), '', 'no vigil table left on lb2');
  });
});
