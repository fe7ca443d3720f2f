// The nftables data plane against real TCP connections, in namespaces made here:
//
//   client 192.0.2.2, .3 --- 192.0.2.1, VIP 192.0.2.100 [lb: forwarding, the vigil table] 198.51.100.1 --- rs 198.51.100.11/.12/.13
//
// The client reaches the VIP 192.0.2.100:80 on the lb; the real servers
// (one Node process, one listener per address, port 8080) greet each connection with their name
// and route back through the lb, as LVS NAT needs. NftDataPlane runs in this process and drives
// nft in the lb namespace through a two-line wrapper given as its `nft` binary.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Backend, DesiredState, Service } from '../../src/lvs/model.ts';
import { NftDataPlane } from '../../src/lvs/nft-dataplane.ts';
import { isRoot, Lab, waitForOutput } from '../lib/netns.ts';

const SERVER = fileURLToPath(new URL('./fixtures/nft-name-server.mjs', import.meta.url));
const CLIENT = fileURLToPath(new URL('./fixtures/nft-client.mjs', import.meta.url));
const VIP = '192.0.2.100';
const RS = ['198.51.100.11', '198.51.100.12', '198.51.100.13'];
const NAMES = ['rs1', 'rs2', 'rs3'];

const backend = (i: number, weight = 1): Backend => ({ id: `${RS[i]}:8080`, address: RS[i] as string, port: 8080, weight });
const service = (over: Partial<Service>): Service => ({
  id: 'web',
  family: 4,
  match: { kind: 'address', addresses: [VIP], port: 80, protocol: 'tcp' },
  algorithm: 'rr',
  backends: [backend(0), backend(1), backend(2)],
  ...over,
});
const one = (s: Service): DesiredState => ({ services: [s] });

interface Tally {
  total: Record<string, number>;
  bySource: Record<string, Record<string, number>>;
  errors: string[];
}

/** N short connections from the client namespace; the client process ends by itself (or by
 * execFile's timeout, by its PID). */
function count(ns: string, n: number, locals: string[] = [], concurrency = 40): Promise<Tally> {
  return new Promise((resolve, reject) => {
    execFile('ip', ['netns', 'exec', ns, process.execPath, CLIENT, 'count', VIP, '80', String(n), String(concurrency), ...locals], { timeout: 30_000 }, (err, stdout, stderr) => {
      if (err) return reject(new Error(`client failed: ${stderr || err.message}`));
      resolve(JSON.parse(stdout) as Tally);
    });
  });
}

/** nft's counter values in a listing (`packets N bytes M`), which traffic moves at any time. */
const COUNTER = /packets (\d+) bytes (\d+)/g;
const maskCounters = (listing: string): string => listing.replace(COUNTER, 'packets # bytes #');
const counterValues = (listing: string): [number, number][] => [...listing.matchAll(COUNTER)].map((m) => [Number(m[1]), Number(m[2])]);

function near(actual: number | undefined, expected: number, what: string): void {
  const a = actual ?? 0;
  assert.ok(Math.abs(a - expected) <= expected * 0.05, `${what}: ${a}, expected ${expected} within 5%`);
}

test('NftDataPlane balances real TCP connections in namespaces', { timeout: 60_000 }, async (t) => {
  assert.ok(isRoot, 'this test needs root (network namespaces, nftables); run it as root');
  const lab = new Lab();
  const dir = mkdtempSync(join(tmpdir(), 'vigil-nft-test-'));
  try {
    const client = lab.addNamespace('cl');
    const lb = lab.addNamespace('lb');
    const rs = lab.addNamespace('rs');
    lab.veth(client, 'eth0', lb, 'eth0');
    lab.veth(lb, 'eth1', rs, 'eth0');
    lab.exec(client, 'ip', ['addr', 'add', '192.0.2.2/24', 'dev', 'eth0']);
    lab.exec(client, 'ip', ['addr', 'add', '192.0.2.3/24', 'dev', 'eth0']);
    lab.exec(client, 'ip', ['route', 'add', 'default', 'via', '192.0.2.1']);
    lab.exec(lb, 'ip', ['addr', 'add', '192.0.2.1/24', 'dev', 'eth0']);
    // the VIP is on the balancer (VRRP's job), so the client's ARP for it is answered
    lab.exec(lb, 'ip', ['addr', 'add', `${VIP}/32`, 'dev', 'eth0']);
    lab.exec(lb, 'ip', ['addr', 'add', '198.51.100.1/24', 'dev', 'eth1']);
    lab.exec(lb, 'sysctl', ['-q', '-w', 'net.ipv4.ip_forward=1']);
    for (const a of RS) lab.exec(rs, 'ip', ['addr', 'add', `${a}/24`, 'dev', 'eth0']);
    lab.exec(rs, 'ip', ['route', 'add', 'default', 'via', '198.51.100.1']);
    const servers = lab.spawn(rs, process.execPath, [SERVER, '8080', ...NAMES.map((n, i) => `${n}=${RS[i]}`)]);
    await waitForOutput(servers, /READY/, 10_000);

    // nft for NftDataPlane, run in the lb namespace (the daemon would run there itself)
    const nft = join(dir, 'nft-in-lb');
    writeFileSync(nft, `#!/bin/sh\nexec ip netns exec ${lb} nft "$@"\n`);
    chmodSync(nft, 0o700);
    // a stale table from an earlier run: the first apply must replace it, not trip over it
    lab.exec(lb, 'nft', ['add table inet vigil; add chain inet vigil junk; add counter inet vigil conn-web']);
    const dp = new NftDataPlane({ nft });
    const listTables = () => lab.exec(lb, 'nft', ['list', 'tables']);

    await t.test('wrr 3:2:1: 3000 connections split 1500/1000/500 (within 5%), counted per backend', async (st) => {
      await dp.apply(one(service({ algorithm: 'wrr', backends: [backend(0, 3), backend(1, 2), backend(2, 1)] })));
      assert.doesNotMatch(lab.exec(lb, 'nft', ['list', 'table', 'inet', 'vigil']), /junk/, 'the stale table was replaced');
      const r = await count(client, 3000);
      st.diagnostic(`wrr 3:2:1 over 3000 connections: ${JSON.stringify(r.total)}`);
      assert.deepEqual(r.errors, []);
      near(r.total.rs1, 1500, 'rs1');
      near(r.total.rs2, 1000, 'rs2');
      near(r.total.rs3, 500, 'rs3');
      const c = await dp.counters();
      NAMES.forEach((n, i) => near(c.backends.web?.[`${RS[i]}:8080`]?.connections, r.total[n] ?? 0, `connections counted for ${n}`));
      assert.equal(c.services.web?.connections, 3000);
      const rs1 = c.backends.web?.[`${RS[0]}:8080`];
      assert.ok(rs1 && rs1.packets >= 3 * 1500 && rs1.bytes > rs1.packets * 40, `packets and bytes both ways: ${JSON.stringify(rs1)}`);
    });

    await t.test('rr: even, weights ignored', async () => {
      await dp.apply(one(service({ algorithm: 'rr', backends: [backend(0, 3), backend(1, 2), backend(2, 1)] })));
      const r = await count(client, 600);
      assert.deepEqual(r.errors, []);
      for (const n of NAMES) near(r.total[n], 200, n);
      // locally originated connections to the VIP are balanced too (nat output)
      const local = await count(lb, 30);
      assert.deepEqual(local.errors, []);
      for (const n of NAMES) assert.equal(local.total[n], 10, `from the balancer itself: ${JSON.stringify(local.total)}`);
      // updated in place: the counters kept counting across the apply
      const c = await dp.counters();
      assert.ok((c.services.web?.connections ?? 0) >= 3630, `service counter kept: ${c.services.web?.connections}`);
    });

    await t.test('sh: a client always reaches the same server', async () => {
      await dp.apply(one(service({ algorithm: 'sh' })));
      const r = await count(client, 200, ['192.0.2.2', '192.0.2.3']);
      assert.deepEqual(r.errors, []);
      for (const [src, names] of Object.entries(r.bySource)) assert.equal(Object.keys(names).length, 1, `${src} went to ${JSON.stringify(names)}`);
    });

    await t.test('persistence: rr, but a client (and its /24) sticks to its first server', async () => {
      await dp.apply(one(service({ algorithm: 'rr', persistence: { timeoutS: 60, granularity: '255.255.255.0' } })));
      const first = await count(client, 60, ['192.0.2.2'], 1);
      assert.equal(Object.keys(first.total).length, 1, `one server: ${JSON.stringify(first.total)}`);
      const neighbour = await count(client, 60, ['192.0.2.3'], 4);
      assert.deepEqual(Object.keys(neighbour.total), Object.keys(first.total), 'same /24, same server');
      // a re-apply that changes nothing else keeps the stickiness (the sets are kept)
      await dp.apply(one(service({ algorithm: 'rr', persistence: { timeoutS: 60, granularity: '255.255.255.0' }, snat: true })));
      const again = await count(client, 30, ['192.0.2.2']);
      assert.deepEqual(Object.keys(again.total), Object.keys(first.total));
    });

    await t.test('removing a backend keeps every established connection, its own too', async () => {
      await dp.apply(one(service({ algorithm: 'rr' })));
      const holder = lab.spawn(client, process.execPath, [CLIENT, 'hold', VIP, '80', '3']);
      const opened = await waitForOutput(holder, /HOLDING/, 10_000);
      const names = [...opened.matchAll(/OPEN (\d) (\S+)/g)].map((m) => m[2]).sort();
      assert.deepEqual(names, NAMES, 'rr put one connection on each server');

      await dp.apply(one(service({ algorithm: 'rr', backends: [backend(0), backend(1)] })));
      const r = await count(client, 100);
      assert.deepEqual(Object.keys(r.total).sort(), ['rs1', 'rs2'], 'new connections avoid the removed backend');
      const pongs = waitForOutput(holder, /(PONG|DEAD) \d.*\n[^]*(PONG|DEAD) \d.*\n[^]*(PONG|DEAD) \d.*\n/, 5_000);
      holder.kill('SIGUSR1');
      const out = await pongs;
      assert.doesNotMatch(out, /DEAD/);
      assert.deepEqual([...out.matchAll(/PONG \d (\S+)/g)].map((m) => m[1]).sort(), NAMES, 'each held connection still reaches its server');

      // a new NftDataPlane (a restarted daemon) replaces the table wholly: still alive
      const restarted = new NftDataPlane({ nft });
      await restarted.apply(one(service({ algorithm: 'rr', backends: [backend(0)] })));
      const pongs2 = waitForOutput(holder, /(PONG|DEAD) \d.*\n[^]*(PONG|DEAD) \d.*\n[^]*(PONG|DEAD) \d.*\n/, 5_000);
      holder.kill('SIGUSR1');
      const out2 = await pongs2;
      assert.doesNotMatch(out2, /DEAD/);
      assert.deepEqual([...out2.matchAll(/PONG \d (\S+)/g)].map((m) => m[1]).sort(), NAMES);
    });

    await t.test('remove() leaves no table, and is harmless when there is none', async () => {
      assert.match(listTables(), /table inet vigil/);
      await dp.remove();
      assert.doesNotMatch(listTables(), /vigil/);
      await dp.remove();
      assert.deepEqual(await dp.counters(), { services: {}, backends: {} });
    });

    await t.test('a refused state rejects with nft\'s own error and changes nothing', async () => {
      const warnings: string[] = [];
      const dp2 = new NftDataPlane({ nft, warn: (m) => warnings.push(m) });
      await dp2.apply(one(service({ algorithm: 'rr' })));
      // some traffic first, so the counters hold something a replaced table would have lost
      assert.deepEqual((await count(client, 30)).errors, []);
      const before = lab.exec(lb, 'nft', ['list', 'table', 'inet', 'vigil']);
      assert.ok(counterValues(before).some(([p]) => p > 0), `the counters counted the traffic: ${before}`);
      // valid to vigil, out of range to the kernel (a timeout of 2^32 s, in ms)
      const bad = one(service({ persistence: { timeoutS: 2 ** 32 * 1000 } }));
      await assert.rejects(dp2.apply(bad), (err: Error & { stderr?: string }) => {
        assert.equal(err.name, 'NftError');
        assert.match(err.stderr ?? '', /Numerical result out of range/, 'carries nft\'s stderr');
        return true;
      });
      assert.equal(warnings.length, 1, 'the update was refused, then the replace too');
      // packets still in flight (FINs, the held connections) may move the counters meanwhile:
      // compare the rules, sets, chains and maps with the counter values masked, then the
      // counters apart (same counters, none lower: the refused transaction reset none)
      const after = lab.exec(lb, 'nft', ['list', 'table', 'inet', 'vigil']);
      assert.equal(maskCounters(after), maskCounters(before), 'one transaction: nothing changed');
      const was = counterValues(before);
      counterValues(after).forEach(([p, b], i) => {
        const [p0, b0] = was[i] ?? [0, 0];
        assert.ok(p >= p0 && b >= b0, `counter ${i} went back from packets ${p0} bytes ${b0} to packets ${p} bytes ${b}`);
      });
      const r = await count(client, 30);
      assert.deepEqual(Object.keys(r.total).sort(), NAMES, 'still balancing');
      await dp2.remove();
    });
  } finally {
    await lab.cleanup();
    rmSync(dir, { recursive: true, force: true });
  }
});
