// From the configuration to what the balancer runs: every value keepalived inherits or defaults
// filled in (a checker's setting from the checker, else its real server, else its virtual server,
// else the checker type's default; LVS.md sections 1-4), names in keepalived's own format (the
// ones its logs, notify FIFO lines and scripts use), and the data plane's match for each virtual
// server. Pure: no I/O.

import { isIP } from 'node:net';
import type { Config } from '../config/schema.ts';
import type { RealServerConfig, TcpCheckConfig, VirtualServerConfig } from '../config/lvs-schema.ts';
import type { Algorithm, Forwarding, Protocol, ServiceMatch } from './model.ts';

export interface TcpCheck {
  kind: 'tcp';
  /** `TCP_CHECK 198.51.100.10:8080`, for logs and reasons. */
  name: string;
  host: string;
  port: number;
  bindto?: string;
  bindPort?: number;
  timeoutMs: number;
  retry: number;
  delayBeforeRetryMs: number;
  delayLoopMs: number;
  warmupMs: number;
  alpha: boolean;
}

export type Check = TcpCheck;

export interface ResolvedRealServer {
  /** keepalived's `[198.51.100.10]:tcp:8080`. */
  name: string;
  /** The data plane's backend id: `198.51.100.10:8080`. */
  id: string;
  ip: string;
  port?: number;
  weight: number;
  inhibitOnFailure: boolean;
  alpha: boolean;
  checks: Check[];
  notifyUp?: RealServerConfig['notify_up'];
  notifyDown?: RealServerConfig['notify_down'];
}

export interface ResolvedVirtualServer {
  /** keepalived's `[192.0.2.100]:tcp:80`, `FWM 5` or `[GROUP]:0`. */
  name: string;
  family: 4 | 6;
  /** One data-plane service per distinct match (a group with several ports has several). */
  services: Array<{ id: string; match: ServiceMatch }>;
  /** The addresses it serves (for ha_suspend), empty for fwmarks. */
  addresses: string[];
  algorithm: Algorithm;
  /** `fo`: only the highest-weight live real server is in the pool. */
  failover: boolean;
  hashPort: boolean;
  persistence?: { timeoutS: number; granularity?: string };
  snat: boolean;
  /** lb_kind: NAT (also when unset) or DR (TUN never gets here: vigil -t refuses it). */
  forwarding: Forwarding;
  quorum: number;
  hysteresis: number;
  alpha: boolean;
  omega: boolean;
  haSuspend: boolean;
  sorry?: { id: string; name: string; ip: string; port?: number; inhibit: boolean };
  realServers: ResolvedRealServer[];
  quorumUp?: VirtualServerConfig['quorum_up'];
  quorumDown?: VirtualServerConfig['quorum_down'];
}

/** keepalived's schedulers nftables can run as they are; the rest fall back to wrr (the config
 * checks say so). */
const EXPRESSIBLE: Partial<Record<string, Algorithm>> = { rr: 'rr', wrr: 'wrr', sh: 'sh', dh: 'dh', mh: 'mh' };

/** Default retry and delay_before_retry of TCP_CHECK (check_api.c). */
const TCP_DEFAULTS = { retry: 1, delayBeforeRetryS: 1, timeoutS: 5 };

const bracket = (ip: string) => `[${ip}]`;
const safe = (s: string) => s.toLowerCase().replace(/[^a-z0-9]+/g, '_').replace(/^_+|_+$/g, '');

export function protocolOf(vs: VirtualServerConfig): Protocol {
  // keepalived: no protocol means UDP (lvs-semantic.ts reports it); SCTP is refused there
  return vs.protocol === 'TCP' ? 'tcp' : 'udp';
}

export function resolveVirtualServers(config: Config): ResolvedVirtualServer[] {
  return config.virtual_server.filter((vs) => vs.real_server.length > 0).map((vs) => resolveVirtualServer(config, vs));
}

export function resolveVirtualServer(config: Config, vs: VirtualServerConfig): ResolvedVirtualServer {
  const proto = protocolOf(vs);
  const protoName = vs.fwmark !== undefined ? 'none' : proto;
  let name: string;
  let services: ResolvedVirtualServer['services'];
  let addresses: string[] = [];
  if (vs.fwmark !== undefined) {
    name = `FWM ${vs.fwmark}`;
    services = [{ id: `fwm_${vs.fwmark}`, match: { kind: 'fwmark', mark: vs.fwmark } }];
  } else if (vs.group !== undefined) {
    name = `[${vs.group}]:${vs.port ?? 0}`;
    ({ services, addresses } = groupServices(config, vs.group, proto));
  } else {
    const ip = vs.ip ?? '0.0.0.0';
    name = `${bracket(ip)}:${protoName}:${vs.port ?? 0}`;
    addresses = [ip];
    const port = vs.port ? vs.port : undefined;
    services = [{ id: `vs_${safe(ip)}_${proto}_${port ?? 0}`, match: { kind: 'address', addresses: [ip], ...(port !== undefined ? { port } : {}), protocol: proto } }];
  }
  const family: 4 | 6 = vs.ip_family === 'inet6' ? 6 : vs.ip_family === 'inet' ? 4 : addresses[0] ? (isIP(addresses[0]) === 6 ? 6 : 4) : isIP(vs.real_server[0]?.ip ?? '') === 6 ? 6 : 4;
  const algoName = vs.lb_algo ?? 'wlc';
  const portless = vs.fwmark === undefined && !vs.port;
  const timeoutS = vs.persistence_timeout ?? (portless || vs.persistence_granularity !== undefined ? 360 : undefined);
  const realServers = vs.real_server.map((rs) => resolveRealServer(vs, rs, protoName));
  const sorry = vs.sorry_server;
  return {
    name,
    family,
    services,
    addresses,
    algorithm: EXPRESSIBLE[algoName] ?? (algoName === 'fo' ? 'rr' : 'wrr'),
    failover: algoName === 'fo',
    hashPort: vs.sh_port,
    ...(timeoutS !== undefined ? { persistence: { timeoutS, ...(vs.persistence_granularity ? { granularity: vs.persistence_granularity } : {}) } } : {}),
    snat: vs.snat,
    forwarding: vs.lb_kind === 'DR' ? 'dr' : 'nat',
    quorum: vs.quorum,
    hysteresis: vs.hysteresis,
    alpha: vs.alpha,
    omega: vs.omega,
    haSuspend: vs.ha_suspend && vs.fwmark === undefined,
    ...(sorry
      ? {
          sorry: {
            id: sorry.port ? `${sorry.ip}:${sorry.port}` : sorry.ip,
            name: `${bracket(sorry.ip)}:${protoName}:${sorry.port ?? vs.port ?? 0}`,
            ip: sorry.ip,
            ...(sorry.port ?? vs.port ? { port: (sorry.port ?? vs.port) as number } : {}),
            inhibit: vs.sorry_server_inhibit,
          },
        }
      : {}),
    realServers,
    ...(vs.quorum_up !== undefined ? { quorumUp: vs.quorum_up } : {}),
    ...(vs.quorum_down !== undefined ? { quorumDown: vs.quorum_down } : {}),
  };
}

function resolveRealServer(vs: VirtualServerConfig, rs: RealServerConfig, protoName: string): ResolvedRealServer {
  // a NAT real server with no port takes the virtual server's
  const port = rs.port || vs.port || undefined;
  const alpha = rs.alpha ?? vs.alpha;
  return {
    name: `${bracket(rs.ip)}:${protoName}:${port ?? 0}`,
    id: port !== undefined ? `${rs.ip}:${port}` : rs.ip,
    ip: rs.ip,
    ...(port !== undefined ? { port } : {}),
    weight: rs.weight ?? vs.weight,
    inhibitOnFailure: rs.inhibit_on_failure ?? vs.inhibit_on_failure,
    alpha,
    checks: rs.tcp_check.map((c) => resolveTcpCheck(vs, rs, c, alpha)),
    ...(rs.notify_up !== undefined ? { notifyUp: rs.notify_up } : {}),
    ...(rs.notify_down !== undefined ? { notifyDown: rs.notify_down } : {}),
  };
}

function resolveTcpCheck(vs: VirtualServerConfig, rs: RealServerConfig, c: TcpCheckConfig, alpha: boolean): TcpCheck {
  const host = c.connect_ip ?? rs.ip;
  // keepalived copies the port written on the real_server line (lvs-semantic.ts refuses a
  // checker with neither); the virtual server's is the last resort
  const port = c.connect_port ?? rs.port ?? vs.port ?? 0;
  const delayLoopS = c.delay_loop ?? rs.delay_loop ?? vs.delay_loop;
  return {
    kind: 'tcp',
    name: `TCP_CHECK ${isIP(host) === 6 ? bracket(host) : host}:${port}`,
    host,
    port,
    ...(c.bindto !== undefined ? { bindto: c.bindto } : {}),
    ...(c.bind_port !== undefined ? { bindPort: c.bind_port } : {}),
    timeoutMs: (c.connect_timeout ?? rs.connect_timeout ?? vs.connect_timeout ?? TCP_DEFAULTS.timeoutS) * 1000,
    retry: c.retry ?? rs.retry ?? vs.retry ?? TCP_DEFAULTS.retry,
    delayBeforeRetryMs: (c.delay_before_retry ?? rs.delay_before_retry ?? vs.delay_before_retry ?? TCP_DEFAULTS.delayBeforeRetryS) * 1000,
    delayLoopMs: delayLoopS * 1000,
    warmupMs: (c.warmup ?? rs.warmup ?? vs.warmup ?? delayLoopS) * 1000,
    alpha: c.alpha ?? alpha,
  };
}

/** A group's address entries, one data-plane service per (port); its fwmark entries, one each. */
function groupServices(config: Config, group: string, proto: Protocol): { services: ResolvedVirtualServer['services']; addresses: string[] } {
  const entries = config.virtual_server_group[group] ?? [];
  const byPort = new Map<number, string[]>();
  const services: ResolvedVirtualServer['services'] = [];
  for (const e of entries) {
    if ('fwmark' in e) {
      services.push({ id: `g_${safe(group)}_fwm_${e.fwmark}`, match: { kind: 'fwmark', mark: e.fwmark } });
      continue;
    }
    const list = byPort.get(e.port ?? 0) ?? [];
    list.push(...expandAddresses(e.address));
    byPort.set(e.port ?? 0, list);
  }
  const addresses: string[] = [];
  for (const [port, list] of byPort) {
    addresses.push(...list);
    services.push({ id: `g_${safe(group)}_${proto}_${port}`, match: { kind: 'address', addresses: list, ...(port ? { port } : {}), protocol: proto } });
  }
  return { services, addresses };
}

/** Most addresses one group entry may stand for (a /16 would be 65,536 set elements). */
export const MAX_GROUP_ADDRESSES = 4096;

/** `192.0.2.1`, `192.0.2.1-9` (last octet; IPv6: last group, hex), `192.0.2.1-192.0.2.9`,
 * `192.0.2.0/28`: the addresses, in order. Throws on a malformed entry or too many addresses. */
export function expandAddresses(entry: string): string[] {
  const [lo, hi] = entry.split('-');
  if (entry.includes('/')) {
    const [addr = '', lenText = ''] = entry.split('/');
    const fam = isIP(addr);
    const len = Number(lenText);
    const bits = fam === 6 ? 128 : 32;
    if (fam === 0 || !/^\d+$/.test(lenText) || len > bits) throw new Error(`invalid address block ${entry}`);
    const start = toBig(addr);
    const count = 1n << BigInt(bits - len);
    if (count > BigInt(MAX_GROUP_ADDRESSES)) throw new Error(`${entry} stands for more than ${MAX_GROUP_ADDRESSES} addresses`);
    return range(start, start + count - 1n, fam);
  }
  if (hi === undefined) {
    if (isIP(entry) === 0) throw new Error(`invalid address ${entry}`);
    return [entry];
  }
  const fam = isIP(lo ?? '');
  if (fam === 0) throw new Error(`invalid address range ${entry}`);
  const start = toBig(lo as string);
  let end: bigint;
  if (isIP(hi) === fam) end = toBig(hi);
  else if (fam === 4 && /^\d{1,3}$/.test(hi)) end = (start & ~0xffn) | BigInt(Number(hi));
  else if (fam === 6 && /^[0-9a-f]{1,4}$/i.test(hi)) end = (start & ~0xffffn) | BigInt(parseInt(hi, 16));
  else throw new Error(`invalid address range ${entry}`);
  if (end < start) throw new Error(`invalid address range ${entry}: the end is below the start`);
  if (end - start + 1n > BigInt(MAX_GROUP_ADDRESSES)) throw new Error(`${entry} stands for more than ${MAX_GROUP_ADDRESSES} addresses`);
  return range(start, end, fam);
}

function toBig(ip: string): bigint {
  if (isIP(ip) === 4) return ip.split('.').reduce((acc, o) => (acc << 8n) | BigInt(Number(o)), 0n);
  const [head = '', tail = ''] = ip.split('::');
  const h = head ? head.split(':') : [];
  const t = ip.includes('::') ? (tail ? tail.split(':') : []) : [];
  const groups = ip.includes('::') ? [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t] : ip.split(':');
  return groups.reduce((acc, g) => (acc << 16n) | BigInt(parseInt(g || '0', 16)), 0n);
}

function range(start: bigint, end: bigint, fam: number): string[] {
  const out: string[] = [];
  for (let v = start; v <= end; v++) out.push(fam === 4 ? fromBig4(v) : fromBig6(v));
  return out;
}

const fromBig4 = (v: bigint) => [24n, 16n, 8n, 0n].map((s) => String((v >> s) & 0xffn)).join('.');
const fromBig6 = (v: bigint) =>
  [112n, 96n, 80n, 64n, 48n, 32n, 16n, 0n]
    .map((s) => ((v >> s) & 0xffffn).toString(16))
    .join(':')
    .replace(/(^|:)0(:0)+(:|$)/, '::');
