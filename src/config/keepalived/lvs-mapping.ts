// keepalived.conf, load balancer part: `virtual_server` (IP PORT, fwmark N, group NAME),
// `virtual_server_group`, `real_server` and the checkers, mapped onto lvs-schema.ts with the
// position of every field. Called from mapping.ts.
//
// What is decided here (the rest is in ../lvs-semantic.ts, so YAML gets the same checks):
// - what depends on the order of the lines, as in keepalived: `sh-port` before `lb_algo sh`,
//   `sorry_server_inhibit` before `sorry_server`, a second `quorum_up` / `notify_up` (ignored);
// - values keepalived skips at parse time with a message (an invalid real or sorry server
//   address, an unknown scheduler or protocol): a warning, and the value is left out;
// - keywords keepalived knows that vigil does not act on: a warning saying why;
// - keywords keepalived does not know: an error (keepalived: `Unknown keyword 'x'`).
// Facts: ../shared/docs/LVS.md sections 1-4 and 10.

import { isIP } from 'node:net';
import type { Diagnostic, Path, PositionMap } from '../diagnostics.ts';
import type { Statement } from './parser.ts';
import { lbAlgos } from '../lvs-schema.ts';

type Obj = Record<string, unknown>;

interface Ctx {
  diagnostics: Diagnostic[];
  positions: PositionMap;
}

type Kind = 'int' | 'number' | 'string' | 'flag';

/** Plain keywords of virtual_server. */
const VS_KEYS: Record<string, Kind> = {
  delay_loop: 'number',
  persistence_granularity: 'string',
  alpha: 'flag',
  omega: 'flag',
  quorum: 'int',
  hysteresis: 'int',
  ha_suspend: 'flag',
  virtualhost: 'string',
  retry: 'int',
  delay_before_retry: 'number',
  connect_timeout: 'number',
  warmup: 'number',
  inhibit_on_failure: 'flag',
  weight: 'int',
};

/** Why a keyword keepalived knows does nothing in vigil. */
const NFT_NO_CONNECTION_STATE = 'nftables chooses a backend with stateless expressions (numgen, jhash) and has no per-server connection counts';
const VS_IGNORED: Record<string, string> = {
  ops: 'one-packet scheduling has no nftables equivalent: conntrack keeps a UDP flow on its first backend',
  'flag-1': 'IPVS scheduler flags mean nothing to the nftables schedulers',
  'flag-2': 'IPVS scheduler flags mean nothing to the nftables schedulers',
  'flag-3': 'IPVS scheduler flags mean nothing to the nftables schedulers',
  'sh-fallback': `the sh fallback to another server needs IPVS's overload state; ${NFT_NO_CONNECTION_STATE}`,
  'mh-port': "vigil's mh hashes the source address only",
  'mh-fallback': `the mh fallback to another server needs IPVS's overload state; ${NFT_NO_CONNECTION_STATE}`,
  hashed: 'it has no effect in keepalived either',
  persistence_engine: 'IPVS persistence engines (sip) have no nftables equivalent',
  snmp_name: 'vigil has no SNMP agent',
  sorry_server_lvs_method: "the sorry server is reached with the virtual server's lb_kind",
};

/** Plain keywords of real_server. */
const RS_KEYS: Record<string, Kind> = {
  weight: 'int',
  retry: 'int',
  delay_before_retry: 'number',
  connect_timeout: 'number',
  delay_loop: 'number',
  warmup: 'number',
  virtualhost: 'string',
};

const RS_IGNORED: Record<string, string> = {
  uthreshold: `connection limits cannot move a connection to another server in nftables (ct count can only cap or drop); ${NFT_NO_CONNECTION_STATE}`,
  lthreshold: `connection limits cannot move a connection to another server in nftables (ct count can only cap or drop); ${NFT_NO_CONNECTION_STATE}`,
  snmp_name: 'vigil has no SNMP agent',
  lvs_method: "every real server is reached with the virtual server's lb_kind",
};

const TCP_CHECK_KEYS: Record<string, Kind> = {
  connect_ip: 'string',
  connect_port: 'int',
  bindto: 'string',
  bind_port: 'int',
  connect_timeout: 'number',
  retry: 'int',
  delay_before_retry: 'number',
  warmup: 'number',
  delay_loop: 'number',
};

const TCP_CHECK_IGNORED: Record<string, string> = {
  bind_if: 'the check connects from the address the routing table chooses (bindto sets it)',
  fwmark: 'checker packets are not marked',
  log_all_failures: 'every failure is logged',
};

/** Checkers vigil parses but does not run yet (their content is skipped). */
export const OTHER_CHECKERS = new Set(['HTTP_GET', 'SSL_GET', 'MISC_CHECK', 'SMTP_CHECK', 'DNS_CHECK', 'UDP_CHECK', 'PING_CHECK', 'FILE_CHECK', 'BFD_CHECK']);

/** `virtual_server IP [PORT] | fwmark N | group NAME { ... }` */
export function mapVirtualServer(st: Statement, out: Obj, ctx: Ctx): void {
  const list = (out.virtual_server ??= []) as Obj[];
  const path: Path = ['virtual_server', list.length];
  const [a0, a1] = st.args;
  const vs: Obj = {};
  if (!a0) return error(ctx, st, ['virtual_server'], 'virtual_server needs an address and port, fwmark N or group NAME');
  if (a0.text === 'fwmark') {
    const mark = a1 ? parseUint(a1.text) : undefined;
    if (mark === undefined) return error(ctx, at(st, a1?.col ?? a0.col), ['virtual_server'], `invalid fwmark '${a1?.text ?? ''}' (0..4294967295)`);
    vs.fwmark = mark;
    ctx.positions.set([...path, 'fwmark'], at(st, a1?.col ?? a0.col));
  } else if (a0.text === 'group') {
    if (!a1) return error(ctx, st, ['virtual_server'], 'virtual_server group needs a group name');
    vs.group = a1.text;
    ctx.positions.set([...path, 'group'], at(st, a1.col));
  } else {
    const port = a1 === undefined ? undefined : parsePort(a1.text);
    if (isIP(a0.text) === 0 || (a1 !== undefined && port === undefined)) {
      return error(ctx, at(st, a0.col), ['virtual_server'], `Invalid virtual server IP address/port ${a0.text}/${a1?.text ?? ''} - skipping (keepalived skips the virtual server; vigil refuses the config)`);
    }
    vs.ip = a0.text;
    ctx.positions.set([...path, 'ip'], at(st, a0.col));
    if (port !== undefined) {
      vs.port = port;
      ctx.positions.set([...path, 'port'], at(st, a1?.col ?? a0.col));
    }
  }
  if (!st.block) return error(ctx, st, ['virtual_server'], 'virtual_server needs a { ... } block');
  ctx.positions.set(path, st);
  list.push(vs);

  const realServers: Obj[] = [];
  for (const s of st.block) {
    const fp = [...path, s.keyword];
    const kind = VS_KEYS[s.keyword];
    if (kind) {
      setAt(vs, s.keyword, scalar(s, kind, fp, ctx), fp, s, ctx);
      continue;
    }
    const why = VS_IGNORED[s.keyword];
    if (why !== undefined) {
      warn(ctx, s, fp, `'${s.keyword}' is not supported by vigil: ${why}; ignored`);
      continue;
    }
    switch (s.keyword) {
      case 'lb_algo':
      case 'lvs_sched': {
        const v = s.args[0]?.text ?? '';
        if ((lbAlgos as readonly string[]).includes(v)) setAt(vs, 'lb_algo', v, [...path, 'lb_algo'], s, ctx);
        else warn(ctx, s, [...path, 'lb_algo'], `Invalid lvs_scheduler '${v}' - ignoring`);
        break;
      }
      case 'lb_kind':
      case 'lvs_method': {
        const v = s.args[0]?.text ?? '';
        // TUN's options (type ipip|gue port N|gre, csum) are not kept: vigil refuses TUN
        if (v === 'NAT' || v === 'DR' || v === 'TUN') setAt(vs, 'lb_kind', v, [...path, 'lb_kind'], s, ctx);
        else warn(ctx, s, [...path, 'lb_kind'], `PARSER : unknown [${v}] routing method for virtual server; ignored`);
        break;
      }
      case 'persistence_timeout': {
        // no value: keepalived's IPVS_SVC_PERSISTENT_TIMEOUT
        const v = s.args[0] === undefined ? 360 : toNumber(s, fp, ctx, true);
        setAt(vs, 'persistence_timeout', v, fp, s, ctx);
        break;
      }
      case 'protocol': {
        const v = (s.args[0]?.text ?? '').toUpperCase();
        if (v === 'TCP' || v === 'UDP' || v === 'SCTP') setAt(vs, 'protocol', v, fp, s, ctx);
        else warn(ctx, s, fp, `Unknown protocol ${s.args[0]?.text ?? ''} - ignoring`);
        break;
      }
      case 'ip_family': {
        const v = s.args[0]?.text ?? '';
        if (v === 'inet' || v === 'inet6') setAt(vs, 'ip_family', v, fp, s, ctx);
        else warn(ctx, s, fp, `unknown address family ${v}; ignored`);
        break;
      }
      case 'smtp_alert': {
        const v = boolArg(s);
        if (v === undefined) warn(ctx, s, fp, `Invalid virtual_server smtp_alert parameter ${s.args[0]?.text ?? ''}; ignored`);
        else setAt(vs, 'smtp_alert', v, fp, s, ctx);
        break;
      }
      case 'sh-port':
        if (vs.lb_algo === 'sh') setAt(vs, 'sh_port', true, [...path, 'sh_port'], s, ctx);
        else warn(ctx, s, [...path, 'sh_port'], 'sh-port only applies to sh scheduler - ignoring (put it after lb_algo sh)');
        break;
      case 'sorry_server': {
        const ss = server(s, 'sorry server', [...path, 'sorry_server'], ctx);
        if (ss) setAt(vs, 'sorry_server', ss, fp, s, ctx);
        break;
      }
      case 'sorry_server_inhibit':
        if (vs.sorry_server) setAt(vs, 'sorry_server_inhibit', true, fp, s, ctx);
        else warn(ctx, s, fp, 'Ignoring sorry_server inhibit used before or without sorry_server');
        break;
      case 'quorum_up':
      case 'quorum_down':
        if (vs[s.keyword] !== undefined) warn(ctx, s, fp, `${s.keyword} script already specified - ignoring ${s.args[0]?.text ?? ''}`);
        else setAt(vs, s.keyword, notify(s, fp, ctx), fp, s, ctx);
        break;
      case 'real_server': {
        const rs = mapRealServer(s, [...path, 'real_server', realServers.length], ctx);
        if (rs) realServers.push(rs);
        break;
      }
      default:
        error(ctx, s, fp, `unknown keyword '${s.keyword}'`);
    }
  }
  vs.real_server = realServers;
}

function mapRealServer(st: Statement, path: Path, ctx: Ctx): Obj | undefined {
  const rs = server(st, 'real server', path, ctx);
  if (!rs) return undefined;
  ctx.positions.set(path, st);
  if (!st.block) {
    // keepalived accepts `real_server IP PORT` with no block
    return { ...rs, tcp_check: [], other_checks: [] };
  }
  const tcp: Obj[] = [];
  const other: Obj[] = [];
  for (const s of st.block) {
    const fp = [...path, s.keyword];
    const kind = RS_KEYS[s.keyword];
    if (kind) {
      setAt(rs, s.keyword, scalar(s, kind, fp, ctx), fp, s, ctx);
      continue;
    }
    const why = RS_IGNORED[s.keyword];
    if (why !== undefined) {
      warn(ctx, s, fp, `'${s.keyword}' is not supported by vigil: ${why}; ignored`);
      continue;
    }
    if (OTHER_CHECKERS.has(s.keyword)) {
      // parsed as a block, its content skipped; lvs-semantic.ts reports it
      const p = [...path, 'other_checks', other.length];
      ctx.positions.set(p, s);
      other.push({ type: s.keyword });
      continue;
    }
    switch (s.keyword) {
      case 'inhibit_on_failure':
      case 'alpha': {
        const v = boolArg(s);
        if (v === undefined) warn(ctx, s, fp, `Invalid ${s.keyword} parameter ${s.args[0]?.text ?? ''}; ignored`);
        else setAt(rs, s.keyword, v, fp, s, ctx);
        break;
      }
      case 'smtp_alert': {
        const v = boolArg(s);
        if (v === undefined) warn(ctx, s, fp, `Invalid real_server smtp_alert parameter ${s.args[0]?.text ?? ''}; ignored`);
        else setAt(rs, 'smtp_alert', v, fp, s, ctx);
        break;
      }
      case 'notify_up':
      case 'notify_down':
        if (rs[s.keyword] !== undefined) warn(ctx, s, fp, `${s.keyword} script already specified - ignoring ${s.args[0]?.text ?? ''}`);
        else setAt(rs, s.keyword, notify(s, fp, ctx), fp, s, ctx);
        break;
      case 'TCP_CHECK':
        tcp.push(mapTcpCheck(s, [...path, 'tcp_check', tcp.length], ctx));
        break;
      default:
        error(ctx, s, fp, `unknown keyword '${s.keyword}'`);
    }
  }
  rs.tcp_check = tcp;
  rs.other_checks = other;
  return rs;
}

function mapTcpCheck(st: Statement, path: Path, ctx: Ctx): Obj {
  ctx.positions.set(path, st);
  const c: Obj = {};
  for (const s of st.block ?? []) {
    const fp = [...path, s.keyword];
    const kind = TCP_CHECK_KEYS[s.keyword];
    if (kind) {
      setAt(c, s.keyword, scalar(s, kind, fp, ctx), fp, s, ctx);
      continue;
    }
    const why = TCP_CHECK_IGNORED[s.keyword];
    if (why !== undefined) {
      warn(ctx, s, fp, `'${s.keyword}' is not supported by vigil: ${why}; ignored`);
      continue;
    }
    switch (s.keyword) {
      case 'nb_get_retry':
        // keepalived 1.x's name; 2.2.7 knows it only in HTTP_GET / SSL_GET
        warn(ctx, s, fp, "nb_get_retry is deprecated - please use 'retry' (keepalived 2.2.7 does not accept it in TCP_CHECK: Unknown keyword); taken as retry");
        if (c.retry === undefined) setAt(c, 'retry', toNumber(s, fp, ctx, true), [...path, 'retry'], s, ctx);
        break;
      case 'alpha': {
        const v = boolArg(s);
        if (v === undefined) warn(ctx, s, fp, `Invalid alpha parameter ${s.args[0]?.text ?? ''}; ignored`);
        else setAt(c, 'alpha', v, fp, s, ctx);
        break;
      }
      default:
        error(ctx, s, fp, `unknown keyword '${s.keyword}'`);
    }
  }
  return c;
}

/** `virtual_server_group NAME { IP [PORT] | RANGE [PORT] | CIDR [PORT] | fwmark N [inet|inet6] }`;
 * the forms are checked in lvs-semantic.ts. */
export function mapVirtualServerGroup(st: Statement, out: Obj, ctx: Ctx): void {
  const groups = (out.virtual_server_group ??= {}) as Obj;
  const name = st.args[0]?.text;
  if (!name) return error(ctx, st, ['virtual_server_group'], 'virtual_server_group needs a name');
  const path = ['virtual_server_group', name];
  if (groups[name] !== undefined) return error(ctx, st, path, `virtual_server_group ${name} is defined twice`);
  if (!st.block) return error(ctx, st, path, `virtual_server_group ${name} needs a { ... } block`);
  ctx.positions.set(path, st);
  const entries: Obj[] = [];
  for (const s of st.block) {
    const ep = [...path, entries.length];
    if (s.keyword === 'fwmark') {
      const mark = s.args[0] ? parseUint(s.args[0].text) : undefined;
      if (mark === undefined) {
        warn(ctx, s, ep, `invalid fwmark '${s.args[0]?.text ?? ''}' - skipping`);
        continue;
      }
      const fam = s.args[1]?.text;
      const e: Obj = { fwmark: mark };
      if (fam === 'inet' || fam === 'inet6') e.family = fam;
      else if (fam !== undefined) warn(ctx, s, ep, `(${name}): fwmark '${mark}' family ${fam} unknown - ignoring`);
      ctx.positions.set(ep, s);
      entries.push(e);
      continue;
    }
    const portText = s.args[0]?.text;
    const port = portText === undefined ? undefined : parsePort(portText);
    if (portText !== undefined && port === undefined) {
      warn(ctx, s, ep, `Invalid virtual server group IP address ${s.keyword} /port/${portText} - skipping`);
      continue;
    }
    const e: Obj = { address: s.keyword };
    // keepalived: port 0 counts as no port
    if (port !== undefined && port !== 0) e.port = port;
    ctx.positions.set(ep, s);
    entries.push(e);
  }
  groups[name] = entries;
}

/** `real_server` / `sorry_server` `IP [PORT]`: keepalived skips a bad one with a message. */
function server(s: Statement, what: string, path: Path, ctx: Ctx): Obj | undefined {
  const [ip, portArg] = s.args;
  const port = portArg === undefined ? undefined : parsePort(portArg.text);
  if (!ip || isIP(ip.text) === 0 || (portArg !== undefined && port === undefined)) {
    const addr = what === 'sorry server' ? `IP address ${ip?.text ?? ''}` : `ip address/port ${ip?.text ?? ''}/${portArg?.text ?? ''}`;
    warn(ctx, s, path, `Invalid ${what} ${addr} - skipping`);
    return undefined;
  }
  const o: Obj = { ip: ip.text };
  ctx.positions.set([...path, 'ip'], at(s, ip.col));
  if (port !== undefined) {
    o.port = port;
    ctx.positions.set([...path, 'port'], at(s, portArg?.col ?? ip.col));
  }
  return o;
}

/** `script [user [group]]`, as the VRRP notify scripts (mapping.ts). */
function notify(s: Statement, path: Path, ctx: Ctx): unknown {
  const [script, user, group, ...extra] = s.args.map((a) => a.text);
  if (script === undefined) {
    error(ctx, s, path, `${s.keyword} needs a script`);
    return undefined;
  }
  if (extra.length > 0) warn(ctx, s, path, `words after '${script} ${user} ${group}' are ignored (quote the whole line to pass arguments)`);
  if (user === undefined) return script;
  return group === undefined ? { script, user } : { script, user, group };
}

/** keepalived's [<BOOL>]: no value means true; undefined for a value it does not know. */
function boolArg(s: Statement): boolean | undefined {
  const v = s.args[0]?.text.toLowerCase();
  if (v === undefined || ['true', 'on', 'yes'].includes(v)) return true;
  if (['false', 'off', 'no'].includes(v)) return false;
  return undefined;
}

function scalar(s: Statement, kind: Kind, path: Path, ctx: Ctx): unknown {
  switch (kind) {
    case 'flag':
      return true;
    case 'string':
      if (s.args[0] === undefined) error(ctx, s, path, `${s.keyword} needs a value`);
      return s.args[0]?.text;
    case 'int':
      return toNumber(s, path, ctx, true);
    case 'number':
      return toNumber(s, path, ctx, false);
  }
}

function toNumber(s: Statement, path: Path, ctx: Ctx, integer: boolean): number | undefined {
  const text = s.args[0]?.text;
  const n = Number(text);
  if (text === undefined || text === '' || Number.isNaN(n) || (integer && !Number.isInteger(n))) {
    error(ctx, s, path, `expected ${integer ? 'an integer' : 'a number'}, got '${text ?? ''}'`);
    return undefined;
  }
  return n;
}

function parsePort(text: string): number | undefined {
  if (!/^\d+$/.test(text)) return undefined;
  const n = Number(text);
  return n <= 65535 ? n : undefined;
}

function parseUint(text: string): number | undefined {
  if (!/^\d+$/.test(text)) return undefined;
  const n = Number(text);
  return n <= 4294967295 ? n : undefined;
}

function at(s: Statement, col: number): Statement {
  return { ...s, col };
}

function setAt(o: Obj, key: string, value: unknown, path: Path, s: Statement, ctx: Ctx): void {
  if (value === undefined) return;
  o[key] = value;
  ctx.positions.set(path, s);
}

function warn(ctx: Ctx, s: Statement, path: Path, message: string): void {
  ctx.diagnostics.push({ file: s.file, line: s.line, col: s.col, severity: 'warning', field: path.join('.'), message });
}

function error(ctx: Ctx, s: Statement, path: Path, message: string): void {
  ctx.diagnostics.push({ file: s.file, line: s.line, col: s.col, severity: 'error', field: path.join('.'), message });
}
