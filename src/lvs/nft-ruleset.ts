// DesiredState -> one libnftables JSON document (pure: no I/O, no clock). Sent as one `nft -j -f -`, the
// document is one netlink batch, so the kernel goes from the old table to the new one all at
// once or not at all (LVS.md 11.6).
//
// Layout of the table (family inet: NAT in inet works on this kernel, checked with a load in a
// netns, so IPv4 and IPv6 services share one table and one set of base chains):
//
//   nat_pre  (nat, prerouting, dstnat) --jump--> services --goto--> svc-S --goto--> be-S-K: dnat
//   nat_out  (nat, output, -100)       --jump--> services      (locally originated clients)
//   nat_post (nat, postrouting, srcnat): masquerade for services with snat
//   count_fwd (filter, forward, 0) --vmap goto--> count-S: packets/bytes per service and backend
//
// Counting sits on the forward path, which every packet of every balanced connection takes, so
// its cost must not grow with the number of services or backends: count_fwd holds one rule per
// kind of key (fwmark; address and port; address on every port) and family and protocol, each
// one verdict-map lookup keyed by the conntrack entry (`ct original ip daddr . ct original
// proto-dst`: the service's address as the client asked for it, or `meta mark . ct reply ip
// saddr` for a fwmark service), and count-S counts the service, then its backend with one
// counter-map lookup (`counter name ct reply ip saddr . ct reply proto-src map { ... }`: the
// reply tuple's source is the backend). No ct mark is used: the operator's stays theirs.
// (nft 1.0.6 lists such a vmap's keys without their port, `{ 192.0.2.100 : goto count-web }`:
// a listing bug only, the kernel holds address and port; `nft --debug=netlink list` shows them.)
//
// A nat chain sees only the first packet of a connection, so the choice in svc-S is made once
// per connection and needs no `ct state new` / ct mark dance (nftlb's pattern); every later
// packet follows the conntrack binding. For the same reason a counter there counts connections.
//
// Persistence: one dynamic set per backend (`persist-S-K-H`), looked up in svc-S before the
// scheduler and refreshed with the JSON `set` statement (op update) in be-S-K. nftlb keeps one
// map client -> backend instead, but nft 1.0.6 cannot write `update @map { k : v }` in JSON
// (LVS.md 11.6), and sending text would give up the JSON API for the whole document. Per-backend
// sets cost one lookup per backend for a new connection only, and deleting a gone backend's set
// purges exactly its stickiness (LVS.md 11.2: stickiness to a removed backend must go).
//
// Replacing the state: the first document replaces the table wholly (add; delete; add: a stale
// table from an earlier run goes, whatever it held). Later documents are given the inventory of
// what the previous one made and update in place: every chain is flushed and refilled, objects no
// longer wanted are deleted, the rest are re-added (a no-op for existing ones). So counters keep
// counting and clients keep their persistence across an apply that changes something else.
// Established connections survive either way: their NAT lives in conntrack, not in the table.
//
// Direct routing (services with forwarding 'dr', LVS.md 11.2 and 11.4): one more table per
// interface, family netdev, `<table>_dr_<if>`, in the same document (nft takes commands for
// tables of several families in one batch: one transaction still), with a base chain at hook
// ingress on that device:
//
//   ingress (filter, ingress, dev <if>) --goto--> svc-S --goto--> be-S-K:
//       ether daddr set <backend mac>; ether saddr set <own mac>; fwd to "<if>"
//
// Only packets to the service's address, protocol and port are touched; everything else goes on
// to the stack. There is no conntrack at ingress, so every packet is scheduled: the backend is a
// jhash of the flow (source address and port; sh: as configured; dh: the destination) indexing a
// Maglev table (nft-slots.ts), so one flow always lands on one backend and removing a backend
// moves only its own flows. Counters: `pkts` counts every packet to the service / backend (the
// replies go from the backends straight to the clients, and are not seen), `conn` the TCP
// packets with SYN and not ACK (connections asked for; none for UDP). Persistence works as for
// NAT: a timeout set per backend, looked up before the hash and refreshed by every packet. The
// DR tables are updated in place the same way; one no longer wanted is deleted.

import { isIP } from 'node:net';
import type { Backend, DesiredState, Protocol, Service } from './model.ts';
import { fnv1a, maglevSize, maglevSlots, slotRuns, wrrSlots } from './nft-slots.ts';

const FAMILY = 'inet';

export type Json = unknown;
export interface NftDocument {
  nftables: Json[];
}

/** A persistence set. */
export interface SetSpec {
  name: string;
  type: 'ipv4_addr' | 'ipv6_addr';
  timeout: number;
}

/** The named objects one document leaves in one table. */
export interface TableInventory {
  chains: string[];
  counters: string[];
  sets: SetSpec[];
}

/** The named objects one document leaves in the inet table, and its DR tables. */
export interface Inventory extends TableInventory {
  /** netdev table name -> its device and objects (absent: no DR service). */
  dr?: Record<string, TableInventory & { ifname: string }>;
}

/** A counter pair; `table` is the netdev table holding it (absent: the inet table). */
export interface CounterName {
  conn: string;
  pkts: string;
  table?: string;
}

export interface CounterNames {
  /** Service id -> its counter objects: `conn` (in the nat chain) and `pkts` (forward). */
  services: Record<string, CounterName>;
  backends: Record<string, Record<string, CounterName>>;
}

export interface RulesetOptions {
  /** Table name (family inet); default `vigil`. */
  table?: string;
  /** What the previous document made: update in place. Absent: replace the table wholly. */
  previous?: Inventory;
  /** netdev tables of ours found in the kernel (a previous run's): deleted unless wanted, and
   * replaced wholly if wanted and not in `previous`. */
  staleDrTables?: string[];
}

export const DR_FAMILY = 'netdev';

/** The netdev table of the DR services on `ifname`. */
export function drTableName(table: string, ifname: string): string {
  return `${table}_dr_${nameKey(ifname)}`;
}

export interface Ruleset {
  document: NftDocument;
  inventory: Inventory;
  names: CounterNames;
}

const BASE_CHAINS = [
  { name: 'nat_pre', type: 'nat', hook: 'prerouting', prio: -100 },
  { name: 'nat_out', type: 'nat', hook: 'output', prio: -100 },
  { name: 'nat_post', type: 'nat', hook: 'postrouting', prio: 100 },
  { name: 'count_fwd', type: 'filter', hook: 'forward', prio: 0 },
] as const;

/** A backend id as part of an object name, injectively: [A-Za-z0-9.] kept, anything else
 * (`:`, `[`, `_`, ...) written `_xx` in hex. Names stay valid nft identifiers. */
export function nameKey(id: string): string {
  return id.replace(/[^A-Za-z0-9.]/g, (c) => `_${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

// --- expression helpers (libnftables-json(5)) -----------------------------------------------

const payload = (protocol: string, field: string) => ({ payload: { protocol, field } });
const meta = (key: string) => ({ meta: { key } });
const ct = (key: string, dir?: 'original' | 'reply') => ({ ct: dir ? { key, dir } : { key } });
const match = (left: Json, right: Json, op = '==') => ({ match: { op, left, right } });
const anySet = (values: Json[]): Json => (values.length === 1 ? values[0] : { set: values });

function ipProto(family: 4 | 6): 'ip' | 'ip6' {
  return family === 4 ? 'ip' : 'ip6';
}

/** The persistence key mask: an IPv4 netmask (`255.255.255.0`) or a prefix length (`24`, `/64`)
 * for either family. Undefined when the mask keeps the whole address. */
export function granularityMask(family: 4 | 6, granularity: string | undefined): string | undefined {
  if (granularity === undefined || granularity === '') return undefined;
  const bits = family === 4 ? 32 : 128;
  let len: number;
  const g = granularity.trim().replace(/^\//, '');
  if (/^\d+$/.test(g)) len = Number(g);
  else if (family === 4 && /^\d+\.\d+\.\d+\.\d+$/.test(g)) {
    const n = g.split('.').reduce((acc, o) => acc * 256 + Number(o), 0);
    const ones = n.toString(2).padStart(32, '0');
    if (!/^1*0*$/.test(ones) || g.split('.').some((o) => Number(o) > 255)) throw new Error(`persistence granularity ${granularity} is not a netmask`);
    len = ones.indexOf('0') === -1 ? 32 : ones.indexOf('0');
  } else throw new Error(`persistence granularity ${granularity} is not a ${family === 4 ? 'netmask or prefix length' : 'prefix length'}`);
  if (len > bits) throw new Error(`persistence granularity /${len} is longer than an IPv${family} address`);
  if (len === bits) return undefined;
  if (family === 4) {
    const m = len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0;
    return [24, 16, 8, 0].map((s) => (m >>> s) & 0xff).join('.');
  }
  const groups: string[] = [];
  for (let i = 0; i < 8; i++) {
    const b = Math.max(0, Math.min(16, len - i * 16));
    groups.push(((0xffff << (16 - b)) & 0xffff).toString(16));
  }
  // Written in full (no `::`): valid, and unambiguous to read in tests.
  return groups.join(':');
}

// --- one service ----------------------------------------------------------------------------

interface Names {
  svc: string;
  count: string;
  conn: string;
  pkts: string;
  backend(b: Backend): { chain: string; conn: string; pkts: string; persist: string };
}

function namesOf(s: Service): Names {
  const p = s.persistence;
  // The definition is part of the set's name: a changed timeout or granularity makes a new set
  // (and the old one is deleted as stale) instead of an `add` that clashes with the old one.
  const def = p ? fnv1a(`${s.family}/${p.timeoutS}/${p.granularity ?? ''}`).toString(16).padStart(8, '0') : '';
  return {
    svc: `svc-${s.id}`,
    count: `count-${s.id}`,
    conn: `conn-${s.id}`,
    pkts: `pkts-${s.id}`,
    backend: (b) => {
      const k = nameKey(b.id);
      return { chain: `be-${s.id}-${k}`, conn: `conn-${s.id}-${k}`, pkts: `pkts-${s.id}-${k}`, persist: `persist-${s.id}-${k}-${def}` };
    },
  };
}

/** Refuses what nft would refuse late or, worse, accept: an address that is not a literal is a
 * host name to nft, which it would resolve through DNS at every apply. */
function checkService(s: Service, backends: Backend[]): void {
  if (!/^[a-z0-9_]+$/.test(s.id)) throw new Error(`service id ${JSON.stringify(s.id)} must be [a-z0-9_]`);
  const isPort = (p: number | undefined) => p === undefined || (Number.isInteger(p) && p >= 1 && p <= 65535);
  const checkAddress = (a: string, what: string) => {
    if (isIP(a) !== s.family) throw new Error(`service ${s.id}: ${what} ${a} is not an IPv${s.family} address`);
  };
  if (s.match.kind === 'address') {
    if (s.match.addresses.length === 0) throw new Error(`service ${s.id}: no addresses`);
    for (const a of s.match.addresses) checkAddress(a, 'address');
    if (!isPort(s.match.port)) throw new Error(`service ${s.id}: bad port ${s.match.port}`);
  } else if (!Number.isInteger(s.match.mark) || s.match.mark < 0 || s.match.mark > 0xffffffff) throw new Error(`service ${s.id}: bad fwmark ${s.match.mark}`);
  if (s.persistence && !(Number.isInteger(s.persistence.timeoutS) && s.persistence.timeoutS > 0)) throw new Error(`service ${s.id}: bad persistence timeout ${s.persistence.timeoutS}`);
  const dr = s.forwarding === 'dr';
  if (s.forwarding !== undefined && s.forwarding !== 'nat' && !dr) throw new Error(`service ${s.id}: unknown forwarding ${String(s.forwarding)}`);
  if (dr) {
    if (s.match.kind !== 'address') throw new Error(`service ${s.id}: DR matches an address: a firewall mark is set after netdev ingress`);
    if (!s.ifname || !/^[^\s/"]{1,15}$/.test(s.ifname)) throw new Error(`service ${s.id}: DR needs an interface name (got ${JSON.stringify(s.ifname)})`);
    if (!isMac(s.ownMac)) throw new Error(`service ${s.id}: DR needs the balancer's MAC on ${s.ifname} (got ${JSON.stringify(s.ownMac)})`);
  }
  const ids = new Set<string>();
  for (const b of backends) {
    if (dr) {
      if (!isMac(b.mac)) throw new Error(`service ${s.id}: backend ${b.id}: DR needs its MAC address (got ${JSON.stringify(b.mac)})`);
      const vsPort = s.match.kind === 'address' ? s.match.port : undefined;
      if (b.port !== undefined && b.port !== vsPort) throw new Error(`service ${s.id}: backend ${b.id}: DR cannot change the port (${vsPort ?? 'any'} -> ${b.port})`);
    }
    checkAddress(b.address, 'backend');
    if (!isPort(b.port)) throw new Error(`service ${s.id}: backend ${b.id}: bad port ${b.port}`);
    if (ids.has(b.id)) throw new Error(`service ${s.id}: backend id ${b.id} twice`);
    ids.add(b.id);
  }
}

/** A unicast MAC address written with colons. */
function isMac(mac: string | undefined): mac is string {
  return typeof mac === 'string' && /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i.test(mac) && (parseInt(mac.slice(0, 2), 16) & 1) === 0;
}

/** Backend index per slot, and the expression that picks a slot. */
function selector(s: Service, backends: Backend[]): { key: Json; slots: number[] } {
  const ip = ipProto(s.family);
  const weights = backends.map((b) => b.weight);
  // jhash with no seed gets a random one from the kernel at each load, which would move every
  // hashed client at every apply: the seed is fixed per service.
  const seed = fnv1a(`seed:${s.id}`);
  const source = s.hashPort ? { concat: [payload(ip, 'saddr'), payload('th', 'sport')] } : payload(ip, 'saddr');
  const jhash = (expr: Json, mod: number) => ({ jhash: { mod, seed, expr } });
  switch (s.algorithm) {
    case 'rr': {
      const slots = backends.map((_, i) => i);
      return { key: { numgen: { mode: 'inc', mod: slots.length, offset: 0 } }, slots };
    }
    case 'wrr': {
      const slots = wrrSlots(weights);
      return { key: { numgen: { mode: 'inc', mod: slots.length, offset: 0 } }, slots };
    }
    case 'sh': {
      const slots = wrrSlots(weights);
      return { key: jhash(source, slots.length), slots };
    }
    case 'dh': {
      const slots = wrrSlots(weights);
      return { key: jhash(payload(ip, 'daddr'), slots.length), slots };
    }
    case 'mh': {
      const slots = maglevSlots(
        backends.map((b) => b.id),
        weights,
        maglevSize(backends.length),
      );
      return { key: jhash(source, slots.length), slots };
    }
  }
}

interface Built {
  chains: string[];
  counters: string[];
  sets: SetSpec[];
  /** The service's own chains' rules (the base chains' rules are collected by the caller). */
  rules: Array<{ chain: string; rules: Json[][] }>;
  dispatch: Json[];
  post?: Json[];
  /** How the forward chain's dispatch reaches count-S (absent: no backends, nothing counted). */
  count?: CountEntry;
  names: { conn: string; pkts: string; backends: Record<string, { conn: string; pkts: string }> };
}

/** Where the forward chain's dispatch sends a service's packets: by the connection's original
 * destination (`port`: address and port; `addr`: address, a service on every port), or, for a
 * fwmark service, by the packet's mark and the connection's backend. */
type CountEntry =
  | { kind: 'mark'; family: 4 | 6; chain: string; keys: Json[] }
  | { kind: 'port' | 'addr'; family: 4 | 6; protocol: Protocol; chain: string; keys: Json[] };

/** The forward chain: every forwarded packet of a balanced connection is counted, so it must not
 * walk one rule per service or per backend. At most one rule per (kind, family, protocol), each a
 * verdict-map lookup keyed by the conntrack entry, in IPVS's lookup order (fwmark services, then
 * address and port, then address on every port); the first hit goes to count-S, which counts the
 * service and then its backend with one counter-map lookup. A key claimed by two services counts
 * in the first only. */
function countDispatch(entries: CountEntry[]): Json[][] {
  const dnatted = match(ct('status'), 'dnat', 'in');
  const out: Json[][] = [];
  const vmap = (key: Json, list: CountEntry[]) => {
    const seen = new Set<string>();
    const data: Json[] = [];
    for (const e of list)
      for (const k of e.keys) {
        const id = JSON.stringify(k);
        if (seen.has(id)) continue;
        seen.add(id);
        data.push([k, { goto: { target: e.chain } }]);
      }
    return { vmap: { key, data: { set: data } } };
  };
  for (const family of [4, 6] as const) {
    const ip = ipProto(family);
    const marks = entries.filter((e) => e.kind === 'mark' && e.family === family);
    if (marks.length > 0) out.push([dnatted, match(meta('nfproto'), family === 4 ? 'ipv4' : 'ipv6'), vmap({ concat: [meta('mark'), ct(`${ip} saddr`, 'reply')] }, marks)]);
  }
  for (const kind of ['port', 'addr'] as const)
    for (const family of [4, 6] as const)
      for (const protocol of ['tcp', 'udp'] as const) {
        const list = entries.filter((e) => e.kind === kind && e.family === family && e.protocol === protocol);
        if (list.length === 0) continue;
        const daddr = ct(`${ipProto(family)} daddr`, 'original');
        // (`ct original proto-dst` in a key is typed only after the protocol is stated)
        out.push([dnatted, match(meta('l4proto'), protocol), vmap(kind === 'port' ? { concat: [daddr, ct('proto-dst', 'original')] } : daddr, list)]);
      }
  return out;
}

function buildService(s: Service): Built {
  const backends = s.backends.filter((b) => b.weight > 0);
  checkService(s, backends);
  const ip = ipProto(s.family);
  const nfproto = s.family === 4 ? 'ipv4' : 'ipv6';
  const n = namesOf(s);
  const m = s.match;
  const out: Built = {
    chains: [n.svc],
    counters: [n.conn, n.pkts],
    sets: [],
    rules: [],
    dispatch: [],
    names: { conn: n.conn, pkts: n.pkts, backends: {} },
  };

  // What the service matches, on the first packet (nat) and on the conntrack entry (later).
  const l4 = m.kind === 'address' ? m.protocol : undefined;
  out.dispatch =
    m.kind === 'fwmark'
      ? [match(meta('mark'), m.mark), match(meta('nfproto'), nfproto), { goto: { target: n.svc } }]
      : [
          match(payload(ip, 'daddr'), anySet(m.addresses)),
          m.port === undefined ? match(meta('l4proto'), m.protocol) : match(payload(m.protocol, 'dport'), m.port),
          { goto: { target: n.svc } },
        ];
  const original =
    m.kind === 'fwmark'
      ? [match(meta('mark'), m.mark), match(meta('nfproto'), nfproto)]
      : [
          match(ct(`${ip} daddr`, 'original'), anySet(m.addresses)),
          match(meta('l4proto'), m.protocol),
          ...(m.port === undefined ? [] : [match(ct('proto-dst', 'original'), m.port)]),
        ];
  const dnatted = match(ct('status'), 'dnat', 'in');
  if (s.snat) out.post = [dnatted, ...original, { masquerade: null }];

  const persistKey = (() => {
    if (!s.persistence) return undefined;
    const mask = granularityMask(s.family, s.persistence.granularity);
    return mask ? { '&': [payload(ip, 'saddr'), mask] } : payload(ip, 'saddr');
  })();

  const svcRules: Json[][] = [[{ counter: n.conn }]];
  // Per-backend packet counting (forward path, every packet): one counter-map lookup keyed by
  // the conntrack reply source (the backend's address, and port where the reply port is known),
  // so the cost does not grow with the number of backends. Keys seen twice keep the first.
  const byAddrPort = new Map<string, [Json, string]>();
  const byAddr = new Map<string, [Json, string]>();
  for (const b of backends) {
    const bn = n.backend(b);
    out.chains.push(bn.chain);
    out.counters.push(bn.conn, bn.pkts);
    out.names.backends[b.id] = { conn: bn.conn, pkts: bn.pkts };
    const beRules: Json[][] = [[{ counter: bn.conn }]];
    if (persistKey && s.persistence) {
      out.sets.push({ name: bn.persist, type: s.family === 4 ? 'ipv4_addr' : 'ipv6_addr', timeout: s.persistence.timeoutS });
      svcRules.push([match(persistKey, `@${bn.persist}`), { goto: { target: bn.chain } }]);
      beRules.push([{ set: { op: 'update', elem: persistKey, set: `@${bn.persist}` } }]);
    }
    // A port in a dnat needs the transport protocol stated before it (nft refuses otherwise).
    const proto = l4 ? match(meta('l4proto'), l4) : match(meta('l4proto'), { set: ['tcp', 'udp'] });
    const dnat = { dnat: { family: ip, addr: b.address, ...(b.port === undefined ? {} : { port: b.port }) } };
    beRules.push(b.port === undefined ? [dnat] : [proto, dnat]);
    out.rules.push({ chain: bn.chain, rules: beRules });
    // Packets of the connection both ways: the reply tuple's source is the backend.
    // (A fwmark service's protocol is unknown, and nft can type `ct reply proto-src` only after
    // one protocol: there the backend's address alone identifies it.)
    const replyPort = m.kind === 'address' ? (b.port ?? m.port) : undefined;
    if (replyPort === undefined) {
      if (!byAddr.has(b.address)) byAddr.set(b.address, [b.address, bn.pkts]);
    } else {
      const k = `${b.address}/${replyPort}`;
      if (!byAddrPort.has(k)) byAddrPort.set(k, [{ concat: [b.address, replyPort] }, bn.pkts]);
    }
  }
  if (backends.length > 0) {
    const { key, slots } = selector(s, backends);
    const data = slotRuns(slots).map(([from, to, i]) => [from === to ? from : { range: [from, to] }, { goto: { target: n.backend(backends[i] as Backend).chain } }]);
    svcRules.push([{ vmap: { key, data: { set: data } } }]);
    out.chains.push(n.count);
    const countRules: Json[][] = [[{ counter: n.pkts }]];
    if (byAddrPort.size > 0) {
      // (`ct reply proto-src` in a key is typed only after the protocol is stated)
      const key = { concat: [ct(`${ip} saddr`, 'reply'), ct('proto-src', 'reply')] };
      countRules.push([match(meta('l4proto'), l4 as Protocol), { counter: { map: { key, data: { set: [...byAddrPort.values()] } } } }]);
    }
    if (byAddr.size > 0) countRules.push([{ counter: { map: { key: ct(`${ip} saddr`, 'reply'), data: { set: [...byAddr.values()] } } } }]);
    out.rules.push({ chain: n.count, rules: countRules });
    // The forward chain finds this chain by one verdict-map lookup (see countDispatch).
    out.count =
      m.kind === 'fwmark'
        ? { kind: 'mark', family: s.family, chain: n.count, keys: [...new Set(backends.map((b) => b.address))].map((a) => ({ concat: [m.mark, a] })) }
        : m.port === undefined
          ? { kind: 'addr', family: s.family, protocol: m.protocol, chain: n.count, keys: m.addresses }
          : { kind: 'port', family: s.family, protocol: m.protocol, chain: n.count, keys: m.addresses.map((a) => ({ concat: [a, m.port] })) };
  }
  // Empty pool: svc-S only counts, and the connection goes on unbalanced to the balancer itself.
  out.rules.unshift({ chain: n.svc, rules: svcRules });
  return out;
}

// --- one DR service -------------------------------------------------------------------------

/** DR: the flow key hashed on every packet, and a Maglev table: with `slotBase`, the table of
 * every configured backend, whose out-of-pool owners' slots alone are refilled from the pool's
 * own table (a backend leaving moves exactly its flows; returning, it takes exactly its slots
 * back). rr and wrr hash the flow (source
 * address and port) with the weights in the table; sh and mh hash as configured; dh the
 * destination. */
function drSelector(s: Service, backends: Backend[]): { key: Json; slots: number[] } {
  const ip = ipProto(s.family);
  const seed = fnv1a(`seed:${s.id}`);
  const saddr = payload(ip, 'saddr');
  const flow = { concat: [saddr, payload('th', 'sport')] };
  const expr = s.algorithm === 'dh' ? payload(ip, 'daddr') : s.algorithm === 'sh' || s.algorithm === 'mh' ? (s.hashPort ? flow : saddr) : flow;
  const base = (s.slotBase ?? []).filter((b) => b.weight > 0);
  const size = maglevSize(Math.max(base.length, backends.length));
  const live = maglevSlots(
    backends.map((b) => b.id),
    backends.map((b) => b.weight),
    size,
  );
  let slots = live;
  if (base.length > 0) {
    // the configured servers' table; a slot whose owner is out of the pool takes the live table's
    const index = new Map(backends.map((b, i) => [b.id, i]));
    const full = maglevSlots(
      base.map((b) => b.id),
      base.map((b) => b.weight),
      size,
    );
    slots = full.map((o, k) => index.get(base[o]?.id ?? '') ?? (live[k] as number));
  }
  return { key: { jhash: { mod: slots.length, seed, expr } }, slots };
}

interface BuiltDr {
  table: string;
  ifname: string;
  chains: string[];
  counters: string[];
  sets: SetSpec[];
  rules: Array<{ chain: string; rules: Json[][] }>;
  dispatch: Json[];
  names: { conn: string; pkts: string; table: string; backends: Record<string, CounterName> };
}

function buildDrService(s: Service, table: string): BuiltDr {
  const backends = s.backends.filter((b) => b.weight > 0);
  checkService(s, backends);
  const m = s.match;
  if (m.kind !== 'address') throw new Error(`service ${s.id}: DR needs an address match`); // checked above
  const ifname = s.ifname as string;
  const ownMac = (s.ownMac as string).toLowerCase();
  const dt = drTableName(table, ifname);
  const ip = ipProto(s.family);
  const n = namesOf(s);
  const out: BuiltDr = {
    table: dt,
    ifname,
    chains: [n.svc],
    counters: [n.conn, n.pkts],
    sets: [],
    rules: [],
    dispatch: [
      match(payload(ip, 'daddr'), anySet(m.addresses)),
      m.port === undefined ? match(meta('l4proto'), m.protocol) : match(payload(m.protocol, 'dport'), m.port),
      { goto: { target: n.svc } },
    ],
    names: { conn: n.conn, pkts: n.pkts, table: dt, backends: {} },
  };
  // A connection asked for: TCP SYN without ACK (UDP has no such packet: no connection count).
  const syn = m.protocol === 'tcp' ? [match({ '&': [payload('tcp', 'flags'), ['syn', 'ack']] }, 'syn')] : undefined;
  const counting = (pkts: string, conn: string): Json[][] => [[{ counter: pkts }], ...(syn ? [[...syn, { counter: conn }]] : [])];
  const persistKey = (() => {
    if (!s.persistence) return undefined;
    const mask = granularityMask(s.family, s.persistence.granularity);
    return mask ? { '&': [payload(ip, 'saddr'), mask] } : payload(ip, 'saddr');
  })();
  const svcRules: Json[][] = counting(n.pkts, n.conn);
  for (const b of backends) {
    const bn = n.backend(b);
    out.chains.push(bn.chain);
    out.counters.push(bn.conn, bn.pkts);
    out.names.backends[b.id] = { conn: bn.conn, pkts: bn.pkts, table: dt };
    const beRules = counting(bn.pkts, bn.conn);
    if (persistKey && s.persistence) {
      out.sets.push({ name: bn.persist, type: s.family === 4 ? 'ipv4_addr' : 'ipv6_addr', timeout: s.persistence.timeoutS });
      svcRules.push([match(persistKey, `@${bn.persist}`), { goto: { target: bn.chain } }]);
      beRules.push([{ set: { op: 'update', elem: persistKey, set: `@${bn.persist}` } }]);
    }
    beRules.push([
      { mangle: { key: payload('ether', 'daddr'), value: (b.mac as string).toLowerCase() } },
      { mangle: { key: payload('ether', 'saddr'), value: ownMac } },
      { fwd: { dev: ifname } },
    ]);
    out.rules.push({ chain: bn.chain, rules: beRules });
  }
  if (backends.length > 0) {
    const { key, slots } = drSelector(s, backends);
    const data = slotRuns(slots).map(([from, to, i]) => [from === to ? from : { range: [from, to] }, { goto: { target: n.backend(backends[i] as Backend).chain } }]);
    svcRules.push([{ vmap: { key, data: { set: data } } }]);
  }
  // Empty pool: svc-S only counts, and the packet goes on to the balancer's own stack.
  out.rules.unshift({ chain: n.svc, rules: svcRules });
  return out;
}

// --- the document ---------------------------------------------------------------------------

interface TableRef {
  family: string;
  table: string;
}

interface BaseChain {
  name: string;
  type: string;
  hook: string;
  prio: number;
  dev?: string;
}

/** One table's objects: base chains, chains, counters, new sets; with `prev`, the stale objects
 * flushed and deleted (rules go after every table's objects, see below). */
function objectCommands(t: TableRef, base: readonly BaseChain[], want: TableInventory, prev: TableInventory | undefined): Json[] {
  const cmds: Json[] = [];
  const chainObj = (name: string) => ({ chain: { ...t, name } });
  const counterObj = (name: string) => ({ counter: { ...t, name } });
  const setObj = (s: SetSpec) => ({ set: { ...t, name: s.name, type: s.type, flags: ['timeout'], timeout: s.timeout, size: 65535 } });
  // Objects: base chains with their hooks, then the rest (re-adding an existing one is a no-op).
  for (const c of base) cmds.push({ add: { chain: { ...t, name: c.name, type: c.type, hook: c.hook, prio: c.prio, ...(c.dev ? { dev: c.dev } : {}), policy: 'accept' } } });
  for (const name of want.chains.slice(base.length)) cmds.push({ add: chainObj(name) });
  for (const name of want.counters) cmds.push({ add: counterObj(name) });
  // An existing set is not added again: nft marks a set that rules update from the packet path
  // `dynamic`, a flag its JSON parser (1.0.6) cannot write, so the kernel would see a different
  // definition and refuse the add (EEXIST). The set's name already pins its definition.
  const had = new Set(prev?.sets.map((s) => s.name) ?? []);
  for (const s of want.sets) if (!had.has(s.name)) cmds.push({ add: setObj(s) });

  if (prev) {
    const wantNames = { chains: new Set(want.chains), counters: new Set(want.counters), sets: new Set(want.sets.map((s) => s.name)) };
    const stale = {
      chains: prev.chains.filter((c) => !wantNames.chains.has(c)),
      counters: prev.counters.filter((c) => !wantNames.counters.has(c)),
      sets: prev.sets.filter((s) => !wantNames.sets.has(s.name)),
    };
    // Stale chains and counters are added before they are deleted, so the document stays valid
    // even if one is already gone (sets cannot be, see above: a missing one fails the document,
    // and the data plane then replaces the table).
    for (const c of stale.chains) cmds.push({ add: chainObj(c) });
    for (const c of stale.counters) cmds.push({ add: counterObj(c) });
    // Every rule goes before any object is deleted: a rule still referring to an object would
    // make its deletion fail.
    for (const c of [...want.chains, ...stale.chains]) cmds.push({ flush: chainObj(c) });
    for (const c of stale.chains) cmds.push({ delete: chainObj(c) });
    for (const c of stale.counters) cmds.push({ delete: counterObj(c) });
    for (const s of stale.sets) cmds.push({ delete: { set: { ...t, name: s.name } } });
  }
  return cmds;
}

export function buildRuleset(state: DesiredState, opts: RulesetOptions = {}): Ruleset {
  const table = opts.table ?? 'vigil';
  const ids = new Set<string>();
  for (const s of state.services) {
    if (ids.has(s.id)) throw new Error(`service id ${s.id} twice`);
    ids.add(s.id);
  }
  const nat = state.services.filter((s) => s.forwarding !== 'dr');
  // IPVS looks a packet up by its firewall mark before its address (ip_vs_service_find).
  const ordered = [...nat.filter((s) => s.match.kind === 'fwmark'), ...nat.filter((s) => s.match.kind === 'address')];
  const built = ordered.map(buildService);
  const drServices = state.services.filter((s) => s.forwarding === 'dr');
  const drBuilt = drServices.map((s) => buildDrService(s, table));

  const t = { family: FAMILY, table };
  const rule = (ref: TableRef, chain: string, expr: Json[]) => ({ add: { rule: { ...ref, chain, expr } } });

  const inventory: Inventory = {
    chains: [...BASE_CHAINS.map((c) => c.name), 'services', ...built.flatMap((b) => b.chains)],
    counters: built.flatMap((b) => b.counters),
    sets: built.flatMap((b) => b.sets),
  };
  // The DR tables, one per interface, each with its ingress chain first.
  const drTables = new Map<string, BuiltDr[]>();
  for (const b of drBuilt) drTables.set(b.table, [...(drTables.get(b.table) ?? []), b]);
  if (drTables.size > 0) {
    inventory.dr = {};
    for (const [name, list] of drTables) {
      const ifname = (list[0] as BuiltDr).ifname;
      inventory.dr[name] = { ifname, chains: ['ingress', ...list.flatMap((b) => b.chains)], counters: list.flatMap((b) => b.counters), sets: list.flatMap((b) => b.sets) };
    }
  }
  const names: CounterNames = { services: {}, backends: {} };
  ordered.forEach((s, i) => {
    const b = built[i] as Built;
    names.services[s.id] = { conn: b.names.conn, pkts: b.names.pkts };
    names.backends[s.id] = b.names.backends;
  });
  drServices.forEach((s, i) => {
    const b = drBuilt[i] as BuiltDr;
    names.services[s.id] = { conn: b.names.conn, pkts: b.names.pkts, table: b.names.table };
    names.backends[s.id] = b.names.backends;
  });

  const cmds: Json[] = [{ metainfo: { json_schema_version: 1 } }, { add: { table: { family: FAMILY, name: table } } }];
  const prev = opts.previous;
  if (!prev) cmds.push({ delete: { table: { family: FAMILY, name: table } } }, { add: { table: { family: FAMILY, name: table } } });
  cmds.push(...objectCommands(t, BASE_CHAINS, inventory, prev));

  // DR tables: one no longer wanted goes (added first, so the delete is valid either way); one
  // new to this run replaces whatever an earlier run left under its name; the rest update in place.
  const drTable = (name: string) => ({ table: { family: DR_FAMILY, name } });
  const unwanted = new Set([...Object.keys(prev?.dr ?? {}), ...(opts.staleDrTables ?? [])]);
  for (const name of drTables.keys()) unwanted.delete(name);
  for (const name of unwanted) cmds.push({ add: drTable(name) }, { delete: drTable(name) });
  for (const [name, part] of Object.entries(inventory.dr ?? {})) {
    const before = prev?.dr?.[name];
    cmds.push({ add: drTable(name) });
    if (!before) cmds.push({ delete: drTable(name) }, { add: drTable(name) });
    const base: BaseChain[] = [{ name: 'ingress', type: 'filter', hook: 'ingress', prio: 0, dev: part.ifname }];
    cmds.push(...objectCommands({ family: DR_FAMILY, table: name }, base, part, before));
  }

  cmds.push(rule(t, 'nat_pre', [{ jump: { target: 'services' } }]));
  cmds.push(rule(t, 'nat_out', [{ jump: { target: 'services' } }]));
  for (const b of built) {
    cmds.push(rule(t, 'services', b.dispatch));
    if (b.post) cmds.push(rule(t, 'nat_post', b.post));
  }
  for (const r of countDispatch(built.flatMap((b) => (b.count ? [b.count] : [])))) cmds.push(rule(t, 'count_fwd', r));
  for (const b of built) for (const c of b.rules) for (const r of c.rules) cmds.push(rule(t, c.chain, r));
  for (const b of drBuilt) {
    const ref = { family: DR_FAMILY, table: b.table };
    cmds.push(rule(ref, 'ingress', b.dispatch));
    for (const c of b.rules) for (const r of c.rules) cmds.push(rule(ref, c.chain, r));
  }
  return { document: { nftables: cmds }, inventory, names };
}

/** The document that removes the table (and the given DR tables), and is valid whether or not
 * they exist. */
export function removeDocument(table = 'vigil', drTables: string[] = []): NftDocument {
  const t = { table: { family: FAMILY, name: table } };
  const dr = drTables.flatMap((name) => [{ add: { table: { family: DR_FAMILY, name } } }, { delete: { table: { family: DR_FAMILY, name } } }]);
  return { nftables: [{ metainfo: { json_schema_version: 1 } }, { add: t }, { delete: t }, ...dr] };
}

export const TABLE_FAMILY = FAMILY;
