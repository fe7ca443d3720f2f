// From the configuration to what the balancer runs: every value keepalived inherits or defaults
// filled in (a checker's setting from the checker, else its real server, else its virtual server,
// else the checker type's default; LVS.md sections 1-4), names in keepalived's own format (the
// ones its logs, notify FIFO lines and scripts use), and the data plane's match for each virtual
// server. Pure: no I/O.

import { isIP } from 'node:net';
import type { Config } from '../config/schema.ts';
import {
  parseHex,
  statusRange,
  type DnsCheckConfig,
  type FileCheckConfig,
  type HttpCheckConfig,
  type MiscCheckConfig,
  type PingCheckConfig,
  type PluginCheckConfig,
  type RealServerConfig,
  type SmtpCheckConfig,
  type TcpCheckConfig,
  type UdpCheckConfig,
  type VirtualServerConfig,
} from '../config/lvs-schema.ts';
import { parseUserWords } from '../config/user-words.ts';
import type { Check, CheckTiming, DnsCheck, DnsType, Endpoint, FileCheck, HttpCheck, HttpUrl, MiscCheck, PingCheck, PluginCheck, SmtpCheck, TcpCheck, UdpCheck } from './checks.ts';
import type { Algorithm, Forwarding, Protocol, ServiceMatch } from './model.ts';

export type { Check, TcpCheck } from './checks.ts';

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

/** keepalived's defaults by checker type (check_api.c queue_checker, check_http.c, check_dns.c,
 * check_misc.c): retry, and delay_before_retry in seconds (undefined: the checker's delay_loop).
 * connect_timeout is 5 s for all (the virtual server's default). */
const DEFAULTS = {
  TCP_CHECK: { retry: 1, delayBeforeRetryS: 1 },
  HTTP_GET: { retry: 1, delayBeforeRetryS: 3 },
  SSL_GET: { retry: 1, delayBeforeRetryS: 3 },
  MISC_CHECK: { retry: 0, delayBeforeRetryS: 1 },
  DNS_CHECK: { retry: 3, delayBeforeRetryS: undefined },
  SMTP_CHECK: { retry: 1, delayBeforeRetryS: 1 },
  UDP_CHECK: { retry: 1, delayBeforeRetryS: 1 },
  PING_CHECK: { retry: 1, delayBeforeRetryS: 1 },
  PLUGIN_CHECK: { retry: 1, delayBeforeRetryS: 1 },
} as const;
type TimedType = keyof typeof DEFAULTS;
const DEFAULT_TIMEOUT_S = 5;

/** vigil's default max_body_size. */
export const DEFAULT_MAX_BODY_BYTES = 1048576;
/** keepalived's default helo_name (check_smtp.h). */
export const DEFAULT_HELO_NAME = 'smtpchecker.keepalived.org';
/** keepalived's default UDP_CHECK datagram (layer4.c set_buf): 32 bytes of this, repeated. */
export const DEFAULT_UDP_PAYLOAD_HEX = Buffer.from('keepalived check - '.repeat(2).slice(0, 32)).toString('hex');

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
  const realServers = vs.real_server.map((rs) => resolveRealServer(config, vs, rs, protoName));
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

function resolveRealServer(config: Config, vs: VirtualServerConfig, rs: RealServerConfig, protoName: string): ResolvedRealServer {
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
    checks: resolveChecks(config, vs, rs),
    ...(rs.notify_up !== undefined ? { notifyUp: rs.notify_up } : {}),
    ...(rs.notify_down !== undefined ? { notifyDown: rs.notify_down } : {}),
  };
}

/** Every checker of a real server, in the order of the schema's lists (tcp_check first). */
export function resolveChecks(config: Config, vs: VirtualServerConfig, rs: RealServerConfig): Check[] {
  const ctx: Ctx = { config, vs, rs };
  return [
    ...rs.tcp_check.map((c) => resolveTcpCheck(ctx, c)),
    ...rs.http_get.map((c) => resolveHttpCheck(ctx, c, false)),
    ...rs.ssl_get.map((c) => resolveHttpCheck(ctx, c, true)),
    ...rs.misc_check.map((c) => resolveMiscCheck(ctx, c)),
    ...rs.dns_check.map((c) => resolveDnsCheck(ctx, c)),
    ...rs.smtp_check.map((c) => resolveSmtpCheck(ctx, c)),
    ...rs.udp_check.map((c) => resolveUdpCheck(ctx, c)),
    ...rs.ping_check.map((c) => resolvePingCheck(ctx, c)),
    ...rs.file_check.flatMap((c) => resolveFileCheck(ctx, c)),
    ...rs.plugin_check.map((c) => resolvePluginCheck(ctx, c)),
  ];
}

interface Ctx {
  config: Config;
  vs: VirtualServerConfig;
  rs: RealServerConfig;
}

type TimingConfig = Pick<TcpCheckConfig, 'retry' | 'delay_before_retry' | 'warmup' | 'delay_loop' | 'alpha'> & { connect_timeout?: number | undefined };

/** keepalived's inheritance (check_data.c validate_check_config): the checker's value, else
 * the real server's, else the virtual server's, else the type's default. */
function timing(ctx: Ctx, type: TimedType, c: TimingConfig, name: string): CheckTiming {
  const { vs, rs } = ctx;
  const delayLoopS = c.delay_loop ?? rs.delay_loop ?? vs.delay_loop;
  const d = DEFAULTS[type];
  return {
    name,
    timeoutMs: (c.connect_timeout ?? rs.connect_timeout ?? vs.connect_timeout ?? DEFAULT_TIMEOUT_S) * 1000,
    retry: c.retry ?? rs.retry ?? vs.retry ?? d.retry,
    delayBeforeRetryMs: (c.delay_before_retry ?? rs.delay_before_retry ?? vs.delay_before_retry ?? d.delayBeforeRetryS ?? delayLoopS) * 1000,
    delayLoopMs: delayLoopS * 1000,
    warmupMs: (c.warmup ?? rs.warmup ?? vs.warmup ?? delayLoopS) * 1000,
    alpha: c.alpha ?? rs.alpha ?? vs.alpha,
  };
}

type ConnectionConfig = Pick<TcpCheckConfig, 'connect_ip' | 'connect_port' | 'bindto' | 'bind_port'>;

function endpoint(ctx: Ctx, c: ConnectionConfig): Endpoint {
  // keepalived copies the port written on the real_server line (lvs-semantic.ts refuses a
  // checker with neither); the virtual server's is the last resort
  return {
    host: c.connect_ip ?? ctx.rs.ip,
    port: c.connect_port ?? ctx.rs.port ?? ctx.vs.port ?? 0,
    ...(c.bindto !== undefined ? { bindto: c.bindto } : {}),
    ...(c.bind_port !== undefined ? { bindPort: c.bind_port } : {}),
  };
}

/** `198.51.100.10:80`, `[2001:db8::10]:80`. */
const hostPort = (e: Endpoint) => `${isIP(e.host) === 6 ? bracket(e.host) : e.host}:${e.port}`;

function resolveTcpCheck(ctx: Ctx, c: TcpCheckConfig): TcpCheck {
  const e = endpoint(ctx, c);
  return { kind: 'tcp', ...timing(ctx, 'TCP_CHECK', c, `TCP_CHECK ${hostPort(e)}`), ...e };
}

function resolveHttpCheck(ctx: Ctx, c: HttpCheckConfig, tls: boolean): HttpCheck {
  const type = tls ? 'SSL_GET' : 'HTTP_GET';
  const e = endpoint(ctx, c);
  const ssl = ctx.config.ssl;
  const urls = c.url.map((u): HttpUrl => {
    // the Host header: url, checker, real server, virtual server, else the target (check_http.c)
    const vhost = u.virtualhost ?? c.virtualhost ?? ctx.rs.virtualhost ?? ctx.vs.virtualhost;
    // SNI skips the real server's virtualhost in keepalived 2.2.7 (check_ssl.c)
    const sni = tls && c.enable_sni === true ? (u.virtualhost ?? c.virtualhost ?? ctx.vs.virtualhost) : undefined;
    const codes = (u.status_code ?? ['200-299']).map(statusRange).filter((r): r is [number, number] => r !== undefined);
    return {
      path: u.path,
      ...(u.digest !== undefined ? { digest: u.digest.toLowerCase() } : {}),
      statusCodes: codes.length > 0 ? codes : [[200, 299]],
      host: vhost ?? hostPort(e),
      ...(sni !== undefined ? { sni } : {}),
    };
  });
  const caFile = c.ca ?? ssl?.ca;
  return {
    kind: 'http',
    ...timing(ctx, type, c, `${type} ${hostPort(e)}`),
    ...e,
    tls,
    verifyTls: c.verify_tls ?? false,
    ...(caFile !== undefined ? { caFile } : {}),
    ...(ssl?.certificate !== undefined ? { certFile: ssl.certificate } : {}),
    ...(ssl?.key !== undefined ? { keyFile: ssl.key } : {}),
    ...(ssl?.password !== undefined ? { keyPassword: ssl.password } : {}),
    protocol: c.http_protocol ?? '1.0',
    urls,
    maxBodyBytes: c.max_body_size ?? DEFAULT_MAX_BODY_BYTES,
  };
}

function resolveMiscCheck(ctx: Ctx, c: MiscCheckConfig): MiscCheck {
  const g = ctx.config.global_defs;
  // the checker's user, else script_user (its group only with its user)
  const who = c.user !== undefined ? { user: c.user, group: c.group } : g.script_user !== undefined ? parseUserWords(g.script_user) : undefined;
  const t = timing(ctx, 'MISC_CHECK', c, `MISC_CHECK ${c.misc_path}`);
  return {
    kind: 'misc',
    ...t,
    // misc_timeout, else the virtual server's delay_loop (check_misc.c), not the checker's
    timeoutMs: (c.misc_timeout ? c.misc_timeout : ctx.vs.delay_loop) * 1000,
    command: c.misc_path,
    dynamic: c.misc_dynamic ?? false,
    ...(who?.user !== undefined ? { user: who.user } : {}),
    ...(who?.group !== undefined ? { group: who.group } : {}),
    scriptSecurity: g.enable_script_security,
  };
}

function resolveDnsCheck(ctx: Ctx, c: DnsCheckConfig): DnsCheck {
  const e = endpoint(ctx, c);
  const name = c.name ?? '';
  return {
    kind: 'dns',
    ...timing(ctx, 'DNS_CHECK', c, `DNS_CHECK ${hostPort(e)}`),
    ...e,
    type: (c.type ?? 'SOA').toUpperCase() as DnsType,
    query: name.endsWith('.') ? name.slice(0, -1) : name,
  };
}

function resolveSmtpCheck(ctx: Ctx, c: SmtpCheckConfig): SmtpCheck {
  const e = endpoint(ctx, c);
  return { kind: 'smtp', ...timing(ctx, 'SMTP_CHECK', c, `SMTP_CHECK ${hostPort(e)}`), ...e, heloName: c.helo_name ?? DEFAULT_HELO_NAME };
}

function resolveUdpCheck(ctx: Ctx, c: UdpCheckConfig): UdpCheck {
  const e = endpoint(ctx, c);
  const pattern = typeof c.require_reply === 'string' ? parseHex(c.require_reply, true) : undefined;
  return {
    kind: 'udp',
    ...timing(ctx, 'UDP_CHECK', c, `UDP_CHECK ${hostPort(e)}`),
    ...e,
    payloadHex: (c.payload !== undefined ? parseHex(c.payload, false) : undefined) ?? DEFAULT_UDP_PAYLOAD_HEX,
    requireReply: c.require_reply !== undefined && c.require_reply !== false,
    ...(pattern !== undefined ? { replyPattern: pattern } : {}),
    minReplyLength: c.min_reply_length ?? 0,
    maxReplyLength: c.max_reply_length ?? 255,
  };
}

function resolvePingCheck(ctx: Ctx, c: PingCheckConfig): PingCheck {
  const host = c.connect_ip ?? ctx.rs.ip;
  return {
    kind: 'ping',
    ...timing(ctx, 'PING_CHECK', c, `PING_CHECK ${host}`),
    host,
    ...(c.bindto !== undefined ? { bindto: c.bindto } : {}),
  };
}

/** A FILE_CHECK whose track_file is not configured has nothing to run (lvs-semantic.ts refuses
 * it): none. */
function resolveFileCheck(ctx: Ctx, c: FileCheckConfig): FileCheck[] {
  const tf = ctx.config.vrrp_track_file[c.track_file];
  if (!tf) return [];
  // the checker's weight (with its reverse) overrides the block's (check_file.c)
  const own = c.weight !== undefined;
  return [
    {
      kind: 'file',
      name: `FILE_CHECK ${c.track_file}`,
      trackFile: c.track_file,
      path: tf.file,
      weight: c.weight ?? tf.weight,
      reverse: c.reverse ?? (own ? false : tf.weight_reverse),
    },
  ];
}

function resolvePluginCheck(ctx: Ctx, c: PluginCheckConfig): PluginCheck {
  const e = endpoint(ctx, c);
  return {
    kind: 'plugin',
    ...timing(ctx, 'PLUGIN_CHECK', c, `PLUGIN_CHECK ${c.checker} ${hostPort(e)}`),
    ...e,
    checker: c.checker,
    params: c.params ?? {},
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
