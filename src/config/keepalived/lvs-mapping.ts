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
// - keywords keepalived does not know: an error (keepalived: `Unknown keyword 'x'`);
// - what keepalived checks when a checker block ends (a url with no path, a MISC_CHECK with no
//   misc_path: dropped with its message), and SMTP_CHECK's host blocks, which become checkers
//   of their own; BFD_CHECK is refused (vigil has no BFD).
// Facts: ../shared/docs/LVS.md sections 1-4 and 10.

import { isIP } from 'node:net';
import type { Diagnostic, Path, PositionMap } from '../diagnostics.ts';
import type { Statement } from './parser.ts';
import { DNS_TYPES } from '../../lvs/checks.ts';
import { dnsNameProblem, lbAlgos, parseHex, statusRange } from '../lvs-schema.ts';

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

/** The timing keywords of every checker with attempts (check_api.c
 * install_checker_common_keywords). */
const TIMING_KEYS: Record<string, Kind> = {
  retry: 'int',
  delay_before_retry: 'number',
  warmup: 'number',
  delay_loop: 'number',
};

/** The connection keywords of the connecting checkers (all but MISC_CHECK and FILE_CHECK). */
const CONNECTION_KEYS: Record<string, Kind> = {
  connect_ip: 'string',
  connect_port: 'int',
  bindto: 'string',
  bind_port: 'int',
  connect_timeout: 'number',
};

const LOG_ALL_FAILURES = 'every failure is logged';
const CONNECTION_IGNORED: Record<string, string> = {
  bind_if: 'the check connects from the address the routing table chooses (bindto sets it)',
  fwmark: 'checker packets are not marked',
  log_all_failures: LOG_ALL_FAILURES,
};

/** How one checker keyword reads its block: its plain keywords, those vigil accepts without
 * acting on, and a handler for the rest (true: handled). */
interface CheckerSpec {
  keys: Record<string, Kind>;
  ignored: Record<string, string>;
  /** Connecting checkers take nb_get_retry (HTTP_GET / SSL_GET in keepalived 2.2.7). */
  connecting: boolean;
  /** Has attempts (and so alpha): all but FILE_CHECK. */
  timed: boolean;
  other?: (s: Statement, c: Obj, path: Path, ctx: Ctx) => boolean;
}

const CONNECTING: CheckerSpec = { keys: { ...CONNECTION_KEYS, ...TIMING_KEYS }, ignored: CONNECTION_IGNORED, connecting: true, timed: true };

/** keepalived.conf checker keyword -> its YAML list on real_server and how its block reads.
 * SMTP_CHECK is read by mapSmtpCheck (its host blocks), BFD_CHECK is refused. */
const CHECKERS: Record<string, { list: string; spec: CheckerSpec }> = {
  TCP_CHECK: { list: 'tcp_check', spec: CONNECTING },
  HTTP_GET: { list: 'http_get', spec: { ...CONNECTING, other: httpKeyword } },
  SSL_GET: { list: 'ssl_get', spec: { ...CONNECTING, other: httpKeyword } },
  MISC_CHECK: { list: 'misc_check', spec: { keys: TIMING_KEYS, ignored: { log_all_failures: LOG_ALL_FAILURES }, connecting: false, timed: true, other: miscKeyword } },
  DNS_CHECK: { list: 'dns_check', spec: { ...CONNECTING, other: dnsKeyword } },
  UDP_CHECK: { list: 'udp_check', spec: { ...CONNECTING, other: udpKeyword } },
  PING_CHECK: { list: 'ping_check', spec: CONNECTING },
  FILE_CHECK: { list: 'file_check', spec: { keys: {}, ignored: {}, connecting: false, timed: false, other: fileKeyword } },
  PLUGIN_CHECK: { list: 'plugin_check', spec: { ...CONNECTING, other: pluginKeyword } },
};
const CHECKER_LISTS = [...Object.values(CHECKERS).map((c) => c.list), 'smtp_check'];

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
  const lists: Record<string, Obj[]> = Object.fromEntries(CHECKER_LISTS.map((l) => [l, []]));
  for (const s of st.block ?? []) {
    // keepalived accepts `real_server IP PORT` with no block
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
    const checker = CHECKERS[s.keyword];
    if (checker) {
      const list = lists[checker.list] as Obj[];
      const c = mapChecker(s, [...path, checker.list, list.length], checker.spec, ctx);
      if (c) list.push(c);
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
      case 'SMTP_CHECK':
        mapSmtpCheck(s, path, lists.smtp_check as Obj[], ctx);
        break;
      case 'BFD_CHECK':
        error(ctx, s, fp, 'BFD_CHECK is refused: vigil has no BFD (bidirectional forwarding detection); check the real server with another checker (TCP_CHECK, PING_CHECK), or follow a BFD session on the VRRP side with a track_script or track_file');
        break;
      default:
        error(ctx, s, fp, `unknown keyword '${s.keyword}'`);
    }
  }
  Object.assign(rs, lists);
  return rs;
}

/** One checker block: its keywords onto a YAML checker entry. Undefined when keepalived would
 * drop the checker (it says why; lvs-semantic.ts and the schema check the rest). */
function mapChecker(st: Statement, path: Path, spec: CheckerSpec, ctx: Ctx): Obj | undefined {
  ctx.positions.set(path, st);
  const c: Obj = {};
  for (const s of st.block ?? []) {
    const fp = [...path, s.keyword];
    const kind = spec.keys[s.keyword];
    if (kind) {
      setAt(c, s.keyword, scalar(s, kind, fp, ctx), fp, s, ctx);
      continue;
    }
    const why = spec.ignored[s.keyword];
    if (why !== undefined) {
      warn(ctx, s, fp, `'${s.keyword}' is not supported by vigil: ${why}; ignored`);
      continue;
    }
    if (spec.other?.(s, c, path, ctx)) continue;
    if (s.keyword === 'alpha' && spec.timed) {
      const v = boolArg(s);
      if (v === undefined) warn(ctx, s, fp, `Invalid alpha parameter ${s.args[0]?.text ?? ''}; ignored`);
      else setAt(c, 'alpha', v, fp, s, ctx);
      continue;
    }
    if (s.keyword === 'nb_get_retry' && spec.connecting) {
      if (st.keyword === 'HTTP_GET' || st.keyword === 'SSL_GET') {
        warn(ctx, s, fp, "nb_get_retry is deprecated - please use 'retry'; taken as retry");
        setAt(c, 'retry', toNumber(s, fp, ctx, true), [...path, 'retry'], s, ctx);
      } else {
        // keepalived 1.x's name; 2.2.7 knows it only in HTTP_GET / SSL_GET
        warn(ctx, s, fp, `nb_get_retry is deprecated - please use 'retry' (keepalived 2.2.7 does not accept it in ${st.keyword}: Unknown keyword); taken as retry`);
        if (c.retry === undefined) setAt(c, 'retry', toNumber(s, fp, ctx, true), [...path, 'retry'], s, ctx);
      }
      continue;
    }
    error(ctx, s, fp, `unknown keyword '${s.keyword}'`);
  }
  return finishChecker(st, c, path, ctx);
}

/** What keepalived checks when a checker block ends (its sublevel end handlers). */
function finishChecker(st: Statement, c: Obj, path: Path, ctx: Ctx): Obj | undefined {
  switch (st.keyword) {
    case 'MISC_CHECK':
      if (c.misc_path === undefined) {
        warn(ctx, st, path, 'No script path has been specified for MISC_CHECKER - skipping (this real server has no such check)');
        return undefined;
      }
      break;
    case 'FILE_CHECK':
      if (c.track_file === undefined) {
        warn(ctx, st, path, 'FILE_CHECK has no track_file specified - ignoring (this real server has no such check)');
        return undefined;
      }
      break;
    case 'PLUGIN_CHECK':
      if (c.checker === undefined) {
        error(ctx, st, path, 'PLUGIN_CHECK needs `checker NAME` (the name its plugin registered with ctx.registerChecker)');
        return undefined;
      }
      break;
    case 'HTTP_GET':
    case 'SSL_GET':
      c.url ??= [];
      break;
  }
  return c;
}

/** HTTP_GET / SSL_GET keywords besides the common ones, and vigil's own (verify_tls, ca,
 * max_body_size). */
function httpKeyword(s: Statement, c: Obj, path: Path, ctx: Ctx): boolean {
  const fp = [...path, s.keyword];
  switch (s.keyword) {
    case 'url': {
      const urls = (c.url ??= []) as Obj[];
      const u = mapUrl(s, [...path, 'url', urls.length], ctx);
      if (u) urls.push(u);
      return true;
    }
    case 'virtualhost':
      if (s.args[0] === undefined) warn(ctx, s, fp, 'HTTP_GET virtualhost name missing; ignored');
      else setAt(c, 'virtualhost', s.args[0].text, fp, s, ctx);
      return true;
    case 'http_protocol': {
      const v = s.args[0]?.text;
      if (v === undefined) warn(ctx, s, fp, 'Missing http_protocol version; ignored (1.0)');
      else if (v === '1.0' || v === '1.1' || v === '1.0C' || v === '1.0c') setAt(c, 'http_protocol', v.toUpperCase(), fp, s, ctx);
      else warn(ctx, s, fp, `Invalid http_protocol version ${v}; ignored (1.0)`);
      return true;
    }
    case 'enable_sni':
    case 'fast_recovery':
    case 'verify_tls': {
      const v = boolArg(s);
      if (v === undefined) warn(ctx, s, fp, `Invalid ${s.keyword} parameter ${s.args[0]?.text ?? ''}; ignored`);
      else setAt(c, s.keyword, v, fp, s, ctx);
      return true;
    }
    case 'ca':
      setAt(c, 'ca', scalar(s, 'string', fp, ctx), fp, s, ctx);
      return true;
    case 'max_body_size':
      setAt(c, 'max_body_size', toNumber(s, fp, ctx, true), fp, s, ctx);
      return true;
  }
  return false;
}

const REGEX_KEYS = new Set(['regex', 'regex_no_match', 'regex_options', 'regex_min_offset', 'regex_max_offset', 'regex_stack']);

/** `url { path digest status_code virtualhost }`; keepalived drops a url with no path. */
function mapUrl(st: Statement, path: Path, ctx: Ctx): Obj | undefined {
  ctx.positions.set(path, st);
  const u: Obj = {};
  for (const s of st.block ?? []) {
    const fp = [...path, s.keyword];
    switch (s.keyword) {
      case 'path':
        setAt(u, 'path', scalar(s, 'string', fp, ctx), fp, s, ctx);
        break;
      case 'digest': {
        const d = s.args[0]?.text ?? '';
        if (u.digest !== undefined) warn(ctx, s, fp, `Digest '${d}' is a duplicate; ignored`);
        else if (d.length !== 32) warn(ctx, s, fp, `digest '${d}' character length should be 32 rather than ${d.length}; ignored, as keepalived ignores it: the url is checked without a digest`);
        else if (!/^[0-9a-fA-F]{32}$/.test(d)) {
          // keepalived reads the pairs from the end and names the first bad one it meets
          const bad = [...d].findLastIndex((ch) => !/[0-9a-fA-F]/.test(ch));
          const even = bad - (bad % 2);
          warn(ctx, s, fp, `Unable to interpret hex digit in '${d}' at offset ${even}/${even + 1}; ignored, as keepalived ignores it: the url is checked without a digest`);
        } else setAt(u, 'digest', d.toLowerCase(), fp, s, ctx);
        break;
      }
      case 'status_code': {
        const codes: Array<number | string> = [];
        for (const a of s.args) {
          if (statusRange(a.text) === undefined) warn(ctx, at(s, a.col), fp, `Invalid HTTP_GET status code '${a.text}'; ignored`);
          else codes.push(/^\d+$/.test(a.text) ? Number(a.text) : a.text);
        }
        // keepalived adds each line's codes to the set
        if (codes.length > 0) setAt(u, 'status_code', [...((u.status_code as Array<number | string> | undefined) ?? []), ...codes], fp, s, ctx);
        break;
      }
      case 'virtualhost':
        if (s.args[0] === undefined) warn(ctx, s, fp, 'Missing HTTP_GET virtualhost name; ignored');
        else setAt(u, 'virtualhost', s.args[0].text, fp, s, ctx);
        break;
      default:
        if (REGEX_KEYS.has(s.keyword)) {
          warn(ctx, s, fp, `'${s.keyword}' is not supported by vigil (keepalived 2.2.7 as Debian builds it has no PCRE2 either: Unknown keyword); ignored: the url is checked without it`);
        } else error(ctx, s, fp, `unknown keyword '${s.keyword}'`);
    }
  }
  if (u.path === undefined) {
    warn(ctx, st, path, 'HTTP/SSL_GET checker url has no path - ignoring');
    return undefined;
  }
  return u;
}

function miscKeyword(s: Statement, c: Obj, path: Path, ctx: Ctx): boolean {
  const fp = [...path, s.keyword];
  switch (s.keyword) {
    case 'misc_path': {
      const [cmd, ...extra] = s.args;
      if (cmd === undefined) {
        error(ctx, s, fp, 'misc_path needs a script');
        return true;
      }
      // keepalived runs the first word only (quoted: the whole command line)
      if (extra.length > 0) warn(ctx, s, fp, `words after '${cmd.text}' are ignored, as keepalived ignores them (quote the whole line to pass arguments)`);
      setAt(c, 'misc_path', cmd.text, fp, s, ctx);
      return true;
    }
    case 'misc_timeout': {
      const t = s.args[0]?.text ?? '';
      if (!/^\d+$/.test(t) || Number(t) > 4294) warn(ctx, s, fp, `Invalid misc_timeout value '${t}'; ignored (whole seconds)`);
      else setAt(c, 'misc_timeout', Number(t), fp, s, ctx);
      return true;
    }
    case 'misc_dynamic':
      setAt(c, 'misc_dynamic', true, fp, s, ctx);
      return true;
    case 'user': {
      const [user, group] = s.args;
      if (user === undefined) {
        warn(ctx, s, fp, `No user specified for misc checker script ${String(c.misc_path ?? '')}; ignored`);
        return true;
      }
      setAt(c, 'user', user.text, fp, s, ctx);
      if (group !== undefined) setAt(c, 'group', group.text, [...path, 'group'], s, ctx);
      else delete c.group;
      return true;
    }
  }
  return false;
}

function dnsKeyword(s: Statement, c: Obj, path: Path, ctx: Ctx): boolean {
  const fp = [...path, s.keyword];
  switch (s.keyword) {
    case 'type': {
      const t = s.args[0]?.text ?? '';
      if ((DNS_TYPES as readonly string[]).includes(t.toUpperCase())) setAt(c, 'type', t.toUpperCase(), fp, s, ctx);
      else warn(ctx, s, fp, `Unknown DNS check type ${t} - ignoring`);
      return true;
    }
    case 'name': {
      const n = s.args[0]?.text ?? '';
      const problem = dnsNameProblem(n);
      if (c.name !== undefined) warn(ctx, s, fp, 'DNS_CHECK name already specified - ignoring');
      else if (problem) warn(ctx, s, fp, `${problem} - ignoring`);
      else setAt(c, 'name', n, fp, s, ctx);
      return true;
    }
  }
  return false;
}

function udpKeyword(s: Statement, c: Obj, path: Path, ctx: Ctx): boolean {
  const fp = [...path, s.keyword];
  const hex = s.args.map((a) => a.text).join(' ');
  switch (s.keyword) {
    case 'payload':
      if (s.args.length === 0) warn(ctx, s, fp, 'UDP_CHECK payload requires a payload; ignored');
      else if (parseHex(hex, false) === undefined) warn(ctx, s, fp, 'Invalid hex string for UDP_CHECK payload; ignored');
      else setAt(c, 'payload', hex, fp, s, ctx);
      return true;
    case 'require_reply':
      // keepalived requires a reply even when the pattern is refused
      if (s.args.length === 0) setAt(c, 'require_reply', true, fp, s, ctx);
      else if (parseHex(hex, true) === undefined) {
        warn(ctx, s, fp, 'Invalid hex string for UDP_CHECK reply; any reply passes');
        setAt(c, 'require_reply', true, fp, s, ctx);
      } else setAt(c, 'require_reply', hex, fp, s, ctx);
      return true;
    case 'min_reply_length':
    case 'max_reply_length': {
      const t = s.args[0]?.text ?? '';
      const which = s.keyword === 'min_reply_length' ? 'min' : 'max';
      if (!/^\d+$/.test(t) || Number(t) > 65535) warn(ctx, s, fp, `UDP_CHECK ${which} length ${t} not valid - must be between 0 & 65535; ignored`);
      else setAt(c, s.keyword, Number(t), fp, s, ctx);
      return true;
    }
  }
  return false;
}

function fileKeyword(s: Statement, c: Obj, path: Path, ctx: Ctx): boolean {
  const fp = [...path, s.keyword];
  switch (s.keyword) {
    case 'track_file':
      setAt(c, 'track_file', scalar(s, 'string', fp, ctx), fp, s, ctx);
      return true;
    case 'weight': {
      const [w, opt] = s.args;
      if (w === undefined) {
        warn(ctx, s, fp, 'track file weight missing; ignored');
        return true;
      }
      const n = Number(w.text);
      if (!/^-?\d+$/.test(w.text) || Math.abs(n) > 2147483647) {
        warn(ctx, s, fp, 'weight for track file must be in [-2147483647..2147483647] inclusive. Ignoring...');
        return true;
      }
      if (opt !== undefined && opt.text !== 'reverse' && opt.text !== 'noreverse') {
        warn(ctx, s, fp, `unknown track file weight option ${opt.text} - ignoring`);
        return true;
      }
      setAt(c, 'weight', n, fp, s, ctx);
      if (opt?.text === 'reverse') setAt(c, 'reverse', true, [...path, 'reverse'], s, ctx);
      else delete c.reverse;
      return true;
    }
  }
  return false;
}

/** PLUGIN_CHECK (vigil's own): `checker NAME`, `param KEY VALUE...` (a decimal number becomes
 * a number). */
function pluginKeyword(s: Statement, c: Obj, path: Path, ctx: Ctx): boolean {
  const fp = [...path, s.keyword];
  switch (s.keyword) {
    case 'checker':
      setAt(c, 'checker', scalar(s, 'string', fp, ctx), fp, s, ctx);
      return true;
    case 'param': {
      const [key, ...words] = s.args;
      if (key === undefined || words.length === 0) {
        error(ctx, s, fp, 'param takes a name and a value: param KEY VALUE');
        return true;
      }
      const text = words.map((w) => w.text).join(' ');
      const params = (c.params ??= {}) as Obj;
      if (params[key.text] !== undefined) warn(ctx, s, [...path, 'params', key.text], `param ${key.text} is given twice; the last one counts`);
      params[key.text] = /^-?\d+(\.\d+)?$/.test(text) ? Number(text) : text;
      ctx.positions.set([...path, 'params', key.text], at(s, words[0]?.col ?? key.col));
      return true;
    }
  }
  return false;
}

/** SMTP_CHECK: its deprecated `host { connection options }` blocks each become an SMTP_CHECK of
 * their own, as keepalived makes them separate checkers (check_smtp.c). The block's own
 * connection options make one more checker only when it has some; timing keywords and
 * helo_name, even inside a host block, are the whole checker's. */
function mapSmtpCheck(st: Statement, rsPath: Path, list: Obj[], ctx: Ctx): void {
  const base = list.length;
  const hosts = (st.block ?? []).filter((s) => s.keyword === 'host');
  const spec: CheckerSpec = {
    ...CONNECTING,
    other: (s, o, p, x) => {
      if (s.keyword !== 'helo_name') return false;
      if (s.args[0] === undefined) warn(x, s, [...p, 'helo_name'], 'SMTP_CHECK helo name missing; ignored');
      else setAt(o, 'helo_name', s.args[0].text, [...p, 'helo_name'], s, x);
      return true;
    },
  };
  const main = mapChecker({ ...st, block: (st.block ?? []).filter((s) => s.keyword !== 'host') }, [...rsPath, 'smtp_check', base], spec, ctx);
  if (!main) return;
  if (hosts.length === 0) {
    list.push(main);
    return;
  }
  warn(ctx, hosts[0] as Statement, [...rsPath, 'smtp_check', base], 'The SMTP_CHECK host block is deprecated. Please define additional checkers. (each host is an SMTP_CHECK of its own here)');
  const isConnection = (k: string) => CONNECTION_KEYS[k] !== undefined;
  const split = (o: Obj) => [Object.fromEntries(Object.entries(o).filter(([k]) => isConnection(k))), Object.fromEntries(Object.entries(o).filter(([k]) => !isConnection(k)))] as const;
  const [mainConn, shared] = split(main);
  const entries: Obj[] = Object.keys(mainConn).length > 0 ? [mainConn] : [];
  for (const h of hosts) {
    const own = mapChecker(h, [...rsPath, 'smtp_check', base + entries.length], CONNECTING, ctx);
    if (!own) continue;
    const [conn, timing] = split(own);
    Object.assign(shared, timing);
    entries.push(conn);
  }
  for (const e of entries) list.push({ ...shared, ...e });
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

/** The global `SSL { password ca certificate key }` block (check_parser.c): YAML `ssl`. */
export function mapSsl(st: Statement, out: Obj, ctx: Ctx): void {
  const path = ['ssl'];
  if (out.ssl !== undefined) warn(ctx, st, path, 'SSL context already specified - replacing');
  ctx.positions.set(path, st);
  const ssl: Obj = {};
  for (const s of st.block ?? []) {
    const fp = [...path, s.keyword];
    if (!['password', 'ca', 'certificate', 'key'].includes(s.keyword)) {
      error(ctx, s, fp, `unknown keyword '${s.keyword}'`);
      continue;
    }
    if (s.args[0] === undefined) {
      warn(ctx, s, fp, `SSL ${s.keyword} missing; ignored`);
      continue;
    }
    if (ssl[s.keyword] !== undefined) warn(ctx, s, fp, `SSL ${s.keyword} already specified - replacing`);
    setAt(ssl, s.keyword, s.args[0].text, fp, s, ctx);
  }
  out.ssl = ssl;
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
