// lb_kind DR end to end: vigil from keepalived.conf on one balancer, a client and three real HTTP
// servers all on one segment (a bridge), LVS-DR style: the real servers hold the VIP on lo with
// arp_ignore=1 / arp_announce=2 and answer the client directly; the balancer holds the VIP
// (VRRP) and does not forward IP at all (ip_forward=0): it only rewrites MAC addresses at netdev
// ingress. Real nftables, real TCP_CHECKs, MACs learnt from the balancer's neighbour table:
// - 3,000 connections spread over the real servers by their weights 3:2:1 (hashed: each gets a
//   share near its weight), and the replies do not pass through the balancer;
// - one keep-alive connection (one port tuple) stays on one real server;
// - a real server's service stops: TCP_CHECK takes it out, and no new connection fails after;
// - a clean stop removes the netdev table (and the inet one).
// Needs root: fails otherwise.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ChildProcess } from 'node:child_process';
import { startVigil } from '../lib/daemon.ts';
import { HTTP_SERVER } from '../lib/lvs-lab.ts';
import { Lab, stopChild, waitForOutput } from '../lib/netns.ts';

const CLIENT = fileURLToPath(new URL('../lib/fixtures/http-client.mjs', import.meta.url));
const VIP = '198.51.100.100';
const LB = '198.51.100.1';
const CLIENT_IP = '198.51.100.200';
const rsIp = (i: number) => `198.51.100.${11 + i}`;

interface RunResult {
  counts: Record<string, number>;
  failed: number;
  errors: Record<string, number>;
  ms: number;
}

async function until(what: string, fn: () => boolean, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!fn()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function conf(): string {
  const rs = (i: number, w: number) => `    real_server ${rsIp(i)} 80 {
        weight ${w}
        TCP_CHECK {
            connect_timeout 1
            retry 1
            delay_before_retry 0.3
            delay_loop 0.5
            warmup 0
        }
    }
`;
  return `global_defs {
    router_id lb1
}
vrrp_instance VI_1 {
    state MASTER
    interface eth0
    virtual_router_id 51
    priority 150
    advert_int 1
    virtual_ipaddress {
        ${VIP}/24
    }
}
virtual_server ${VIP} 80 {
    delay_loop 0.5
    lb_algo wrr
    lb_kind DR
    protocol TCP
${rs(0, 3)}${rs(1, 2)}${rs(2, 1)}}
`;
}

test('lb_kind DR: MAC rewriting at ingress, weights by hash, direct replies, a failing server leaves, clean stop', { timeout: 180_000 }, async () => {
  assert.equal(process.getuid?.(), 0, 'this test needs root (network namespaces, nftables)');
  const lab = new Lab();
  const dir = mkdtempSync(join(tmpdir(), 'vigil-lvs-dr-'));
  const servers = new Map<number, ChildProcess>();
  try {
    // one segment: a bridge namespace and a veth per host
    const lan = lab.addNamespace('lan');
    lab.exec(lan, 'ip', ['link', 'add', 'br0', 'type', 'bridge']);
    lab.exec(lan, 'ip', ['link', 'set', 'br0', 'up']);
    const host = (name: string, address: string): string => {
      const ns = lab.addNamespace(name);
      lab.veth(ns, 'eth0', lan, `p-${name}`);
      lab.exec(lan, 'ip', ['link', 'set', `p-${name}`, 'master', 'br0']);
      lab.exec(ns, 'ip', ['addr', 'add', `${address}/24`, 'dev', 'eth0']);
      return ns;
    };
    const client = host('client', CLIENT_IP);
    const lb = host('lb', LB);
    lab.exec(lb, 'sysctl', ['-q', '-w', 'net.ipv4.ip_forward=0']);
    const rs: string[] = [];
    const macs: string[] = [];
    for (let i = 0; i < 3; i++) {
      const ns = host(`rs${i + 1}`, rsIp(i));
      // LVS-DR real server: the VIP on lo, never answered for nor announced on the wire
      lab.exec(ns, 'sysctl', ['-q', '-w', 'net.ipv4.conf.all.arp_ignore=1', 'net.ipv4.conf.all.arp_announce=2', 'net.ipv4.conf.eth0.arp_ignore=1', 'net.ipv4.conf.eth0.arp_announce=2']);
      lab.exec(ns, 'ip', ['addr', 'add', `${VIP}/32`, 'dev', 'lo']);
      macs.push((JSON.parse(lab.exec(ns, 'ip', ['-j', 'link', 'show', 'eth0'])) as Array<{ address: string }>)[0]?.address ?? '');
      rs.push(ns);
    }
    const startServer = async (i: number) => {
      const child = lab.spawn(rs[i] as string, process.execPath, [HTTP_SERVER, `rs${i + 1}`, '0.0.0.0', '80']);
      await waitForOutput(child, /listening/, 10_000);
      servers.set(i, child);
    };
    for (let i = 0; i < 3; i++) await startServer(i);

    const file = join(dir, 'keepalived.conf');
    writeFileSync(file, conf());
    const d = startVigil(lab, lb, file);
    await d.waitFor(/\(VI_1\) Entering MASTER STATE/, 15_000);
    // the MACs come from the neighbour table (resolved on demand), then the pool is complete
    await d.waitFor(/LVS: data plane holds 1 service\(s\), 3 backend\(s\)/, 15_000);

    const drTable = (): string => {
      try {
        return lab.exec(lb, 'nft', ['-j', 'list', 'table', 'netdev', 'vigil_dr_eth0']);
      } catch {
        return '';
      }
    };
    const macsInTable = () => macs.filter((m) => drTable().includes(`"${m}"`));
    assert.deepEqual(macsInTable(), macs, 'every real server MAC in the netdev table');

    const stats = (ns: string) => (JSON.parse(lab.exec(ns, 'ip', ['-j', '-s', 'link', 'show', 'eth0'])) as Array<{ stats64: { rx: { packets: number }; tx: { packets: number } } }>)[0]?.stats64;
    const run = (n: number, c = 20): RunResult => JSON.parse(lab.exec(client, process.execPath, [CLIENT, `http://${VIP}/`, String(n), String(c)]).trim().split('\n').at(-1) ?? '{}') as RunResult;

    // --- weights, by hash; replies straight to the client --------------------------------------
    const lbBefore = stats(lb);
    const clBefore = stats(client);
    const t0 = Date.now();
    const spread = run(3000);
    const ms = Date.now() - t0;
    const lbAfter = stats(lb);
    const clAfter = stats(client);
    console.log(`DR wrr 3:2:1 over 3000 connections: ${JSON.stringify(spread.counts)} in ${ms} ms`);
    assert.equal(spread.failed, 0, JSON.stringify(spread.errors));
    for (const [name, share] of [['rs1', 3 / 6], ['rs2', 2 / 6], ['rs3', 1 / 6]] as const) {
      const got = (spread.counts[name] ?? 0) / 3000;
      assert.ok(Math.abs(got - share) <= 0.06, `${name}: ${(got * 100).toFixed(1)}% of connections, expected about ${(share * 100).toFixed(1)}%`);
    }
    const lbRx = (lbAfter?.rx.packets ?? 0) - (lbBefore?.rx.packets ?? 0);
    const clTx = (clAfter?.tx.packets ?? 0) - (clBefore?.tx.packets ?? 0);
    const clRx = (clAfter?.rx.packets ?? 0) - (clBefore?.rx.packets ?? 0);
    console.log(`packets: client sent ${clTx}, received ${clRx}; the balancer received ${lbRx}`);
    assert.ok(clRx >= 3 * 3000, `the client got its replies (${clRx} packets)`);
    // the balancer sees the client's packets (and its checks' replies), not the servers' replies
    assert.ok(lbRx < clTx + 1000, `replies bypass the balancer: it received ${lbRx} packets, the client sent ${clTx}`);
    // counters: every connection's SYN counted at its backend
    const counters = (JSON.parse(drTable()) as { nftables: Array<{ counter?: { name: string; packets: number } }> }).nftables.flatMap((x) => (x.counter ? [x.counter] : []));
    const syns = counters.filter((c) => /^conn-.*-198\./.test(c.name)).reduce((a, c) => a + c.packets, 0);
    assert.ok(syns >= 3000 && syns < 3300, `SYNs counted per backend: ${syns}`);

    // --- one port tuple sticks -----------------------------------------------------------------
    const hold = lab.spawn(client, process.execPath, [CLIENT, `http://${VIP}/`, 'hold']);
    let held = '';
    hold.stdout?.on('data', (b: Buffer) => (held += b.toString()));
    await until('ten answers on one connection', () => held.trim().split('\n').filter(Boolean).length >= 10, 15_000);
    const answers = held.trim().split('\n').filter(Boolean);
    assert.equal(new Set(answers).size, 1, `one keep-alive connection, one real server: ${answers.join(', ')}`);
    assert.match(answers[0] ?? '', /^ok rs[123]$/);
    await stopChild(hold);

    // --- a real server's service stops: TCP_CHECK takes it out, nothing fails after -------------
    const stoppedAt = Date.now();
    await stopChild(servers.get(2) as ChildProcess);
    await d.waitFor(/removing real server \[198\.51\.100\.13\]:tcp:80 \(TCP_CHECK 198\.51\.100\.13:80: connection refused\)/, 10_000);
    await until('rs3 out of the netdev table', () => !drTable().includes(`"${macs[2]}"`), 5000);
    console.log(`rs3 stopped -> out of the DR table in ${Date.now() - stoppedAt} ms`);
    const without = run(600);
    assert.equal(without.failed, 0, `no connection fails once it is out: ${JSON.stringify(without.errors)}`);
    assert.equal(without.counts.rs3, undefined);
    assert.ok((without.counts.rs1 ?? 0) > 0 && (without.counts.rs2 ?? 0) > 0, JSON.stringify(without.counts));
    await startServer(2);
    await d.waitFor(/enabling real server \[198\.51\.100\.13\]:tcp:80/, 10_000);
    await until('rs3 back in the netdev table', () => drTable().includes(`"${macs[2]}"`), 5000);
    assert.ok((run(300).counts.rs3 ?? 0) > 0, 'rs3 serves again');

    // --- a clean stop removes the tables --------------------------------------------------------
    await stopChild(d.child);
    const tables = lab.exec(lb, 'nft', ['list', 'tables']);
    assert.doesNotMatch(tables, /netdev vigil_dr_eth0/, tables);
    assert.doesNotMatch(tables, /inet vigil/, tables);
  } finally {
    await lab.cleanup();
    rmSync(dir, { recursive: true, force: true });
  }
});
