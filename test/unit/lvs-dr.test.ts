// lb_kind DR: the netdev documents (shape here, nft itself in a throwaway namespace), vigil -t's
// DR rules, the neighbour-table follower (neighbours.ts) and the balancer's DR desired state.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EventBus } from '../../src/bus/bus.ts';
import { formatDiagnostic } from '../../src/config/diagnostics.ts';
import { loadConfigFile } from '../../src/config/load.ts';
import { configSchema, type ConfigInput } from '../../src/config/schema.ts';
import { Balancer } from '../../src/lvs/balancer.ts';
import type { Backend, DataPlane, DesiredState, Service } from '../../src/lvs/model.ts';
import { Neighbours, inSubnet, onLink, type LocalSubnet, type NeighbourEntry } from '../../src/lvs/neighbours.ts';
import { buildRuleset, drTableName, removeDocument, type NftDocument } from '../../src/lvs/nft-ruleset.ts';
import { isRoot } from '../lib/netns.ts';
import { quietLog } from '../lib/host-rig.ts';

type Obj = Record<string, unknown>;

const OWN = '02:00:00:00:00:01';
const mac = (i: number) => `02:00:00:00:01:${String(i).padStart(2, '0')}`;
const be = (i: number, weight = 1): Backend => ({ id: `198.51.100.${10 + i}:80`, address: `198.51.100.${10 + i}`, port: 80, weight, mac: mac(i) });

const dr = (over: Partial<Service> = {}): Service => ({
  id: 'web',
  family: 4,
  match: { kind: 'address', addresses: ['198.51.100.100'], port: 80, protocol: 'tcp' },
  algorithm: 'wrr',
  forwarding: 'dr',
  ifname: 'eth0',
  ownMac: OWN,
  backends: [be(1, 3), be(2, 2), be(3, 1)],
  slotBase: [be(1, 3), be(2, 2), be(3, 1)].map((b) => ({ id: b.id, weight: b.weight })),
  ...over,
});

const nat: Service = {
  id: 'nat',
  family: 4,
  match: { kind: 'address', addresses: ['192.0.2.100'], port: 443, protocol: 'tcp' },
  algorithm: 'rr',
  backends: [{ id: '198.51.100.50:8443', address: '198.51.100.50', port: 8443, weight: 1 }],
};

const TABLE = 'vigil_dr_eth0';

/** The add-rule commands of one chain of one table. */
function rules(doc: NftDocument, table: string, chain: string): Obj[][] {
  return doc.nftables
    .map((c) => (c as { add?: { rule?: { table: string; chain: string; expr: Obj[] } } }).add?.rule)
    .filter((r): r is { table: string; chain: string; expr: Obj[] } => r !== undefined && r.table === table && r.chain === chain)
    .map((r) => r.expr);
}

/** Slot -> backend chain of the DR selection. */
function slotTargets(doc: NftDocument, svc = 'web'): { key: Obj; slots: string[] } {
  const rule = rules(doc, TABLE, `svc-${svc}`).find((r) => 'vmap' in (r[0] as Obj));
  assert.ok(rule, 'a selection rule');
  const vmap = (rule[0] as { vmap: { key: Obj; data: { set: Array<[unknown, { goto: { target: string } }]> } } }).vmap;
  const slots: string[] = [];
  for (const [k, v] of vmap.data.set) {
    const [from, to] = typeof k === 'number' ? [k, k] : (k as { range: [number, number] }).range;
    for (let i = from; i <= to; i++) slots[i] = v.goto.target;
  }
  return { key: vmap.key, slots };
}

const STATES: Record<string, DesiredState> = {
  wrr: { services: [dr()] },
  mixed: { services: [nat, dr()] },
  sh: { services: [dr({ algorithm: 'sh' })] },
  persistence: { services: [dr({ persistence: { timeoutS: 300, granularity: '255.255.255.0' } })] },
  portless: { services: [dr({ match: { kind: 'address', addresses: ['198.51.100.100', '198.51.100.101'], protocol: 'udp' }, persistence: { timeoutS: 60 }, backends: [{ ...be(1), port: undefined } as Backend] })] },
  empty: { services: [dr({ backends: [] })] },
  ipv6: {
    services: [
      dr({
        id: 'web6',
        family: 6,
        match: { kind: 'address', addresses: ['2001:db8::100'], port: 443, protocol: 'tcp' },
        backends: [{ id: '2001:db8::11', address: '2001:db8::11', weight: 1, mac: mac(1) }],
      }),
    ],
  },
};

describe('DR documents', () => {
  test('a netdev table per interface, in the same document as the inet table; ingress on the device; only the service is matched', () => {
    const r = buildRuleset(STATES.mixed as DesiredState);
    const cmds = r.document.nftables as Obj[];
    assert.equal(drTableName('vigil', 'eth0'), TABLE);
    assert.ok(cmds.some((c) => (c.add as { table?: Obj } | undefined)?.table?.family === 'inet'));
    const ingress = cmds.map((c) => (c.add as { chain?: Obj } | undefined)?.chain).find((c) => c?.table === TABLE && c.name === 'ingress');
    assert.deepEqual(ingress, { family: 'netdev', table: TABLE, name: 'ingress', type: 'filter', hook: 'ingress', prio: 0, dev: 'eth0', policy: 'accept' });
    assert.deepEqual(rules(r.document, TABLE, 'ingress'), [
      [
        { match: { op: '==', left: { payload: { protocol: 'ip', field: 'daddr' } }, right: '198.51.100.100' } },
        { match: { op: '==', left: { payload: { protocol: 'tcp', field: 'dport' } }, right: 80 } },
        { goto: { target: 'svc-web' } },
      ],
    ]);
    // the NAT service stays in the inet table, the DR one is not there
    assert.equal(rules(r.document, 'vigil', 'services').length, 1);
    assert.deepEqual(Object.keys(r.inventory.dr ?? {}), [TABLE]);
    assert.deepEqual(r.names.services.web, { conn: 'conn-web', pkts: 'pkts-web', table: TABLE });
    assert.deepEqual(r.names.services.nat, { conn: 'conn-nat', pkts: 'pkts-nat' });
  });

  test('each backend chain rewrites both MACs and forwards out of the device; counters per backend (SYNs as connections)', () => {
    const r = buildRuleset(STATES.wrr as DesiredState);
    const chain = 'be-web-198.51.100.11_3a80';
    assert.deepEqual(rules(r.document, TABLE, chain), [
      [{ counter: 'pkts-web-198.51.100.11_3a80' }],
      [{ match: { op: '==', left: { '&': [{ payload: { protocol: 'tcp', field: 'flags' } }, ['syn', 'ack']] }, right: 'syn' } }, { counter: 'conn-web-198.51.100.11_3a80' }],
      [
        { mangle: { key: { payload: { protocol: 'ether', field: 'daddr' } }, value: mac(1) } },
        { mangle: { key: { payload: { protocol: 'ether', field: 'saddr' } }, value: OWN } },
        { fwd: { dev: 'eth0' } },
      ],
    ]);
  });

  test('every packet is hashed on its flow into a Maglev table with the weights; removing a backend moves exactly its slots, and it takes them back', () => {
    const a = slotTargets(buildRuleset(STATES.wrr as DesiredState).document);
    assert.equal(a.slots.length, 251);
    assert.deepEqual((a.key as { jhash: { expr: unknown } }).jhash.expr, { concat: [{ payload: { protocol: 'ip', field: 'saddr' } }, { payload: { protocol: 'th', field: 'sport' } }] });
    const share = (t: string) => a.slots.filter((s) => s === t).length;
    assert.deepEqual([share('be-web-198.51.100.11_3a80'), share('be-web-198.51.100.12_3a80'), share('be-web-198.51.100.13_3a80')].map((n) => Math.round((n / 251) * 6)), [3, 2, 1]);
    const b = slotTargets(buildRuleset({ services: [dr({ backends: [be(1, 3), be(3, 1)] })] }).document);
    const gone = 'be-web-198.51.100.12_3a80';
    a.slots.forEach((t, i) => {
      if (t !== gone) assert.equal(b.slots[i], t, `slot ${i} stays`);
    });
    assert.ok(!b.slots.includes(gone));
    const shareB = (t: string) => b.slots.filter((x) => x === t).length / 251;
    assert.ok(Math.abs(shareB('be-web-198.51.100.11_3a80') - 0.75) < 0.05, `its slots go by weight: ${shareB('be-web-198.51.100.11_3a80')}`);
    assert.deepEqual(slotTargets(buildRuleset(STATES.wrr as DesiredState).document).slots, a.slots, 'back in the pool: the same table');
    // sh hashes the source address only (sh-port: with the port)
    const sh = slotTargets(buildRuleset(STATES.sh as DesiredState).document);
    assert.deepEqual((sh.key as { jhash: { expr: unknown } }).jhash.expr, { payload: { protocol: 'ip', field: 'saddr' } });
  });

  test('persistence: a timeout set per backend, looked up before the hash, refreshed by every packet', () => {
    const r = buildRuleset(STATES.persistence as DesiredState);
    const svc = rules(r.document, TABLE, 'svc-web');
    const masked = { '&': [{ payload: { protocol: 'ip', field: 'saddr' } }, '255.255.255.0'] };
    assert.deepEqual(svc[2], [{ match: { op: '==', left: masked, right: `@${r.inventory.dr?.[TABLE]?.sets[0]?.name}` } }, { goto: { target: 'be-web-198.51.100.11_3a80' } }]);
    assert.equal(r.inventory.dr?.[TABLE]?.sets.length, 3);
    assert.ok(rules(r.document, TABLE, 'be-web-198.51.100.11_3a80').some((x) => 'set' in (x[0] as Obj)));
  });

  test('updates in place; a table no longer wanted (or a stale one of an earlier run) is deleted; removal takes the DR tables', () => {
    const first = buildRuleset(STATES.persistence as DesiredState, { staleDrTables: ['vigil_dr_old0'] });
    const del = (doc: NftDocument) => (doc.nftables as Obj[]).filter((c) => (c.delete as { table?: Obj } | undefined)?.table).map((c) => (c.delete as { table: { name: string } }).table.name);
    assert.deepEqual(del(first.document), ['vigil', 'vigil_dr_old0', TABLE], 'the first document replaces its tables');
    const second = buildRuleset({ services: [dr({ persistence: { timeoutS: 300, granularity: '255.255.255.0' }, backends: [be(1), be(2)] })] }, { previous: first.inventory });
    assert.deepEqual(del(second.document), [], 'updated in place');
    const cmds = second.document.nftables as Obj[];
    assert.ok(cmds.some((c) => (c.delete as { chain?: Obj } | undefined)?.chain?.name === 'be-web-198.51.100.13_3a80'));
    assert.ok(!cmds.some((c) => (c.add as { set?: Obj } | undefined)?.set), 'kept sets keep their clients');
    const third = buildRuleset({ services: [nat] }, { previous: second.inventory });
    assert.deepEqual(del(third.document), [TABLE]);
    assert.equal(third.inventory.dr, undefined);
    assert.deepEqual(
      (removeDocument('vigil', [TABLE]).nftables as Obj[]).filter((c) => c.delete).map((c) => (c.delete as { table: Obj }).table),
      [
        { family: 'inet', name: 'vigil' },
        { family: 'netdev', name: TABLE },
      ],
    );
  });

  test('bad DR states are refused with the reason', () => {
    assert.throws(() => buildRuleset({ services: [dr({ match: { kind: 'fwmark', mark: 1 } })] }), /DR matches an address/);
    assert.throws(() => buildRuleset({ services: [dr({ ifname: undefined })] }), /DR needs an interface name/);
    assert.throws(() => buildRuleset({ services: [dr({ ownMac: 'nope' })] }), /balancer's MAC/);
    assert.throws(() => buildRuleset({ services: [dr({ backends: [{ ...be(1), mac: undefined } as Backend] })] }), /DR needs its MAC address/);
    assert.throws(() => buildRuleset({ services: [dr({ backends: [{ ...be(1), mac: '01:00:5e:00:00:01' }] })] }), /DR needs its MAC address/, 'a multicast MAC');
    assert.throws(() => buildRuleset({ services: [dr({ backends: [{ ...be(1), port: 8080 }] })] }), /DR cannot change the port \(80 -> 8080\)/);
  });
});

/** Through a file: nft cannot open /dev/stdin on Node's socket pairs. */
function nft(ns: string, doc: NftDocument, apply = false): void {
  const dir = mkdtempSync(join(tmpdir(), 'vigil-nft-'));
  try {
    writeFileSync(join(dir, 'doc.json'), JSON.stringify(doc));
    execFileSync('ip', ['netns', 'exec', ns, 'nft', ...(apply ? [] : ['--check']), '-j', '-f', join(dir, 'doc.json')], { stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (err) {
    throw new Error(`nft refused the document: ${(err as { stderr?: Buffer }).stderr?.toString() ?? String(err)}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('nft accepts every DR document, loads and updates it, and removal leaves no table (throwaway namespace)', () => {
  assert.ok(isRoot, 'this check needs root (ip netns add); CI runs as root');
  const ns = `vgdrchk${process.pid}`;
  execFileSync('ip', ['netns', 'add', ns]);
  try {
    // the ingress hook needs its device
    execFileSync('ip', ['-n', ns, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'eth1']);
    execFileSync('ip', ['-n', ns, 'link', 'set', 'eth0', 'up']);
    for (const [name, state] of Object.entries(STATES)) {
      try {
        nft(ns, buildRuleset(state).document);
      } catch (err) {
        throw new Error(`${name}: ${(err as Error).message}`);
      }
    }
    const first = buildRuleset(STATES.persistence as DesiredState);
    nft(ns, first.document, true);
    const second = buildRuleset(STATES.mixed as DesiredState, { previous: first.inventory });
    nft(ns, second.document, true);
    const listed = execFileSync('ip', ['netns', 'exec', ns, 'nft', 'list', 'table', 'netdev', TABLE], { encoding: 'utf8' });
    assert.match(listed, /type filter hook ingress device "eth0"/);
    assert.match(listed, /jhash ip saddr \. th sport mod 251 seed 0x[0-9a-f]+ vmap/);
    assert.match(listed, /ether daddr set 02:00:00:00:01:01 ether saddr set 02:00:00:00:00:01 fwd to "eth0"/);
    nft(ns, buildRuleset({ services: [nat] }, { previous: second.inventory }).document, true);
    assert.doesNotMatch(execFileSync('ip', ['netns', 'exec', ns, 'nft', 'list', 'tables'], { encoding: 'utf8' }), /netdev/);
    nft(ns, buildRuleset(STATES.wrr as DesiredState).document, true);
    nft(ns, removeDocument('vigil', [TABLE]), true);
    nft(ns, removeDocument('vigil', [TABLE]), true);
    assert.equal(execFileSync('ip', ['netns', 'exec', ns, 'nft', 'list', 'tables'], { encoding: 'utf8' }).trim(), '');
  } finally {
    execFileSync('ip', ['netns', 'del', ns]);
  }
});

// --- vigil -t -----------------------------------------------------------------------------------

const SUBNETS: LocalSubnet[] = [
  { ifname: 'eth0', address: '198.51.100.1', prefix: 24, family: 4, mac: OWN },
  { ifname: 'eth1', address: '203.0.113.1', prefix: 24, family: 4, mac: '02:00:00:00:00:02' },
];

function check(text: string) {
  const dir = mkdtempSync(join(tmpdir(), 'vigil-dr-'));
  try {
    const file = join(dir, 'k.conf');
    writeFileSync(file, text);
    const r = loadConfigFile(file, { interfaces: new Map([['eth0', ['198.51.100.1']]]), subnets: SUBNETS, configId: 'n' });
    return { config: r.config, lines: r.diagnostics.map(formatDiagnostic).map((l) => l.replace(file, 'F')) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const drConf = (rs: string, head = '198.51.100.100 80', extra = '') => `virtual_server ${head} {
    protocol TCP
    lb_algo wrr
    lb_kind DR
${extra}${rs}}
`;

describe('vigil -t on lb_kind DR', () => {
  test('accepted; a real server port other than the VS port is reset (the check keeps it), as keepalived does', () => {
    const r = check(drConf('    real_server 198.51.100.11 8080 {\n        TCP_CHECK {\n        }\n    }\n    real_server 198.51.100.12 {\n    }\n'));
    assert.deepEqual(r.lines, ["F:5:5: virtual_server.0.real_server.0: warning: virtual server [198.51.100.100]:tcp:80 and real server [198.51.100.11]:tcp:8080 ports don't match - resetting"]);
    const rs = r.config?.virtual_server[0]?.real_server[0];
    assert.equal(rs?.port, 80);
    assert.equal(rs?.tcp_check[0]?.connect_port, 8080);
  });

  test('a sorry server port is reset too', () => {
    const r = check(drConf('    real_server 198.51.100.11 80 {\n    }\n', undefined, '    sorry_server 198.51.100.20 8080\n'));
    assert.deepEqual(r.lines, ["F:5:5: virtual_server.0.sorry_server: warning: virtual server [198.51.100.100]:tcp:80 and sorry server ports don't match - resetting"]);
    assert.equal(r.config?.virtual_server[0]?.sorry_server?.port, 80);
  });

  test('a real server off the local segment is an error naming why', () => {
    const r = check(drConf('    real_server 192.0.2.11 80 {\n    }\n'));
    assert.deepEqual(r.lines, [
      "F:5:5: virtual_server.0.real_server.0: real server 192.0.2.11 is not on a directly connected subnet of this host (eth0 198.51.100.1/24, eth1 203.0.113.1/24): lb_kind DR hands the client's packets to the real server's MAC address on the balancer's own link, so it must share a segment with the balancer; put it there or use NAT",
    ]);
    assert.equal(r.config, null);
  });

  test('real servers of one virtual server on two interfaces are refused', () => {
    const r = check(drConf('    real_server 198.51.100.11 80 {\n    }\n    real_server 203.0.113.11 80 {\n    }\n'));
    assert.deepEqual(r.lines, ['F:7:5: virtual_server.0.real_server.1: real server 203.0.113.11 is on eth1, but 198.51.100.11 is on eth0: vigil forwards one DR virtual server on one interface; put its real servers on one segment']);
  });

  test('fwmark DR is refused with the reason; TUN stays refused', () => {
    const r = check('virtual_server fwmark 5 {\n    lb_algo rr\n    lb_kind DR\n    real_server 198.51.100.11 {\n    }\n}\n');
    assert.deepEqual(r.lines, [
      'F:3:5: virtual_server.0.lb_kind: lb_kind DR with a firewall mark is refused: vigil forwards DR at netdev ingress, which runs before any rule can set a mark (and before conntrack); use an address virtual server, or NAT',
    ]);
    assert.match(check(drConf('    real_server 198.51.100.11 80 {\n    }\n').replace('DR', 'TUN')).lines.join('\n'), /lb_kind TUN is refused/);
  });
});

// --- the neighbour table ------------------------------------------------------------------------

describe('neighbours.ts', () => {
  test('on-link: the longest matching prefix; the interface address itself is not a neighbour', () => {
    assert.equal(onLink('198.51.100.11', SUBNETS)?.ifname, 'eth0');
    assert.equal(onLink('192.0.2.11', SUBNETS), undefined);
    assert.equal(inSubnet('198.51.100.1', SUBNETS[0] as LocalSubnet), false);
    const v6: LocalSubnet = { ifname: 'eth0', address: '2001:db8::1', prefix: 64, family: 6, mac: OWN };
    assert.equal(inSubnet('2001:db8::11', v6), true);
    assert.equal(inSubnet('2001:db8:1::11', v6), false);
  });

  test('unknown: prodded, left out with one log line; appears: the balancer is told; changes: told again; goes from the table: kept', async () => {
    let table: NeighbourEntry[] = [];
    const prodded: string[] = [];
    const lines: string[] = [];
    let changes = 0;
    const n = new Neighbours({ log: quietLog(lines), onChange: () => changes++, pollMs: 10, read: () => Promise.resolve(table), subnets: () => SUBNETS, prod: (a) => prodded.push(a) });
    try {
      await n.track(['198.51.100.11', '192.0.2.99']);
      assert.equal(n.placement('198.51.100.11'), undefined);
      assert.deepEqual(prodded, ['198.51.100.11']);
      assert.ok(lines.some((l) => /real server 198\.51\.100\.11 stays out of the DR pool: its MAC address on eth0 is not in the neighbour table yet/.test(l)), lines.join('\n'));
      assert.ok(lines.some((l) => /real server 192\.0\.2\.99 stays out of the DR pool: it is not on a directly connected subnet here/.test(l)));
      const wait = async (what: string, fn: () => boolean) => {
        for (let i = 0; i < 200 && !fn(); i++) await new Promise((r) => setTimeout(r, 5));
        assert.ok(fn(), what);
      };
      table = [{ dst: '198.51.100.11', dev: 'eth0', lladdr: '02:AA:00:00:00:11', state: ['REACHABLE'] }];
      await wait('told of the MAC', () => changes === 1);
      assert.deepEqual(n.placement('198.51.100.11'), { ifname: 'eth0', ownMac: OWN, mac: '02:aa:00:00:00:11' });
      assert.ok(lines.some((l) => /198\.51\.100\.11 is at 02:aa:00:00:00:11 on eth0: in the DR pool/.test(l)));
      table = [{ dst: '198.51.100.11', dev: 'eth0', lladdr: '02:aa:00:00:00:12', state: ['STALE'] }];
      await wait('told of the change', () => changes === 2);
      assert.equal(n.placement('198.51.100.11')?.mac, '02:aa:00:00:00:12');
      table = [];
      await new Promise((r) => setTimeout(r, 50));
      assert.equal(changes, 2);
      assert.equal(n.placement('198.51.100.11')?.mac, '02:aa:00:00:00:12', 'a known MAC outlives its cache entry');
      assert.equal(lines.filter((l) => /stays out/.test(l)).length, 2, 'one line per address, not one per read');
    } finally {
      n.stop();
    }
  });
});

// --- the balancer's DR state --------------------------------------------------------------------

class Recording implements DataPlane {
  states: DesiredState[] = [];
  apply(s: DesiredState) {
    this.states.push(structuredClone(s));
    return Promise.resolve();
  }
  remove() {
    return Promise.resolve();
  }
  counters() {
    return Promise.resolve({ services: {}, backends: {} });
  }
}

test('balancer: DR services carry the interface, both MACs, no port; a server with no known MAC stays out until it appears', async () => {
  let table: NeighbourEntry[] = [{ dst: '198.51.100.11', dev: 'eth0', lladdr: mac(1) }];
  const dp = new Recording();
  const balancer = new Balancer({
    bus: new EventBus(),
    log: quietLog([]),
    dataPlane: dp,
    neighbours: (onChange) => new Neighbours({ log: quietLog([]), onChange, pollMs: 10, read: () => Promise.resolve(table), subnets: () => SUBNETS, prod: () => undefined }),
  });
  try {
    const config = configSchema.parse({
      virtual_server: [{ ip: '198.51.100.100', port: 80, protocol: 'TCP', lb_algo: 'wrr', lb_kind: 'DR', real_server: [{ ip: '198.51.100.11', port: 80 }, { ip: '198.51.100.12' }] }],
    } as ConfigInput);
    await balancer.apply(config);
    const s = dp.states.at(-1)?.services[0];
    assert.equal(s?.forwarding, 'dr');
    assert.equal(s?.ifname, 'eth0');
    assert.equal(s?.ownMac, OWN);
    assert.deepEqual(s?.backends, [{ id: '198.51.100.11:80', address: '198.51.100.11', weight: 1, mac: mac(1) }]);
    table = [...table, { dst: '198.51.100.12', dev: 'eth0', lladdr: mac(2) }];
    for (let i = 0; i < 200 && (dp.states.at(-1)?.services[0]?.backends.length ?? 0) < 2; i++) await new Promise((r) => setTimeout(r, 5));
    assert.deepEqual(
      dp.states.at(-1)?.services[0]?.backends.map((b) => b.mac),
      [mac(1), mac(2)],
    );
  } finally {
    await balancer.stop();
  }
});
