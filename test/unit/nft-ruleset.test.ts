// The nftables data plane's documents: DesiredState -> libnftables JSON, checked by shape here and
// by nft itself (`nft --check -j -f -` in a throwaway network namespace, never the host's ruleset).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Backend, DesiredState, Service } from '../../src/lvs/model.ts';
import { buildRuleset, granularityMask, nameKey, removeDocument, type NftDocument } from '../../src/lvs/nft-ruleset.ts';
import { maglevSlots, reduceWeights, wrrSlots } from '../../src/lvs/nft-slots.ts';
import { isRoot } from '../lib/netns.ts';

type Obj = Record<string, unknown>;

const be = (address: string, weight = 1, port?: number): Backend => ({
  id: port === undefined ? address : `${address.includes(':') ? `[${address}]` : address}:${port}`,
  address,
  weight,
  ...(port === undefined ? {} : { port }),
});

const web = (over: Partial<Service> = {}): Service => ({
  id: 'web',
  family: 4,
  match: { kind: 'address', addresses: ['192.0.2.100'], port: 80, protocol: 'tcp' },
  algorithm: 'rr',
  backends: [be('198.51.100.1', 1, 8080), be('198.51.100.2', 1, 8080), be('198.51.100.3', 1, 8080)],
  ...over,
});

/** The `add rule` commands of one chain, as their expression lists. */
function rules(doc: NftDocument, chain: string): Obj[][] {
  return doc.nftables
    .map((c) => (c as { add?: { rule?: { chain: string; expr: Obj[] } } }).add?.rule)
    .filter((r): r is { chain: string; expr: Obj[] } => r !== undefined && r.chain === chain)
    .map((r) => r.expr);
}

/** The vmap of the service's selection rule: its key and data as [slot or range, target]. */
function selection(doc: NftDocument, svc = 'web'): { key: Obj; data: Array<[unknown, string]> } {
  const rule = rules(doc, `svc-${svc}`).find((r) => 'vmap' in (r[0] as Obj));
  assert.ok(rule, 'a selection rule');
  const vmap = (rule[0] as { vmap: { key: Obj; data: { set: Array<[unknown, { goto: { target: string } }]> } } }).vmap;
  return { key: vmap.key, data: vmap.data.set.map(([k, v]) => [k, v.goto.target]) };
}

/** The backend chain for each slot, ranges expanded. */
function slotTargets(doc: NftDocument, svc = 'web'): string[] {
  const out: string[] = [];
  for (const [k, target] of selection(doc, svc).data) {
    const [from, to] = typeof k === 'number' ? [k, k] : (k as { range: [number, number] }).range;
    for (let i = from; i <= to; i++) out[i] = target;
  }
  return out;
}

const STATES: Record<string, DesiredState> = {
  rr: { services: [web()] },
  wrr: { services: [web({ algorithm: 'wrr', backends: [be('198.51.100.1', 3, 8080), be('198.51.100.2', 2, 8080), be('198.51.100.3', 1, 8080)] })] },
  shPort: { services: [web({ algorithm: 'sh', hashPort: true })] },
  dh: { services: [web({ algorithm: 'dh' })] },
  mh: { services: [web({ algorithm: 'mh' })] },
  persistence: { services: [web({ persistence: { timeoutS: 300, granularity: '255.255.255.0' } })] },
  mixed: {
    services: [
      web(),
      { id: 'fw7', family: 4, match: { kind: 'fwmark', mark: 7 }, algorithm: 'wrr', backends: [be('198.51.100.1'), be('198.51.100.2', 2, 443)] },
      { id: 'fw8', family: 6, match: { kind: 'fwmark', mark: 8 }, algorithm: 'rr', backends: [be('2001:db8:1::1')] },
      web({ id: 'dns', match: { kind: 'address', addresses: ['192.0.2.100', '192.0.2.101'], protocol: 'udp' }, backends: [be('198.51.100.1'), be('198.51.100.2', 1, 53)] }),
      web({ id: 'web6', family: 6, match: { kind: 'address', addresses: ['2001:db8::100'], port: 80, protocol: 'tcp' }, backends: [be('2001:db8:1::1', 1, 8080), be('2001:db8:1::2')] }),
    ],
  },
  fwmark: {
    services: [
      web(),
      { id: 'fw7', family: 4, match: { kind: 'fwmark', mark: 7 }, algorithm: 'wrr', backends: [be('198.51.100.1'), be('198.51.100.2', 2, 443)] },
    ],
  },
  ipv6: {
    services: [
      {
        id: 'web6',
        family: 6,
        match: { kind: 'address', addresses: ['2001:db8::100', '2001:db8::101'], port: 443, protocol: 'tcp' },
        algorithm: 'sh',
        persistence: { timeoutS: 60, granularity: '/64' },
        snat: true,
        backends: [be('2001:db8:1::1', 1, 8443), be('2001:db8:1::2')],
      },
    ],
  },
  snat: { services: [web({ snat: true, match: { kind: 'address', addresses: ['192.0.2.100', '192.0.2.101'], protocol: 'udp' } })] },
  empty: { services: [web({ backends: [] })] },
  nothing: { services: [] },
};

test('rr: numgen inc mod N, one slot per backend, each backend chain counts and DNATs', () => {
  const { document: doc, names } = buildRuleset(STATES.rr as DesiredState);
  assert.deepEqual(doc.nftables.slice(0, 4), [
    { metainfo: { json_schema_version: 1 } },
    { add: { table: { family: 'inet', name: 'vigil' } } },
    { delete: { table: { family: 'inet', name: 'vigil' } } },
    { add: { table: { family: 'inet', name: 'vigil' } } },
  ]);
  assert.deepEqual(rules(doc, 'services'), [
    [
      { match: { op: '==', left: { payload: { protocol: 'ip', field: 'daddr' } }, right: '192.0.2.100' } },
      { match: { op: '==', left: { payload: { protocol: 'tcp', field: 'dport' } }, right: 80 } },
      { goto: { target: 'svc-web' } },
    ],
  ]);
  assert.deepEqual(rules(doc, 'nat_pre'), [[{ jump: { target: 'services' } }]]);
  assert.deepEqual(rules(doc, 'nat_out'), [[{ jump: { target: 'services' } }]], 'locally originated clients too');
  const sel = selection(doc);
  assert.deepEqual(sel.key, { numgen: { mode: 'inc', mod: 3, offset: 0 } });
  const k1 = nameKey('198.51.100.1:8080');
  assert.equal(k1, '198.51.100.1_3a8080');
  assert.deepEqual(slotTargets(doc), [`be-web-${k1}`, 'be-web-198.51.100.2_3a8080', 'be-web-198.51.100.3_3a8080']);
  assert.deepEqual(rules(doc, `be-web-${k1}`), [
    [{ counter: `conn-web-${k1}` }],
    [
      { match: { op: '==', left: { meta: { key: 'l4proto' } }, right: 'tcp' } },
      { dnat: { family: 'ip', addr: '198.51.100.1', port: 8080 } },
    ],
  ]);
  assert.deepEqual(names.services.web, { conn: 'conn-web', pkts: 'pkts-web' });
  assert.deepEqual(names.backends.web?.['198.51.100.1:8080'], { conn: `conn-web-${k1}`, pkts: `pkts-web-${k1}` });
  // packets both ways, found by the conntrack entry: one verdict-map lookup by the original
  // destination, then one counter-map lookup by the backend's reply source (no rule per backend)
  assert.deepEqual(rules(doc, 'count_fwd'), [
    [
      { match: { op: 'in', left: { ct: { key: 'status' } }, right: 'dnat' } },
      { match: { op: '==', left: { meta: { key: 'l4proto' } }, right: 'tcp' } },
      {
        vmap: {
          key: { concat: [{ ct: { key: 'ip daddr', dir: 'original' } }, { ct: { key: 'proto-dst', dir: 'original' } }] },
          data: { set: [[{ concat: ['192.0.2.100', 80] }, { goto: { target: 'count-web' } }]] },
        },
      },
    ],
  ]);
  assert.deepEqual(rules(doc, 'count-web'), [
    [{ counter: 'pkts-web' }],
    [
      { match: { op: '==', left: { meta: { key: 'l4proto' } }, right: 'tcp' } },
      {
        counter: {
          map: {
            key: { concat: [{ ct: { key: 'ip saddr', dir: 'reply' } }, { ct: { key: 'proto-src', dir: 'reply' } }] },
            data: { set: [1, 2, 3].map((i) => [{ concat: [`198.51.100.${i}`, 8080] }, `pkts-web-198.51.100.${i}_3a8080`]) },
          },
        },
      },
    ],
  ]);
  assert.deepEqual(rules(doc, 'nat_post'), [], 'no snat unless asked');
});

test('wrr: weights 3:2:1 become 6 slots interleaved as IPVS wrr orders them', () => {
  assert.deepEqual(wrrSlots([3, 2, 1]), [0, 0, 1, 0, 1, 2]);
  assert.deepEqual(wrrSlots([300, 200, 100]), [0, 0, 1, 0, 1, 2], 'reduced by their gcd');
  assert.deepEqual(wrrSlots([1, 1, 1]), [0, 1, 2]);
  const { document: doc } = buildRuleset(STATES.wrr as DesiredState);
  assert.deepEqual(selection(doc).key, { numgen: { mode: 'inc', mod: 6, offset: 0 } });
  assert.deepEqual(
    slotTargets(doc).map((t) => t.slice('be-web-198.51.100.'.length, 'be-web-198.51.100.'.length + 1)),
    ['1', '1', '2', '1', '2', '3'],
  );
  // large weights are scaled to a bounded table, keeping the ratio
  const big = reduceWeights([65535, 32768, 1]);
  assert.ok(big.reduce((a, b) => a + b) <= 1024 + 3, `bounded: ${big}`);
  assert.ok(Math.abs((big[0] as number) / (big[1] as number) - 2) < 0.01, `ratio kept: ${big}`);
  assert.equal(big[2], 1, 'a light backend keeps one slot');
  const slots = wrrSlots([65535, 32768, 1]);
  assert.equal(slots.length, big.reduce((a, b) => a + b));
});

test('sh hashes the source (and port) with a fixed seed; dh hashes the destination', () => {
  const a = buildRuleset(STATES.shPort as DesiredState).document;
  const b = buildRuleset(STATES.shPort as DesiredState).document;
  const key = selection(a).key as { jhash: { mod: number; seed: number; expr: unknown } };
  assert.equal(key.jhash.mod, 3);
  assert.deepEqual(key.jhash.expr, { concat: [{ payload: { protocol: 'ip', field: 'saddr' } }, { payload: { protocol: 'th', field: 'sport' } }] });
  assert.equal(typeof key.jhash.seed, 'number', 'a kernel-chosen seed would move every client at each apply');
  assert.deepEqual(a, b, 'the same state gives the same document');
  const dh = selection(buildRuleset(STATES.dh as DesiredState).document).key as { jhash: { expr: unknown } };
  assert.deepEqual(dh.jhash.expr, { payload: { protocol: 'ip', field: 'daddr' } });
});

test('mh: a Maglev table of 251 slots; removing a backend moves only its own slots', () => {
  const { document: doc } = buildRuleset(STATES.mh as DesiredState);
  const key = selection(doc).key as { jhash: { mod: number } };
  assert.equal(key.jhash.mod, 251);
  const ids = ['a:80', 'b:80', 'c:80', 'd:80', 'e:80'];
  const before = maglevSlots(ids, [1, 1, 1, 1, 1]);
  const shares = ids.map((_, i) => before.filter((o) => o === i).length);
  for (const s of shares) assert.ok(Math.abs(s - 251 / 5) <= 2, `even shares: ${shares}`);
  const after = maglevSlots(ids.filter((id) => id !== 'c:80'), [1, 1, 1, 1]).map((o) => (o >= 2 ? o + 1 : o));
  let kept = 0;
  let survivors = 0;
  before.forEach((o, k) => {
    if (o === 2) return;
    survivors++;
    if (after[k] === o) kept++;
  });
  assert.ok(kept / survivors > 0.95, `flows of the remaining backends stay: ${kept}/${survivors}`);
  const weighted = maglevSlots(['a', 'b'], [3, 1]);
  const wa = weighted.filter((o) => o === 0).length;
  assert.ok(Math.abs(wa / 251 - 0.75) < 0.02, `weights give shares: ${wa}/251`);
});

test('persistence: one timeout set per backend, keyed by the masked client, looked up before the scheduler', () => {
  const { document: doc, inventory } = buildRuleset(STATES.persistence as DesiredState);
  const key = { '&': [{ payload: { protocol: 'ip', field: 'saddr' } }, '255.255.255.0'] };
  assert.equal(inventory.sets.length, 3);
  const set = inventory.sets[0];
  assert.ok(set);
  assert.match(set.name, /^persist-web-198\.51\.100\.1_3a8080-[0-9a-f]{8}$/);
  assert.deepEqual(doc.nftables.find((c) => (c as { add?: { set?: unknown } }).add?.set), {
    add: { set: { family: 'inet', table: 'vigil', name: set.name, type: 'ipv4_addr', flags: ['timeout'], timeout: 300, size: 65535 } },
  });
  const svc = rules(doc, 'svc-web');
  assert.deepEqual(svc[1], [{ match: { op: '==', left: key, right: `@${set.name}` } }, { goto: { target: 'be-web-198.51.100.1_3a8080' } }]);
  assert.ok('vmap' in (svc[4]?.[0] as Obj), 'the scheduler comes after the three lookups');
  assert.deepEqual(rules(doc, 'be-web-198.51.100.1_3a8080')[1], [{ set: { op: 'update', elem: key, set: `@${set.name}` } }]);
  // no granularity: the whole address
  const whole = buildRuleset({ services: [web({ persistence: { timeoutS: 60 } })] }).document;
  assert.deepEqual(rules(whole, 'svc-web')[1]?.[0], { match: { op: '==', left: { payload: { protocol: 'ip', field: 'saddr' } }, right: `@${buildRuleset({ services: [web({ persistence: { timeoutS: 60 } })] }).inventory.sets[0]?.name}` } });
  // a different timeout is a different set (the old one is then deleted, not clashed with)
  const other = buildRuleset({ services: [web({ persistence: { timeoutS: 301, granularity: '255.255.255.0' } })] }).inventory.sets[0];
  assert.notEqual(other?.name, set.name);
});

test('granularity: netmasks and prefix lengths, both families', () => {
  assert.equal(granularityMask(4, '255.255.255.0'), '255.255.255.0');
  assert.equal(granularityMask(4, '24'), '255.255.255.0');
  assert.equal(granularityMask(4, '/20'), '255.255.240.0');
  assert.equal(granularityMask(4, '255.255.255.255'), undefined);
  assert.equal(granularityMask(4, undefined), undefined);
  assert.equal(granularityMask(6, '64'), 'ffff:ffff:ffff:ffff:0:0:0:0');
  assert.equal(granularityMask(6, '/56'), 'ffff:ffff:ffff:ff00:0:0:0:0');
  assert.equal(granularityMask(6, '128'), undefined);
  assert.throws(() => granularityMask(4, '255.0.255.0'), /not a netmask/);
  assert.throws(() => granularityMask(4, '33'), /longer than an IPv4/);
  assert.throws(() => granularityMask(6, '255.255.255.0'), /prefix length/);
});

test('fwmark: matched by meta mark, before address services (as IPVS looks them up)', () => {
  const { document: doc } = buildRuleset(STATES.fwmark as DesiredState);
  const services = rules(doc, 'services');
  assert.deepEqual(services[0], [
    { match: { op: '==', left: { meta: { key: 'mark' } }, right: 7 } },
    { match: { op: '==', left: { meta: { key: 'nfproto' } }, right: 'ipv4' } },
    { goto: { target: 'svc-fw7' } },
  ]);
  assert.deepEqual(services[1]?.at(-1), { goto: { target: 'svc-web' } });
  // a backend with no port keeps the client's; one with a port needs the protocol stated
  assert.deepEqual(rules(doc, 'be-fw7-198.51.100.1')[1], [{ dnat: { family: 'ip', addr: '198.51.100.1' } }]);
  assert.deepEqual(rules(doc, 'be-fw7-198.51.100.2_3a443')[1], [
    { match: { op: '==', left: { meta: { key: 'l4proto' } }, right: { set: ['tcp', 'udp'] } } },
    { dnat: { family: 'ip', addr: '198.51.100.2', port: 443 } },
  ]);
});

test('counting: the forward chain has one rule per kind of key, not per service or backend', () => {
  const many = (n: number) => Array.from({ length: n }, (_, i) => be(`198.51.100.${i + 1}`, 1, 8080));
  const svc = (id: string, addr: string, n: number, over: Partial<Service> = {}) => web({ id, match: { kind: 'address', addresses: [addr], port: 80, protocol: 'tcp' }, backends: many(n), ...over });
  const small = buildRuleset({ services: [svc('a', '192.0.2.100', 3)] }).document;
  const big = buildRuleset({ services: [svc('a', '192.0.2.100', 100), svc('b', '192.0.2.101', 100), svc('c', '192.0.2.102', 50)] }).document;
  assert.equal(rules(big, 'count_fwd').length, rules(small, 'count_fwd').length, 'services share one dispatch rule');
  assert.equal(rules(big, 'count-a').length, rules(small, 'count-a').length, 'backends share one counter map');
  const data = (rules(big, 'count_fwd')[0]?.[2] as { vmap: { data: { set: Array<[unknown, { goto: { target: string } }]> } } }).vmap.data.set;
  assert.deepEqual(data.map(([, v]) => v.goto.target), ['count-a', 'count-b', 'count-c']);
  // fwmark services first, keyed by mark and backend; then address and port; then address on every port
  const { document: mixed } = buildRuleset({
    services: [web(), { id: 'fw7', family: 4, match: { kind: 'fwmark', mark: 7 }, algorithm: 'wrr', backends: [be('198.51.100.1'), be('198.51.100.2', 2, 443)] }, ...(STATES.snat as DesiredState).services.map((s) => ({ ...s, id: 'dns' }))],
  });
  const fwd = rules(mixed, 'count_fwd');
  assert.equal(fwd.length, 3);
  assert.deepEqual(fwd[0], [
    { match: { op: 'in', left: { ct: { key: 'status' } }, right: 'dnat' } },
    { match: { op: '==', left: { meta: { key: 'nfproto' } }, right: 'ipv4' } },
    {
      vmap: {
        key: { concat: [{ meta: { key: 'mark' } }, { ct: { key: 'ip saddr', dir: 'reply' } }] },
        data: { set: [[{ concat: [7, '198.51.100.1'] }, { goto: { target: 'count-fw7' } }], [{ concat: [7, '198.51.100.2'] }, { goto: { target: 'count-fw7' } }]] },
      },
    },
  ]);
  assert.deepEqual((fwd[1]?.[2] as { vmap: { data: { set: unknown[] } } }).vmap.data.set, [[{ concat: ['192.0.2.100', 80] }, { goto: { target: 'count-web' } }]]);
  assert.deepEqual(fwd[2]?.slice(1), [
    { match: { op: '==', left: { meta: { key: 'l4proto' } }, right: 'udp' } },
    { vmap: { key: { ct: { key: 'ip daddr', dir: 'original' } }, data: { set: [['192.0.2.100', { goto: { target: 'count-dns' } }], ['192.0.2.101', { goto: { target: 'count-dns' } }]] } } },
  ]);
  // a fwmark service's backends by address alone; a service on every port: by address where the backend keeps the client's port
  assert.deepEqual(rules(mixed, 'count-fw7')[1], [
    { counter: { map: { key: { ct: { key: 'ip saddr', dir: 'reply' } }, data: { set: [['198.51.100.1', 'pkts-fw7-198.51.100.1'], ['198.51.100.2', 'pkts-fw7-198.51.100.2_3a443']] } } } },
  ]);
  const anyPort = buildRuleset({ services: [web({ id: 'dns', match: { kind: 'address', addresses: ['192.0.2.100'], protocol: 'udp' }, backends: [be('198.51.100.1'), be('198.51.100.2', 1, 53)] })] }).document;
  assert.deepEqual(rules(anyPort, 'count-dns').slice(1), [
    [
      { match: { op: '==', left: { meta: { key: 'l4proto' } }, right: 'udp' } },
      { counter: { map: { key: { concat: [{ ct: { key: 'ip saddr', dir: 'reply' } }, { ct: { key: 'proto-src', dir: 'reply' } }] }, data: { set: [[{ concat: ['198.51.100.2', 53] }, 'pkts-dns-198.51.100.2_3a53']] } } } },
    ],
    [{ counter: { map: { key: { ct: { key: 'ip saddr', dir: 'reply' } }, data: { set: [['198.51.100.1', 'pkts-dns-198.51.100.1']] } } } }],
  ]);
});

test('IPv6: ip6 payloads, dnat family ip6, prefix-masked persistence, snat', () => {
  const { document: doc } = buildRuleset(STATES.ipv6 as DesiredState);
  assert.deepEqual(rules(doc, 'services')[0]?.[0], {
    match: { op: '==', left: { payload: { protocol: 'ip6', field: 'daddr' } }, right: { set: ['2001:db8::100', '2001:db8::101'] } },
  });
  const chain = `be-web6-${nameKey('[2001:db8:1::1]:8443')}`;
  assert.equal(chain, 'be-web6-_5b2001_3adb8_3a1_3a_3a1_5d_3a8443');
  const r = rules(doc, chain);
  assert.deepEqual(r[1], [{ set: { op: 'update', elem: { '&': [{ payload: { protocol: 'ip6', field: 'saddr' } }, 'ffff:ffff:ffff:ffff:0:0:0:0'] }, set: r[1] && (r[1][0] as { set: { set: string } }).set.set } }]);
  assert.deepEqual(r[2]?.[1], { dnat: { family: 'ip6', addr: '2001:db8:1::1', port: 8443 } });
  assert.deepEqual(rules(doc, 'nat_post')[0]?.at(-1), { masquerade: null });
  assert.deepEqual(rules(doc, 'nat_post')[0]?.[1], {
    match: { op: '==', left: { ct: { key: 'ip6 daddr', dir: 'original' } }, right: { set: ['2001:db8::100', '2001:db8::101'] } },
  });
});

test('snat: masquerade in postrouting for that service\'s balanced connections only', () => {
  const { document: doc } = buildRuleset(STATES.snat as DesiredState);
  assert.deepEqual(rules(doc, 'nat_post'), [
    [
      { match: { op: 'in', left: { ct: { key: 'status' } }, right: 'dnat' } },
      { match: { op: '==', left: { ct: { key: 'ip daddr', dir: 'original' } }, right: { set: ['192.0.2.100', '192.0.2.101'] } } },
      { match: { op: '==', left: { meta: { key: 'l4proto' } }, right: 'udp' } },
      { masquerade: null },
    ],
  ]);
  // a service with no port matches its protocol on any port
  assert.deepEqual(rules(doc, 'services')[0]?.[1], { match: { op: '==', left: { meta: { key: 'l4proto' } }, right: 'udp' } });
});

test('empty pool: the service only counts; nothing is balanced', () => {
  const { document: doc, inventory } = buildRuleset(STATES.empty as DesiredState);
  assert.deepEqual(rules(doc, 'svc-web'), [[{ counter: 'conn-web' }]]);
  assert.deepEqual(rules(doc, 'count_fwd'), []);
  assert.deepEqual(inventory.chains, ['nat_pre', 'nat_out', 'nat_post', 'count_fwd', 'services', 'svc-web']);
  // weight 0 is the same as absent
  const zero = buildRuleset({ services: [web({ backends: [be('198.51.100.1', 0)] })] }).document;
  assert.deepEqual(rules(zero, 'svc-web'), [[{ counter: 'conn-web' }]]);
});

test('update in place: no table delete; stale objects flushed then deleted; existing sets not re-added', () => {
  const first = buildRuleset(STATES.persistence as DesiredState);
  const smaller: DesiredState = { services: [web({ persistence: { timeoutS: 300, granularity: '255.255.255.0' }, backends: [be('198.51.100.1', 1, 8080), be('198.51.100.2', 1, 8080)] })] };
  const second = buildRuleset(smaller, { previous: first.inventory });
  const cmds = second.document.nftables as Obj[];
  assert.ok(!cmds.some((c) => (c.delete as Obj | undefined)?.table), 'the table stays');
  const gone = 'be-web-198.51.100.3_3a8080';
  const idx = (pred: (c: Obj) => boolean) => cmds.findIndex(pred);
  const flushGone = idx((c) => (c.flush as { chain?: { name: string } } | undefined)?.chain?.name === gone);
  const delGone = idx((c) => (c.delete as { chain?: { name: string } } | undefined)?.chain?.name === gone);
  const flushSvc = idx((c) => (c.flush as { chain?: { name: string } } | undefined)?.chain?.name === 'svc-web');
  assert.ok(flushGone > 0 && flushSvc > 0 && delGone > flushGone && delGone > flushSvc, 'rules referring to it go first');
  const staleSet = first.inventory.sets[2]?.name;
  assert.ok(cmds.some((c) => (c.delete as { set?: { name: string } } | undefined)?.set?.name === staleSet), 'its stickiness goes with it');
  assert.ok(cmds.some((c) => (c.delete as { counter?: { name: string } } | undefined)?.counter?.name === 'conn-web-198.51.100.3_3a8080'));
  assert.ok(!cmds.some((c) => (c.add as { set?: unknown } | undefined)?.set), 'kept sets keep their elements and are not re-added');
  assert.deepEqual(second.inventory.sets.map((s) => s.name), first.inventory.sets.slice(0, 2).map((s) => s.name));
});

test('bad states are refused with the reason', () => {
  assert.throws(() => buildRuleset({ services: [web(), web()] }), /service id web twice/);
  assert.throws(() => buildRuleset({ services: [web({ id: 'Web-1' })] }), /must be \[a-z0-9_\]/);
  assert.throws(() => buildRuleset({ services: [web({ backends: [be('2001:db8::1')] })] }), /backend 2001:db8::1 is not an IPv4 address/);
  assert.throws(() => buildRuleset({ services: [web({ backends: [be('rs1.example.com')] })] }), /not an IPv4 address/, 'nft would resolve a name');
  assert.throws(() => buildRuleset({ services: [web({ backends: [be('198.51.100.1', 1, 70000)] })] }), /bad port/);
  assert.throws(() => buildRuleset({ services: [web({ match: { kind: 'fwmark', mark: -1 } })] }), /bad fwmark/);
  assert.throws(() => buildRuleset({ services: [web({ persistence: { timeoutS: 0 } })] }), /bad persistence timeout/);
  assert.throws(() => buildRuleset({ services: [web({ backends: [be('198.51.100.1'), be('198.51.100.1')] })] }), /twice/);
});

/** Through a file: Node's stdin pipes are sockets, and nft cannot open /dev/stdin on a socket. */
function nftCheck(ns: string, doc: NftDocument, apply = false): void {
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

test('nft --check accepts every document (in a throwaway namespace)', () => {
  assert.ok(isRoot, 'this check needs root (ip netns add); CI runs as root');
  const ns = `vgchk${process.pid}`;
  execFileSync('ip', ['netns', 'add', ns]);
  try {
    for (const [name, state] of Object.entries(STATES)) {
      try {
        nftCheck(ns, buildRuleset(state).document);
      } catch (err) {
        throw new Error(`${name}: ${(err as Error).message}`);
      }
    }
    nftCheck(ns, removeDocument());
    // an update document is checked against the table it updates
    const first = buildRuleset(STATES.persistence as DesiredState);
    nftCheck(ns, first.document, true);
    nftCheck(ns, buildRuleset(STATES.fwmark as DesiredState, { previous: first.inventory }).document);
    nftCheck(ns, buildRuleset(STATES.persistence as DesiredState, { previous: first.inventory }).document);
    nftCheck(ns, removeDocument(), true);
    nftCheck(ns, removeDocument(), true);
  } finally {
    execFileSync('ip', ['netns', 'del', ns]);
  }
});
