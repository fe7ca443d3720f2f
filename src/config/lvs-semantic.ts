// Checks of the load balancer configuration beyond shape (virtual_server, real_server,
// virtual_server_group), made on the validated config for keepalived.conf and YAML alike:
// what keepalived 2.2.7 reports after parsing (`keepalived -t`), in its words where it has
// them, plus what vigil's nftables data plane cannot do. Facts: ../shared/docs/LVS.md 2, 3, 10.
//
// Where keepalived fixes a value and runs with it, the fixed value is written into the config
// here, so the balancer gets what keepalived would run (and `vigil convert` prints it):
// - a real server of the other address family, a duplicated real server: removed;
// - a virtual server left with no real servers: removed;
// - a sorry server of the other family: removed (with sorry_server_inhibit);
// - quorum above the sum of the weights: lowered to it; hysteresis >= quorum: quorum - 1;
// - an address virtual server with no port (or port 0) and no persistence: persistence_timeout
//   360 (and port 0 is written as no port); a valid persistence_granularity with no
//   persistence_timeout: 360 too;
// - an invalid persistence_granularity, a conflicting ip_family: dropped;
// - a fwmark virtual server's protocol and ha_suspend: cleared; sorry_server_inhibit without a
//   sorry server, sh_port without lb_algo sh: cleared;
// - a connection-counting scheduler (lc, wlc, lblc, lblcr, sed, nq, ovf, twos): lb_algo wrr
//   (fo stays: the balancer keeps only the highest-weight live real server in the pool);
// - group entries keepalived skips (bad address, empty range, host bits set), and groups it
//   removes (empty; IPv4, IPv6 and a fwmark without family): removed.
// Left unset, for the balancer to apply the same fallbacks: protocol (UDP), lb_algo (wrr, where
// keepalived's default is wlc), lb_kind (NAT); each gets keepalived's warning here.
// - lb_kind DR: a real or sorry server port other than the virtual server's is reset to it
//   (keepalived's "ports don't match - resetting"; a checker with no connect_port keeps
//   checking the port written on the real_server line, as keepalived's does).
// Checkers: UDP_CHECK min_reply_length > max_reply_length, a port on PING_CHECK, TLS options on
// HTTP_GET: warnings (what keepalived says about a single keyword is said by the
// keepalived.conf reader, lvs-mapping.ts, or the schema for YAML).
// Refused (errors): lb_kind TUN, protocol SCTP, an undefined group, a group mixing IPv4 and
// IPv6, a checker with no port to connect to, a FILE_CHECK of no track_file; lb_kind DR for a fwmark (or a group with fwmark
// entries), and a DR real or sorry server that is not on a directly connected subnet of this
// host, or not on the same interface as the virtual server's other real servers.

import { isIP } from 'node:net';
import type { Diagnostic, PositionMap } from './diagnostics.ts';
import type { RealServerConfig, VirtualServerConfig } from './lvs-schema.ts';
import type { Config } from './schema.ts';
import { describeSubnets, localSubnets, onLink, type LocalSubnet } from '../lvs/neighbours.ts';

type P = Array<string | number>;

/** Schedulers that need live per-server connection counts (LVS.md 11.3). */
const COUNTING: Record<string, string> = {
  lc: 'least connections',
  wlc: 'weighted least connections',
  lblc: 'locality-based least connections',
  lblcr: 'locality-based least connections with replication',
  sed: 'shortest expected delay',
  nq: 'never queue',
  ovf: 'weighted overflow',
  twos: 'weighted random twos choice',
};
const WHY_COUNTING = 'it picks by the live connection count of each server, and nftables chooses with stateless expressions (numgen, jhash) that cannot read those counts';

export interface LvsCheckOptions {
  /** This host's interface subnets, for DR (default: read from the OS). */
  subnets?: LocalSubnet[];
}

export function checkLvs(config: Config, positions: PositionMap, opts: LvsCheckOptions = {}): Diagnostic[] {
  const out: Diagnostic[] = [];
  let subnets = opts.subnets;
  const hostSubnets = () => (subnets ??= localSubnets());
  const at = (path: P, severity: Diagnostic['severity'], message: string) => out.push({ ...positions.get(path), severity, field: path.join('.'), message });

  const groupFamily = checkGroups(config, at);

  const keep: VirtualServerConfig[] = [];
  config.virtual_server.forEach((vs, i) => {
    if (checkVirtualServer(config, vs, ['virtual_server', i], groupFamily, at, hostSubnets)) keep.push(vs);
  });
  config.virtual_server = keep;
  return out;
}

type At = (path: P, severity: Diagnostic['severity'], message: string) => void;

/** Checks and cleans the groups; returns each remaining group's address family (4, 6, or
 * undefined for fwmarks without a family). */
function checkGroups(config: Config, at: At): Map<string, 4 | 6 | undefined | 'removed'> {
  const families = new Map<string, 4 | 6 | undefined | 'removed'>();
  for (const [name, entries] of Object.entries(config.virtual_server_group)) {
    const p = ['virtual_server_group', name];
    const fams = new Set<number>();
    let bareMark = false;
    const kept = entries.filter((e, i) => {
      if ('fwmark' in e) {
        if (e.family) fams.add(e.family === 'inet' ? 4 : 6);
        else bareMark = true;
        return true;
      }
      const r = groupAddress(e.address);
      if ('error' in r) {
        at([...p, i], 'warning', r.error);
        return false;
      }
      fams.add(r.family);
      return true;
    });
    if (kept.length === 0) {
      at(p, 'warning', `virtual server group ${name} has no entries - removing`);
      delete config.virtual_server_group[name];
      families.set(name, 'removed');
      continue;
    }
    if (fams.has(4) && fams.has(6) && bareMark) {
      at(p, 'warning', `virtual server group ${name} cannot have IPv4, IPv6 and fwmark without family - removing`);
      delete config.virtual_server_group[name];
      families.set(name, 'removed');
      continue;
    }
    config.virtual_server_group[name] = kept;
    if (fams.size > 1) {
      // keepalived makes one IPVS service per entry; vigil's services have one family
      at(p, 'error', `virtual server group ${name} mixes IPv4 and IPv6 addresses: vigil balances one address family per virtual server; split the group`);
    }
    families.set(name, fams.size === 1 ? ([...fams][0] as 4 | 6) : undefined);
  }
  return families;
}

/** A group address: IP, A.B.C.D-E (last part; hex for IPv6), A-B (full range), or CIDR. */
export function groupAddress(text: string): { family: 4 | 6 } | { error: string } {
  const invalid = { error: `Invalid virtual server group IP address ${text} - skipping` };
  const slash = text.indexOf('/');
  if (slash >= 0) {
    const addr = text.slice(0, slash);
    const bits = text.slice(slash + 1);
    const fam = isIP(addr);
    if (fam === 0 || !/^\d+$/.test(bits) || Number(bits) > (fam === 4 ? 32 : 128)) return invalid;
    const value = toBigInt(addr);
    const width = fam === 4 ? 32n : 128n;
    const host = (1n << (width - BigInt(bits))) - 1n;
    if ((value & host) !== 0n) return { error: `Address mask bits not empty - ${text} - skipping` };
    return { family: fam === 4 ? 4 : 6 };
  }
  const dash = text.lastIndexOf('-');
  if (dash < 0) {
    const fam = isIP(text);
    return fam === 0 ? invalid : { family: fam === 4 ? 4 : 6 };
  }
  const start = text.slice(0, dash);
  const end = text.slice(dash + 1);
  const fam = isIP(start);
  if (fam === 0) return invalid;
  const family = fam === 4 ? 4 : 6;
  if (isIP(end) !== 0) {
    if (isIP(end) !== fam) return invalid;
    return toBigInt(end) < toBigInt(start) ? { error: `Address range end is less than address range start - ${text} - skipping` } : { family };
  }
  // the last byte (IPv4, decimal) or 16-bit group (IPv6, hex)
  const last = fam === 4 ? (/^\d+$/.test(end) ? Number(end) : NaN) : /^[0-9a-fA-F]{1,4}$/.test(end) ? parseInt(end, 16) : NaN;
  if (Number.isNaN(last) || last > (fam === 4 ? 255 : 0xffff)) return invalid;
  const mask = fam === 4 ? 0xffn : 0xffffn;
  const first = Number(toBigInt(start) & mask);
  if (last <= first) return { error: `Address range end is not greater than address range start - ${text} - skipping` };
  return { family };
}

function toBigInt(addr: string): bigint {
  if (isIP(addr) === 4) return addr.split('.').reduce((n, b) => (n << 8n) | BigInt(Number(b)), 0n);
  // IPv6, possibly with an embedded IPv4 tail and one ::
  let a = addr;
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(a);
  if (v4?.[1]) {
    const n = Number(toBigInt(v4[1]));
    a = a.slice(0, -v4[1].length) + `${(n >>> 16).toString(16)}:${(n & 0xffff).toString(16)}`;
  }
  const [head = '', tail] = a.split('::');
  const h = head ? head.split(':') : [];
  const t = tail !== undefined && tail !== '' ? tail.split(':') : [];
  const groups = tail === undefined ? h : [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t];
  return groups.reduce((n, g) => (n << 16n) | BigInt(parseInt(g, 16)), 0n);
}

/** lb_kind DR: what keepalived fixes (ports), and what vigil's netdev data plane needs: an
 * address match (ingress runs before any rule could set a mark) and real servers on this host's
 * own link (their MAC comes from the neighbour table), all on one interface. */
function checkDirectRouting(config: Config, vs: VirtualServerConfig, p: P, at: At, subnets: () => LocalSubnet[]): void {
  const marks = vs.fwmark !== undefined || (vs.group !== undefined && (config.virtual_server_group[vs.group] ?? []).some((e) => 'fwmark' in e));
  if (marks) {
    at([...p, 'lb_kind'], 'error', 'lb_kind DR with a firewall mark is refused: vigil forwards DR at netdev ingress, which runs before any rule can set a mark (and before conntrack); use an address virtual server, or NAT');
    return;
  }
  const proto = vs.protocol === 'TCP' ? 'tcp' : 'udp';
  const vsName = vs.group !== undefined ? `[${vs.group}]:${vs.port ?? 0}` : `[${vs.ip ?? ''}]:${proto}:${vs.port ?? 0}`;
  const vsPort = vs.port || undefined;
  vs.real_server.forEach((rs, j) => {
    if (rs.port === undefined || rs.port === 0 || rs.port === vsPort) return;
    at([...p, 'real_server', j], 'warning', `virtual server ${vsName} and real server [${rs.ip}]:${proto}:${rs.port} ports don't match - resetting`);
    // keepalived's checkers took their port from the real_server line before the reset
    for (const list of PORTED) for (const c of rs[list]) c.connect_port ??= rs.port;
    if (vsPort === undefined) delete rs.port;
    else rs.port = vsPort;
  });
  if (vs.sorry_server?.port !== undefined && vs.sorry_server.port !== 0 && vs.sorry_server.port !== vsPort) {
    at([...p, 'sorry_server'], 'warning', `virtual server ${vsName} and sorry server ports don't match - resetting`);
    if (vsPort === undefined) delete vs.sorry_server.port;
    else vs.sorry_server.port = vsPort;
  }
  const here = subnets();
  let first: { ifname: string; ip: string } | undefined;
  const place = (ip: string, path: P, what: string) => {
    const link = onLink(ip, here);
    if (!link) {
      at(path, 'error', `${what} ${ip} is not on a directly connected subnet of this host (${describeSubnets(here)}): lb_kind DR hands the client's packets to the ${what}'s MAC address on the balancer's own link, so it must share a segment with the balancer; put it there or use NAT`);
      return;
    }
    if (!first) first = { ifname: link.ifname, ip };
    else if (link.ifname !== first.ifname) {
      at(path, 'error', `${what} ${ip} is on ${link.ifname}, but ${first.ip} is on ${first.ifname}: vigil forwards one DR virtual server on one interface; put its real servers on one segment`);
    }
  };
  vs.real_server.forEach((rs, j) => place(rs.ip, [...p, 'real_server', j], 'real server'));
  if (vs.sorry_server) place(vs.sorry_server.ip, [...p, 'sorry_server'], 'sorry server');
}

/** A netmask with contiguous ones (255.255.255.0), as keepalived requires. */
function solidNetmask(text: string): boolean {
  if (isIP(text) !== 4) return false;
  const n = toBigInt(text);
  const inv = ~n & 0xffffffffn;
  return (inv & (inv + 1n)) === 0n;
}

/** Checks one virtual server and applies keepalived's fixes; false when it is dropped. */
function checkVirtualServer(config: Config, vs: VirtualServerConfig, p: P, groupFamily: Map<string, 4 | 6 | undefined | 'removed'>, at: At, subnets: () => LocalSubnet[]): boolean {
  // the address family: the address's, the group's, ip_family, else the first real server's
  let family: 4 | 6 | undefined;
  if (vs.ip !== undefined) family = isIP(vs.ip) === 4 ? 4 : 6;
  else if (vs.group !== undefined) {
    const g = groupFamily.get(vs.group);
    if (!(vs.group in config.virtual_server_group)) {
      const why = g === 'removed' ? `virtual_server_group ${vs.group} was removed (above)` : `no virtual_server_group ${vs.group} is configured`;
      at([...p, 'group'], 'error', `virtual_server group ${vs.group}: ${why}. keepalived 2.2.7 accepts this in -t and drops the virtual server at run time ('Virtual server group ${vs.group} specified but not configured'); vigil is stricter and refuses it`);
      return true;
    }
    family = g === 'removed' ? undefined : g;
  }
  if (vs.ip_family !== undefined) {
    const f = vs.ip_family === 'inet' ? 4 : 6;
    if (family !== undefined && f !== family) {
      at([...p, 'ip_family'], 'warning', `Virtual server specified family ${vs.ip_family} conflicts with server family; ignored`);
      delete vs.ip_family;
    } else family = f;
  }

  // real servers: keepalived skips one of the other family, then removes duplicates
  const seen = new Set<string>();
  const kept: RealServerConfig[] = [];
  vs.real_server.forEach((rs, j) => {
    const rp = [...p, 'real_server', j];
    const f = isIP(rs.ip) === 4 ? 4 : 6;
    family ??= f;
    if (f !== family) {
      at(rp, 'warning', `Address family of virtual server and real server ${rs.ip} don't match - skipping real server`);
      return;
    }
    const key = `${rs.ip}|${rs.port ?? vs.port ?? 0}`;
    if (seen.has(key)) {
      at(rp, 'warning', `real server ${rs.ip}${rs.port === undefined ? '' : ` port ${rs.port}`} is duplicated - removing second rs`);
      return;
    }
    seen.add(key);
    kept.push(rs);
    checkCheckers(config, rs, rp, f, at);
  });
  vs.real_server = kept;
  if (kept.length === 0) {
    at(p, 'warning', 'Virtual server has no real servers - ignoring');
    return false;
  }

  if (vs.sorry_server && isIP(vs.sorry_server.ip) !== (family === 4 ? 4 : 6)) {
    at([...p, 'sorry_server'], 'warning', `Address family of virtual server and sorry server ${vs.sorry_server.ip} don't match - skipping sorry server${vs.sorry_server_inhibit ? ' (and sorry_server_inhibit)' : ''}`);
    delete vs.sorry_server;
    vs.sorry_server_inhibit = false;
  }
  if (vs.sorry_server_inhibit && !vs.sorry_server) {
    at([...p, 'sorry_server_inhibit'], 'warning', 'Ignoring sorry_server inhibit used before or without sorry_server');
    vs.sorry_server_inhibit = false;
  }

  if (vs.fwmark !== undefined) {
    if (vs.protocol !== undefined) {
      at([...p, 'protocol'], 'warning', `Virtual server FWM ${vs.fwmark}: protocol specified for fwmark - protocol will be ignored`);
      delete vs.protocol;
    }
    if (vs.ha_suspend) {
      at([...p, 'ha_suspend'], 'warning', `Virtual server FWM ${vs.fwmark}: cannot use ha_suspend with fwmarks - clearing ha_suspend`);
      vs.ha_suspend = false;
    }
  } else if (vs.protocol === undefined) {
    at([...p, 'protocol'], 'warning', 'no protocol set - defaulting to UDP');
  } else if (vs.protocol === 'SCTP') {
    at([...p, 'protocol'], 'error', 'protocol SCTP is not supported by the nftables data plane yet (it balances TCP and UDP); refused');
  }

  if (vs.persistence_granularity !== undefined) {
    const g = vs.persistence_granularity;
    let problem: string | undefined;
    if (family === 6) {
      if (!/^\d+$/.test(g) || Number(g) < 1 || Number(g) > 128) problem = `Invalid IPv6 persistence_granularity specified - ${g}`;
    } else if (isIP(g) !== 4) problem = `Invalid IPv4 persistence_granularity specified - ${g}`;
    else if (!solidNetmask(g)) problem = `IPv4 persistence_granularity netmask is not solid - ${g}`;
    if (problem) {
      at([...p, 'persistence_granularity'], 'warning', `${problem}; ignored`);
      delete vs.persistence_granularity;
    } else vs.persistence_timeout ??= 360; // keepalived: granularity turns persistence on
  }

  if (vs.ip !== undefined && (vs.port === undefined || vs.port === 0)) {
    delete vs.port; // port 0 is no port
    if (vs.persistence_timeout === undefined) {
      at([...p, 'port'], 'warning', 'zero port only valid for persistent services - setting persistence_timeout 360');
      vs.persistence_timeout = 360;
    }
  }

  if (vs.lb_algo === undefined) {
    at([...p, 'lb_algo'], 'warning', `no scheduler set: keepalived's default 'wlc' cannot be expressed in nftables (${WHY_COUNTING}); vigil uses wrr`);
  } else if (COUNTING[vs.lb_algo] !== undefined) {
    at([...p, 'lb_algo'], 'warning', `lb_algo ${vs.lb_algo} (${COUNTING[vs.lb_algo]}) cannot be expressed in nftables: ${WHY_COUNTING}; vigil uses wrr`);
    vs.lb_algo = 'wrr';
  }
  if (vs.sh_port && vs.lb_algo !== 'sh') {
    at([...p, 'sh_port'], 'warning', 'sh-port only applies to sh scheduler - ignoring');
    vs.sh_port = false;
  }

  if (vs.lb_kind === undefined) at([...p, 'lb_kind'], 'warning', 'no forwarding method set, setting default NAT');
  else if (vs.lb_kind === 'TUN') {
    at([...p, 'lb_kind'], 'error', 'lb_kind TUN is refused: nftables has no encapsulation statement (IPIP, GUE and GRE would need tunnel devices and policy routing, which vigil does not manage); use NAT');
  } else if (vs.lb_kind === 'DR') checkDirectRouting(config, vs, p, at, subnets);

  // quorum against what the real servers can bring (keepalived clamps weights to 0..INT32_MAX)
  const total = vs.real_server.reduce((sum, rs) => sum + (rs.weight ?? vs.weight), 0);
  if (total === 0) {
    at([...p, 'quorum'], 'warning', `the real servers' weights add up to 0, so quorum ${vs.quorum} is never reached`);
  } else if (vs.quorum > total) {
    at([...p, 'quorum'], 'warning', `Warning - quorum ${vs.quorum} exceeds total weight of real servers ${total}, reducing quorum to ${total}`);
    vs.quorum = total;
  }
  if (vs.hysteresis >= vs.quorum && total > 0) {
    at([...p, 'hysteresis'], 'warning', `hysteresis ${vs.hysteresis} >= quorum ${vs.quorum}; setting hysteresis to ${vs.quorum - 1}`);
    vs.hysteresis = vs.quorum - 1;
  }
  return true;
}

/** The checker lists whose checkers connect to a port (connect_port, else the real server's). */
const PORTED = ['tcp_check', 'http_get', 'ssl_get', 'dns_check', 'smtp_check', 'udp_check', 'plugin_check'] as const;
const KEYWORD: Record<(typeof PORTED)[number] | 'ping_check', string> = {
  tcp_check: 'TCP_CHECK',
  http_get: 'HTTP_GET',
  ssl_get: 'SSL_GET',
  dns_check: 'DNS_CHECK',
  smtp_check: 'SMTP_CHECK',
  udp_check: 'UDP_CHECK',
  plugin_check: 'PLUGIN_CHECK',
  ping_check: 'PING_CHECK',
};

/** A real server's checkers: a target to connect to, address families, and what keepalived
 * says about a checker's values when its block ends. */
function checkCheckers(config: Config, rs: RealServerConfig, rp: P, family: 4 | 6, at: At): void {
  for (const list of [...PORTED, 'ping_check'] as const) {
    rs[list].forEach((c, k) => {
      const cp = [...rp, list, k];
      const name = KEYWORD[list];
      // a plugin checker may not need a port (it gets 0)
      if (list !== 'ping_check' && list !== 'plugin_check' && c.connect_port === undefined && rs.port === undefined) {
        at(cp, 'error', `${name} of real server ${rs.ip} has no port to connect to: the real server has no port and the check no connect_port (keepalived 2.2.7 runs it against port 0, where it always fails); set connect_port`);
      }
      if (c.connect_ip !== undefined && isIP(c.connect_ip) !== family) at([...cp, 'connect_ip'], 'error', `connect_ip ${c.connect_ip} is not of the real server's address family`);
      if (c.bindto !== undefined && isIP(c.bindto) !== (c.connect_ip !== undefined ? isIP(c.connect_ip) : family)) {
        at([...cp, 'bindto'], 'error', `bindto ${c.bindto} is not of the checked address's family`);
      }
    });
  }
  rs.ping_check.forEach((c, k) => {
    for (const key of ['connect_port', 'bind_port'] as const) {
      if (c[key] !== undefined) at([...rp, 'ping_check', k, key], 'warning', `${key} means nothing to PING_CHECK (ICMP has no ports); ignored`);
    }
  });
  rs.http_get.forEach((c, k) => {
    for (const key of ['verify_tls', 'ca', 'enable_sni'] as const) {
      if (c[key] !== undefined && c[key] !== false) at([...rp, 'http_get', k, key], 'warning', `${key} applies to SSL_GET only; ignored in HTTP_GET`);
    }
  });
  rs.udp_check.forEach((c, k) => {
    const min = c.min_reply_length ?? 0;
    const max = c.max_reply_length ?? 255;
    if (min > max) at([...rp, 'udp_check', k], 'warning', `UDP_CHECK min_reply length ${min} > max_reply_length ${max} - will always fail`);
  });
  rs.file_check.forEach((c, k) => {
    if (config.vrrp_track_file[c.track_file] === undefined) {
      at([...rp, 'file_check', k, 'track_file'], 'error', `track_file ${c.track_file} not found (keepalived 2.2.7 then runs without this FILE_CHECK: "FILE_CHECK has no track_file specified - ignoring"; vigil refuses it)`);
    }
  });
}
