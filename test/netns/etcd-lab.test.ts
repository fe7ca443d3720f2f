// The etcd lab itself (test/lib/etcd-lab.ts), no vigil daemon: three members healthy with one
// raft leader, a member killed and restarted on its data dir (the data survives), a node cut
// from etcd by nftables (drop: silent; reject: refused at once) while it still reaches the
// other nodes, healed again, the VIP helpers, the TLS and auth variants, and a cleanup that
// leaves no namespace behind.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { monitorAddresses, sampleOverlap, startEtcdLab, vipHolders, VIP, type EtcdLab } from '../lib/etcd-lab.ts';
import { needs } from '../lib/require.ts';
import { stopChild, waitForOutput } from '../lib/netns.ts';

const NEEDS = needs('root', 'ip', 'nft', 'etcd', 'etcdctl', 'openssl');

const namespacesOf = (prefix: string) =>
  execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' })
    .split('\n')
    .map((l) => l.split(' ')[0] as string)
    .filter((n) => n.startsWith(`${prefix}-`));

/** GET /health on member 0 from a node's namespace (plain http, node's own client): 'ok', or
 * the error code ('ECONNREFUSED' for a reset connect, 'TIMEOUT' for silence), and how long. */
function probeFromNode(el: EtcdLab, ns: string, timeoutMs = 1000): { result: string; ms: number } {
  const t0 = Date.now();
  const script = `const r = require('http').get('${el.endpoints[0]}/health', (res) => { let b = ''; res.on('data', (d) => b += d); res.on('end', () => { console.log(/"health":"true"/.test(b) ? 'ok' : 'unhealthy ' + b); process.exit(0); }); });
r.setTimeout(${timeoutMs}, () => { console.log('TIMEOUT'); process.exit(0); }); r.on('error', (e) => { console.log(e.code || String(e)); process.exit(0); });`;
  const result = el.lab.exec(ns, process.execPath, ['-e', script]).trim();
  return { result, ms: Date.now() - t0 };
}

/** A TCP connection from `from` to a one-shot listener in `to` (port 7070). */
async function tcpFromTo(el: EtcdLab, from: string, to: string, toIp: string): Promise<boolean> {
  const server = el.lab.spawn(to, process.execPath, ['-e', `require('net').createServer((s) => s.end('hi')).listen(7070, '${toIp}', () => console.log('listening'))`]);
  await waitForOutput(server, /listening/, 10_000);
  try {
    const out = el.lab.exec(from, process.execPath, ['-e', `const s = require('net').connect(7070, '${toIp}'); s.setTimeout(2000, () => process.exit(1)); s.on('data', (d) => { console.log(String(d)); process.exit(0); }); s.on('error', () => process.exit(1));`]);
    return out.trim() === 'hi';
  } catch {
    return false;
  } finally {
    await stopChild(server);
  }
}

test('etcd lab: three healthy members, a leader, kill + restart, partition + heal, VIP helpers, cleanup', { ...NEEDS, timeout: 120_000 }, async () => {
  const el = await startEtcdLab({ nodes: 2 });
  const prefix = el.lab.prefix;
  try {
    assert.equal(el.members.length, 3);
    assert.deepEqual(el.endpoints, ['http://192.0.2.11:2379', 'http://192.0.2.12:2379', 'http://192.0.2.13:2379']);
    assert.equal(el.nodeIp(1), '192.0.2.22');
    const health = JSON.parse(el.etcdctl(['endpoint', 'health', '-w', 'json'])) as Array<{ health: boolean }>;
    assert.deepEqual(health.map((h) => h.health), [true, true, true], JSON.stringify(health));
    const leader = el.leaderMember();
    assert.ok(leader !== undefined && leader >= 0 && leader < 3, `one raft leader: ${leader}`);
    el.etcdctl(['put', '/lab/k', 'v1']);

    // a node reaches etcd through the bridge
    assert.equal(probeFromNode(el, el.nodes[0] as string).result, 'ok', 'node n1 reaches e1');

    // kill a follower, the cluster keeps its quorum; restart it on its data dir
    const follower = (leader! + 1) % 3;
    await el.kill(follower);
    el.etcdctl(['put', '/lab/k', 'v2']);
    await el.restart(follower);
    const onIt = el.lab.exec(el.switchNs, 'etcdctl', [`--endpoints=${el.endpoints[follower]}`, 'get', '/lab/k', '--print-value-only']);
    assert.equal(onIt.trim(), 'v2', 'the restarted member caught up on its data dir');

    // kill the raft leader: another is elected
    await el.kill(leader!);
    let next: number | undefined;
    for (let k = 0; k < 50 && (next === undefined || next === leader); k++) {
      await new Promise((r) => setTimeout(r, 200));
      next = el.leaderMember();
    }
    assert.ok(next !== undefined && next !== leader, `a new raft leader after killing e${leader! + 1}: ${next}`);
    await el.restart(leader!);
    assert.equal((JSON.parse(el.etcdctl(['endpoint', 'health', '-w', 'json'])) as Array<{ health: boolean }>).filter((h) => h.health).length, 3);

    // partition n1 (drop): etcd times out from n1, n1 still pings n2, n2 still reaches etcd
    const [n1, n2] = el.nodes as [string, string];
    el.partition(n1, 'drop');
    assert.equal(probeFromNode(el, n1).result, 'TIMEOUT', 'n1 is cut from etcd, silently');
    assert.equal(await tcpFromTo(el, n1, n2, el.nodeIp(1)), true, 'n1 still reaches n2 (tcp)');
    assert.equal(probeFromNode(el, n2).result, 'ok', 'n2 still reaches etcd');
    el.heal(n1);
    assert.equal(probeFromNode(el, n1).result, 'ok', 'healed: n1 reaches etcd again');

    // reject: refused at once
    el.partition(n1, 'reject');
    const refused = probeFromNode(el, n1, 5000);
    assert.equal(refused.result, 'ECONNREFUSED', 'reject: the connect is reset at once');
    assert.ok(refused.ms < 4000, `before the 5 s timeout: ${refused.ms} ms`);
    el.heal(n1);
    assert.equal(probeFromNode(el, n1).result, 'ok');

    // VIP helpers: the monitor and the sampler see an address added on n1, moved to n2
    const mon = await monitorAddresses(el);
    const sampler = sampleOverlap(el);
    assert.deepEqual(vipHolders(el), []);
    el.lab.exec(n1, 'ip', ['addr', 'add', VIP, 'dev', 'eth0']);
    assert.deepEqual(vipHolders(el), [n1]);
    await new Promise((r) => setTimeout(r, 100));
    el.lab.exec(n1, 'ip', ['addr', 'del', VIP, 'dev', 'eth0']);
    await new Promise((r) => setTimeout(r, 50));
    el.lab.exec(n2, 'ip', ['addr', 'add', VIP, 'dev', 'eth0']);
    await new Promise((r) => setTimeout(r, 100));
    // and an overlap: n1 adds while n2 holds, for 100 ms
    el.lab.exec(n1, 'ip', ['addr', 'add', VIP, 'dev', 'eth0']);
    await new Promise((r) => setTimeout(r, 100));
    el.lab.exec(n1, 'ip', ['addr', 'del', VIP, 'dev', 'eth0']);
    await new Promise((r) => setTimeout(r, 200));
    const report = await sampler.stop();
    await mon.stop();
    assert.ok(report.samples > 20, `samples: ${report.samples}`);
    assert.ok(report.overlaps.length > 0, 'the sampler saw the deliberate overlap');
    assert.ok(report.overlaps.every((o) => o.holders.length === 2));
    const ev = mon.events();
    assert.deepEqual(ev.map((e) => `${e.ns === n1 ? 'n1' : 'n2'}:${e.kind}`), ['n1:add', 'n1:del', 'n2:add', 'n1:add', 'n1:del'], JSON.stringify(ev));
    const gap = mon.firstAdd(n2, 0)! - mon.firstDel(n1, 0)!;
    assert.ok(gap > 20 && gap < 1000, `the monitor's µs times: gap ${gap} ms`);
    const overlap = mon.overlapMs();
    assert.ok(overlap > 50 && overlap < 1000, `exact overlap from the monitor: ${overlap} ms`);
    assert.ok(Math.abs(Date.now() - ev[0]!.t) < 60_000, 'monitor times are wall-clock ms');
  } finally {
    await el.cleanup();
  }
  assert.deepEqual(namespacesOf(prefix), [], 'no namespace left');
  assert.equal(existsSync(el.dir), false, 'temp dir removed');
});

test('etcd lab: stopAll takes every member down, startAll brings the cluster back with its data', { ...NEEDS, timeout: 60_000 }, async () => {
  const el = await startEtcdLab({ nodes: 1 });
  try {
    el.etcdctl(['put', '/lab/k', 'kept']);
    await el.stopAll();
    assert.throws(() => el.etcdctl(['--command-timeout=1s', 'endpoint', 'health']));
    assert.equal(el.leaderMember(), undefined);
    await el.startAll();
    assert.notEqual(el.leaderMember(), undefined);
    assert.equal(el.etcdctl(['get', '/lab/k', '--print-value-only']).trim(), 'kept');
  } finally {
    await el.cleanup();
  }
});

test('etcd lab: TLS (client certificates) and auth', { ...NEEDS, timeout: 90_000 }, async () => {
  const el = await startEtcdLab({ nodes: 1, tls: true, auth: { user: 'vigil', password: 'secret' } });
  try {
    assert.ok(el.endpoints.every((e) => e.startsWith('https://')));
    assert.ok(el.tls && existsSync(el.tls.ca) && existsSync(el.tls.cert) && existsSync(el.tls.key) && existsSync(el.tls.otherCa));
    const ns = el.nodes[0] as string;
    const base = [`--endpoints=${el.endpoints.join(',')}`, '--dial-timeout=2s', '--command-timeout=2s'];
    const tls = [`--cacert=${el.tls.ca}`, `--cert=${el.tls.cert}`, `--key=${el.tls.key}`];
    // the user writes under /vigil/, not elsewhere; a wrong password is refused
    el.lab.exec(ns, 'etcdctl', [...base, ...tls, '--user=vigil:secret', 'put', '/vigil/x', '1']);
    assert.throws(() => el.lab.exec(ns, 'etcdctl', [...base, ...tls, '--user=vigil:secret', 'put', '/other', '1']), /permission denied/);
    assert.throws(() => el.lab.exec(ns, 'etcdctl', [...base, ...tls, '--user=vigil:wrong', 'put', '/vigil/x', '1']), /authentication failed/);
    // trusting the other CA: the members' certificates are refused
    assert.throws(() => el.lab.exec(ns, 'etcdctl', [...base, `--cacert=${el.tls!.otherCa}`, `--cert=${el.tls!.cert}`, `--key=${el.tls!.key}`, '--user=vigil:secret', 'put', '/vigil/x', '1']));
    // the lab's own etcdctl is root
    assert.match(el.etcdctl(['get', '/vigil/x', '--print-value-only']), /^1/);
  } finally {
    await el.cleanup();
  }
});
