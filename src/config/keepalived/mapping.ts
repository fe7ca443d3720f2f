// keepalived.conf, third pass: the statement tree mapped onto vigil's config shape (the input
// of schema.ts), with the position of every field kept for error messages.
//
// Severity follows keepalived: a keyword keepalived knows but vigil does not implement yet is a
// warning (and the rest loads); a keyword keepalived itself does not know is an error; a value
// keepalived would skip (an invalid address in a list) is a warning and is skipped.

import { isIP } from 'node:net';
import type { Diagnostic, Path, PositionMap } from '../diagnostics.ts';
import { mapSsl, mapVirtualServer, mapVirtualServerGroup } from './lvs-mapping.ts';
import type { Statement } from './parser.ts';

type Obj = Record<string, unknown>;

interface Ctx {
  diagnostics: Diagnostic[];
  positions: PositionMap;
}

/** Top-level sections keepalived knows that belong to its other subsystems or that vigil does
 * not implement yet. */
const UNSUPPORTED_TOP = new Set([
  'static_ipaddress',
  'static_routes',
  'static_rules',
  'linkbeat_use_polling',
  'net_namespace',
  'net_namespace_ipvs',
  'instance',
  'use_pid_dir',
  'bfd_instance',
  'garp_group',
  'track_group',
  'vrrp_gna_interval',
  'notification_email',
]);

/** global_defs keywords keepalived knows and vigil accepts without acting on them. */
const GLOBAL_UNSUPPORTED = new Set([
  'checker_log_all_failures',
  'lvs_timeouts',
  'lvs_flush',
  'lvs_flush_onstop',
  'lvs_sync_daemon',
  'dynamic_interfaces',
  'vrrp_check_unicast_src',
  'vrrp_skip_check_adv_addr',
  'vrrp_priority',
  'checker_priority',
  'bfd_priority',
  'vrrp_no_swap',
  'checker_no_swap',
  'vrrp_rt_priority',
  'checker_rt_priority',
  'snmp_socket',
  'enable_traps',
  'enable_snmp_vrrp',
  'enable_snmp_checker',
  'enable_snmp_rfc',
  'enable_dbus',
  'vrrp_netlink_cmd_rcv_bufs',
  'vrrp_netlink_monitor_rcv_bufs',
  'process_names',
  'vrrp_startup_delay',
  'vrrp_log_unknown_vrids',
  'vrrp_min_garp',
  'vrrp_garp_lower_prio_delay',
  'vrrp_garp_lower_prio_repeat',
  'vrrp_garp_master_refresh_repeat',
  'default_interface',
  'router_id_random',
  'script_user_random',
  'instance',
  'umask',
  'vrrp_iptables',
  'vrrp_ipsets',
  'nftables_priority',
  'nftables_counters',
  'nftables_ifindex',
]);

/** Keywords keepalived accepts that change nothing in vigil, with the reason (said by -t). */
const NO_EFFECT: Record<string, string> = {
  vrrp_skip_check_adv_addr: "vigil never drops an advert whose address list differs from its own (it counts them: vigil status), so there is no check to skip",
  skip_check_adv_addr: "vigil never drops an advert whose address list differs from its own (it counts them: vigil status), so there is no check to skip",
  debug: 'keepalived 2.2.7 documents it as "Debug level, not implemented yet"',
};

const INSTANCE_UNSUPPORTED = new Set([
  'lvs_sync_daemon_interface',
  'kernel_rx_buf_size',
  'debug',
  'strict_mode',
  'skip_check_adv_addr',
  'track_bfd',
  'native_ipv6',
  'unicast_ttl',
  'check_unicast_src',
  'notify_priority_changes',
  'promote_secondaries',
  'linkbeat_use_polling',
  'use_ipvlan',
  'down_timer_adverts',
  'unicast_fault_no_peer',
  'notify_deleted',
  'no_accept_mode',
  'send_notify_fifo',
  'ipsets',
  'iptables',
]);

/** `script`: keepalived runs the first word only (quote it to pass arguments); `notify`: the
 * first word is the command line, the words after it `user [group]`. */
type Kind = 'int' | 'number' | 'string' | 'flag' | 'bool' | 'words' | 'version' | 'script' | 'notify';

const GLOBAL_KEYS: Record<string, Kind> = {
  router_id: 'string',
  vrrp_mcast_group4: 'string',
  vrrp_mcast_group6: 'string',
  vrrp_version: 'version',
  vrrp_strict: 'flag',
  nftables: 'string',
  vrrp_garp_master_delay: 'number',
  vrrp_garp_master_repeat: 'int',
  vrrp_garp_master_refresh: 'number',
  vrrp_garp_interval: 'number',
  vrrp_gna_interval: 'number',
  vrrp_lower_prio_no_advert: 'bool',
  vrrp_garp_lower_prio_delay: 'number',
  vrrp_garp_lower_prio_repeat: 'int',
  vrrp_higher_prio_send_advert: 'bool',
  script_user: 'words',
  enable_script_security: 'flag',
  notify_fifo: 'string',
  notify_fifo_script: 'words',
  vrrp_notify_fifo: 'string',
  vrrp_notify_fifo_script: 'words',
  lvs_notify_fifo: 'string',
  lvs_notify_fifo_script: 'words',
  max_auto_priority: 'int',
  plugins_dir: 'string',
  allow_unsafe_plugins: 'flag',
  // e-mail alerts (the smtp-alert plugin); notification_email and smtp_server: mapSmtp
  notification_email_from: 'string',
  smtp_helo_name: 'string',
  smtp_connect_timeout: 'int',
  smtp_alert: 'bool',
  smtp_alert_vrrp: 'bool',
  smtp_alert_checker: 'bool',
  no_email_faults: 'flag',
};

/** Notify scripts, the same keywords in instances and sync groups. */
const NOTIFY_KEYS: Record<string, Kind> = {
  notify_master: 'notify',
  notify_backup: 'notify',
  notify_fault: 'notify',
  notify_stop: 'notify',
  notify: 'notify',
  notify_master_rx_lower_pri: 'notify',
  smtp_alert: 'bool',
};

const INSTANCE_KEYS: Record<string, Kind> = {
  ...NOTIFY_KEYS,
  state: 'string',
  interface: 'string',
  virtual_router_id: 'int',
  priority: 'int',
  advert_int: 'number',
  version: 'version',
  nopreempt: 'flag',
  preempt_delay: 'number',
  accept: 'flag',
  unicast_src_ip: 'string',
  mcast_src_ip: 'string',
  dont_track_primary: 'flag',
  garp_master_delay: 'number',
  garp_master_repeat: 'int',
  garp_master_refresh: 'number',
  garp_master_refresh_repeat: 'int',
  garp_lower_prio_delay: 'number',
  garp_lower_prio_repeat: 'int',
  lower_prio_no_advert: 'bool',
  higher_prio_send_advert: 'bool',
  old_unicast_checksum: 'flag',
};

const SCRIPT_KEYS: Record<string, Kind> = {
  script: 'script',
  interval: 'number',
  timeout: 'number',
  rise: 'int',
  fall: 'int',
  init_fail: 'flag',
};

const SYNC_KEYS: Record<string, Kind> = NOTIFY_KEYS;
const SYNC_UNSUPPORTED = new Set(['global_tracking', 'sync_group_tracking_weight']);

export function mapKeepalived(statements: Statement[], ctx: Ctx): Obj {
  const out: Obj = {
    global_defs: {},
    vrrp_script: {},
    vrrp_track_file: {},
    vrrp_track_process: {},
    vrrp_instance: {},
    vrrp_sync_group: {},
  };
  for (const st of statements) {
    switch (st.keyword) {
      case 'global_defs':
        mapBlock(st, ['global_defs'], GLOBAL_KEYS, GLOBAL_UNSUPPORTED, out.global_defs as Obj, ctx, (s) => mapPluginUser(s, out.global_defs as Obj, ctx) || mapSmtp(s, out.global_defs as Obj, ctx));
        break;
      case 'vrrp_instance':
        named(st, 'vrrp_instance', out, ctx, (o, path) => mapInstance(st, path, o, ctx));
        break;
      case 'vrrp_script':
        named(st, 'vrrp_script', out, ctx, (o, path) =>
          mapBlock(st, path, SCRIPT_KEYS, new Set(), o, ctx, (s) => {
            if (s.keyword === 'weight') {
              setAt(o, 'weight', toNumber(s, 0, path, ctx, true), [...path, 'weight'], s, ctx);
              if (s.args[1]?.text === 'reverse') o.weight_reverse = true;
              return true;
            }
            if (s.keyword === 'user') {
              setAt(o, 'user', s.args[0]?.text, [...path, 'user'], s, ctx);
              if (s.args[1]) o.group = s.args[1].text;
              return true;
            }
            return false;
          }),
        );
        break;
      case 'track_file': // keepalived 2.x's name, for VRRP and FILE_CHECK alike
      case 'vrrp_track_file':
        named(st, 'vrrp_track_file', out, ctx, (o, path) =>
          mapBlock(st, path, { file: 'words' }, new Set(), o, ctx, (s) => {
            if (s.keyword === 'weight') {
              setAt(o, 'weight', toNumber(s, 0, path, ctx, true), [...path, 'weight'], s, ctx);
              if (s.args[1]?.text === 'reverse') o.weight_reverse = true;
              return true;
            }
            if (s.keyword === 'init_file') {
              o.init_file = s.args[0] ? toNumber(s, 0, path, ctx, true) : true;
              return true;
            }
            return false;
          }),
        );
        break;
      case 'vrrp_track_process':
        named(st, 'vrrp_track_process', out, ctx, (o, path) => mapTrackProcess(st, path, o, ctx));
        break;
      case 'virtual_server':
        mapVirtualServer(st, out, ctx);
        break;
      case 'virtual_server_group':
        mapVirtualServerGroup(st, out, ctx);
        break;
      case 'SSL':
        mapSsl(st, out, ctx);
        break;
      case 'vrrp_sync_group':
        named(st, 'vrrp_sync_group', out, ctx, (o, path) =>
          mapBlock(st, path, SYNC_KEYS, SYNC_UNSUPPORTED, o, ctx, (s) => {
            if (s.keyword === 'group') {
              if (o.group !== undefined) {
                // keepalived 2.2.7 keeps the first list
                warn(ctx, s, [...path, 'group'], `Group list already specified for sync group ${String(path[1])}; this one is ignored, as keepalived 2.2.7 ignores it (list every member in one group { })`);
                return true;
              }
              if (!blockOk(s, [...path, 'group'], ctx)) return true;
              o.group = (s.block ?? []).flatMap((x) => [x.keyword, ...x.args.map((a) => a.text)]);
              ctx.positions.set([...path, 'group'], s);
              return true;
            }
            if (s.keyword === 'track_script' || s.keyword === 'track_interface') {
              if (blockOk(s, [...path, s.keyword], ctx)) o[s.keyword] = trackedList(s, [...path, s.keyword], ctx);
              return true;
            }
            if (!SYNC_KEYS[s.keyword] && !SYNC_UNSUPPORTED.has(s.keyword)) {
              // keepalived 1.x listed members bare; keepalived 2.2.7 reports "Unknown keyword" and
              // ignores the line, and a group left without a group { } block is removed ("Sync
              // group G has no virtual router(s). removing"): its instances no longer move together
              const hasList = (st.block ?? []).some((x) => x.keyword === 'group');
              warn(
                ctx,
                s,
                [...path, s.keyword],
                `unknown keyword '${s.keyword}': members belong in group { ... }; ignored, as keepalived 2.2.7 ignores it${hasList ? '' : ' (with no group { } block the sync group is removed: its instances do not move together)'}`,
              );
              return true;
            }
            return false;
          }),
        );
        break;
      default:
        if (UNSUPPORTED_TOP.has(st.keyword)) {
          warn(ctx, st, [st.keyword], `'${st.keyword}' is a keepalived keyword vigil does not support yet; ignored`);
        } else {
          error(ctx, st, [st.keyword], `unknown keyword '${st.keyword}'`);
        }
    }
  }
  dropUnusable(out, ctx);
  checkGarpIntervals(out.global_defs as Obj, ctx);
  return out;
}

/** keepalived 2.2.7 reads vrrp_garp_interval / vrrp_gna_interval as seconds in
 * [0.000001, 4294.967295]; anything else (0 included) is "invalid" and the line is ignored,
 * which leaves the default: no delay between announcements. */
function checkGarpIntervals(globals: Obj, ctx: Ctx): void {
  for (const key of ['vrrp_garp_interval', 'vrrp_gna_interval']) {
    const v = globals[key];
    if (typeof v !== 'number' || (v >= 0.000001 && v <= 4294.967295)) continue;
    const path = ['global_defs', key];
    const why = v < 0 ? `negative number '${v}'` : `number '${v}' outside range [0.000001, 4294.967295]`;
    ctx.diagnostics.push({ ...ctx.positions.get(path), severity: 'warning', field: path.join('.'), message: `${key} '${v}' is invalid (${why}); ignored, as keepalived ignores it: no delay between announcements` });
    delete globals[key];
  }
}

/** What keepalived disables with a warning rather than refusing the config: a vrrp_script
 * without a script (e.g. its only `script` line was an @id line for another host), the
 * track_script entries that name it, and a sync group without members. */
function dropUnusable(out: Obj, ctx: Ctx): void {
  const scripts = out.vrrp_script as Record<string, Obj>;
  const disabled = new Set<string>();
  for (const [name, sc] of Object.entries(scripts)) {
    if (sc.script === undefined) {
      const path = ['vrrp_script', name];
      ctx.diagnostics.push({ ...ctx.positions.get(path), severity: 'warning', field: path.join('.'), message: 'no script set; the script is disabled' });
      disabled.add(name);
      delete scripts[name];
    }
  }
  for (const [name, inst] of Object.entries(out.vrrp_instance as Record<string, Obj>)) {
    const tracked = inst.track_script as Obj[] | undefined;
    if (!tracked) continue;
    inst.track_script = tracked.filter((t, i) => {
      if (!disabled.has(t.name as string)) return true;
      const path = ['vrrp_instance', name, 'track_script', i];
      ctx.diagnostics.push({ ...ctx.positions.get(path), severity: 'warning', field: path.join('.'), message: `vrrp_script '${String(t.name)}' is disabled; not tracked` });
      return false;
    });
  }
  const groups = out.vrrp_sync_group as Record<string, Obj>;
  for (const [name, g] of Object.entries(groups)) {
    if (g.group === undefined) {
      const path = ['vrrp_sync_group', name];
      ctx.diagnostics.push({ ...ctx.positions.get(path), severity: 'warning', field: path.join('.'), message: `Sync group ${name} has no virtual router(s). removing (keepalived's words): its instances run on their own` });
      delete groups[name];
    }
  }
}

function named(st: Statement, section: string, out: Obj, ctx: Ctx, fill: (o: Obj, path: Path) => void): void {
  const name = st.args[0]?.text;
  if (!name) return error(ctx, st, [section], `${section} needs a name`);
  const table = out[section] as Obj;
  const path = [section, name];
  if (table[name] !== undefined) return error(ctx, st, path, `${section} ${name} is defined twice`);
  if (!st.block) return error(ctx, st, path, `${section} ${name} needs a { ... } block`);
  const o: Obj = {};
  table[name] = o;
  ctx.positions.set(path, st);
  fill(o, path);
}

function mapBlock(
  st: Statement,
  path: Path,
  keys: Record<string, Kind>,
  unsupported: Set<string>,
  o: Obj,
  ctx: Ctx,
  special?: (s: Statement) => boolean,
): void {
  for (const s of st.block ?? []) {
    if (special?.(s)) continue;
    const kind = keys[s.keyword];
    const fieldPath = [...path, s.keyword];
    if (kind) {
      setAt(o, s.keyword, scalar(s, kind, path, ctx), fieldPath, s, ctx);
    } else if (unsupported.has(s.keyword)) {
      const reason = NO_EFFECT[s.keyword];
      warn(ctx, s, fieldPath, reason ? `'${s.keyword}' accepted, no effect: ${reason}` : `'${s.keyword}' is not supported by vigil yet; ignored`);
    } else {
      error(ctx, s, fieldPath, `unknown keyword '${s.keyword}'`);
    }
  }
}

/** vigil's `plugin_user PLUGIN USER [GROUP]`: that user plugin runs in a process of its own as
 * USER (`*` for every user plugin). */
function mapPluginUser(s: Statement, globals: Obj, ctx: Ctx): boolean {
  if (s.keyword !== 'plugin_user') return false;
  const [plugin, ...who] = s.args.map((a) => a.text);
  if (!plugin || who.length === 0 || who.length > 2) {
    error(ctx, s, ['global_defs', 'plugin_user'], 'plugin_user takes a plugin name (or *), a user and optionally a group');
    return true;
  }
  const users = (globals.plugin_user ??= {}) as Obj;
  setAt(users, plugin, who.join(' '), ['global_defs', 'plugin_user', plugin], s, ctx);
  return true;
}

/** `notification_email { ADDR ... }` (every word of the block is an address, as keepalived reads
 * it) and `smtp_server ADDR [PORT]`. */
function mapSmtp(s: Statement, globals: Obj, ctx: Ctx): boolean {
  const path = ['global_defs', s.keyword];
  if (s.keyword === 'notification_email') {
    const addrs = (s.block ?? []).flatMap((x) => [x.keyword, ...x.args.map((a) => a.text)]);
    if (addrs.length === 0) warn(ctx, s, path, 'Warning - empty notification_email block');
    // keepalived adds to the list when the block is given twice
    const list = ((globals.notification_email as string[] | undefined) ?? []).concat(addrs);
    setAt(globals, 'notification_email', list, path, s, ctx);
    return true;
  }
  if (s.keyword === 'notification_email_from' && s.args.length > 1) {
    warn(ctx, s, path, `emailfrom - ignoring extra entries '${s.args[1]?.text ?? ''}' ...`);
    return false;
  }
  if (s.keyword === 'smtp_server') {
    const [host, port] = s.args.map((a) => a.text);
    if (!host || (port !== undefined && !(/^\d+$/.test(port) && Number(port) >= 1 && Number(port) <= 65535))) {
      // keepalived reports it and runs without a server (no mail)
      warn(ctx, s, path, `Invalid smtp server ${host ?? ''} ${port ?? '25'}; no e-mail alerts`);
      return true;
    }
    setAt(globals, 'smtp_server', port === undefined ? host : `${host} ${port}`, path, s, ctx);
    return true;
  }
  if (s.keyword === 'smtp_connect_timeout' && s.args[0]?.text === '0') {
    warn(ctx, s, path, 'smtp_conect_timeout must be greater than 0, setting to 1');
    setAt(globals, 'smtp_connect_timeout', 1, path, s, ctx);
    return true;
  }
  return false;
}

function mapInstance(st: Statement, path: Path, o: Obj, ctx: Ctx): void {
  mapBlock(st, path, INSTANCE_KEYS, INSTANCE_UNSUPPORTED, o, ctx, (s) => {
    const fieldPath = [...path, s.keyword];
    if (INSTANCE_BLOCKS.has(s.keyword) && !blockOk(s, fieldPath, ctx)) return true;
    switch (s.keyword) {
      case 'preempt':
        o.nopreempt = false;
        return true;
      case 'no_accept':
        o.accept = false;
        return true;
      case 'state': {
        const v = s.args[0]?.text.toUpperCase();
        if (v === 'EQUAL') {
          warn(ctx, s, fieldPath, "state EQUAL is not supported; treated as BACKUP");
          o.state = 'BACKUP';
        } else setAt(o, 'state', v, fieldPath, s, ctx);
        return true;
      }
      case 'authentication': {
        const auth: Obj = {};
        for (const a of s.block ?? []) {
          if (a.keyword === 'auth_type' || a.keyword === 'auth_pass') {
            setAt(auth, a.keyword, a.args[0]?.text, [...fieldPath, a.keyword], a, ctx);
          } else error(ctx, a, [...fieldPath, a.keyword], `unknown keyword '${a.keyword}'`);
        }
        if (typeof auth.auth_pass === 'string' && Buffer.byteLength(auth.auth_pass) > 8) {
          warn(ctx, s, [...fieldPath, 'auth_pass'], 'password longer than 8 bytes is truncated to 8, as keepalived does');
          auth.auth_pass = Buffer.from(auth.auth_pass).subarray(0, 8).toString();
        }
        o.authentication = auth;
        ctx.positions.set(fieldPath, s);
        return true;
      }
      case 'unicast_peer':
        o.unicast_peer = addressList(s, fieldPath, ctx);
        return true;
      case 'virtual_ipaddress':
      case 'virtual_ipaddress_excluded':
        o[s.keyword] = vipList(s, fieldPath, ctx);
        return true;
      case 'virtual_routes':
      case 'virtual_rules':
        o[s.keyword] = (s.block ?? []).map((r, i) => {
          ctx.positions.set([...fieldPath, i], r);
          return [r.keyword, ...r.args.map((a) => a.text)].join(' ');
        });
        ctx.positions.set(fieldPath, s);
        return true;
      case 'track_interface':
      case 'track_script':
      case 'track_file':
      case 'track_process': {
        // a second block adds to the first, as in keepalived
        const before = (o[s.keyword] as Obj[] | undefined) ?? [];
        o[s.keyword] = [...before, ...trackedList(s, fieldPath, ctx, before.length)];
        return true;
      }
      case 'use_vmac':
        o.use_vmac = s.args[0]?.text ?? true;
        return true;
      case 'vmac_xmit_base':
        o.vmac_xmit_base = true;
        return true;
      default:
        return false;
    }
  });
}

/** vrrp_track_process: `process NAME [PARAM ...]` (a quoted word is one word), param_match,
 * weight N [reverse], quorum, quorum_max, fork_delay / terminate_delay / delay, full_command. */
function mapTrackProcess(st: Statement, path: Path, o: Obj, ctx: Ctx): void {
  mapBlock(st, path, { quorum: 'int', quorum_max: 'int', fork_delay: 'number', terminate_delay: 'number', full_command: 'flag' }, new Set(), o, ctx, (s) => {
    switch (s.keyword) {
      case 'process': {
        const [cmd, ...params] = s.args.map((a) => a.text);
        setAt(o, 'process', cmd, [...path, 'process'], s, ctx);
        if (params.length > 0) o.params = params;
        return true;
      }
      case 'param_match': {
        const v = s.args[0]?.text;
        if (v !== undefined && v !== 'initial' && v !== 'partial') error(ctx, s, [...path, 'param_match'], `expected initial or partial, got '${v}'`);
        else o.param_match = v ?? 'exact';
        return true;
      }
      case 'weight':
        setAt(o, 'weight', toNumber(s, 0, path, ctx, true), [...path, 'weight'], s, ctx);
        if (s.args[1]?.text === 'reverse') o.weight_reverse = true;
        return true;
      case 'delay': {
        const v = toNumber(s, 0, path, ctx, false);
        o.fork_delay = v;
        o.terminate_delay = v;
        return true;
      }
      default:
        return false;
    }
  });
}

/** Instance keywords whose entries are in a { } block. */
const INSTANCE_BLOCKS = new Set([
  'authentication',
  'unicast_peer',
  'virtual_ipaddress',
  'virtual_ipaddress_excluded',
  'virtual_routes',
  'virtual_rules',
  'track_interface',
  'track_script',
  'track_file',
  'track_process',
]);

/** A block keyword with words after it. keepalived 2.2.7 says "Block X has extra parameters
 * W ..." and ignores the words; with no `{` after them it reads the lines that follow as the
 * block's entries, up to the next `}` (`track_interface eth0` then tracks interfaces named
 * `virtual_ipaddress`, `{`, ..., and keepalived refuses to start: "Non-existent interface
 * specified in configuration"). vigil: the words ignored with a warning when a block follows,
 * an error when none does. False when there is no block to read. */
function blockOk(s: Statement, path: Path, ctx: Ctx): boolean {
  const words = s.args.map((a) => a.text).join(' ');
  if (s.block) {
    if (words) warn(ctx, s, path, `Block ${s.keyword} has extra parameters ${words} ...; ignored, as keepalived ignores them`);
    return true;
  }
  error(
    ctx,
    s,
    path,
    words
      ? `${s.keyword} takes a { } block: write '${s.keyword} { ${words} }'. keepalived 2.2.7 reports "Block ${s.keyword} has extra parameters ${s.args[0]?.text ?? ''} ..." and reads the lines after it as the block, up to the next '}'`
      : `${s.keyword} takes a { } block`,
  );
  return false;
}

function addressList(s: Statement, path: Path, ctx: Ctx): string[] {
  const out: string[] = [];
  for (const a of s.block ?? []) {
    if (isIP(a.keyword) === 0) {
      warn(ctx, a, path, `'${a.keyword}' is not an IP address; skipped`);
      continue;
    }
    ctx.positions.set([...path, out.length], a);
    out.push(a.keyword);
  }
  ctx.positions.set(path, s);
  return out;
}

const VIP_OPTIONS = new Set(['dev', 'scope', 'label', 'brd']);

function vipList(s: Statement, path: Path, ctx: Ctx): Obj[] {
  const out: Obj[] = [];
  for (const a of s.block ?? []) {
    const [addr = '', prefix] = a.keyword.split('/');
    if (isIP(addr) === 0 || (prefix !== undefined && !/^\d+$/.test(prefix))) {
      warn(ctx, a, path, `'${a.keyword}' is not an IP address; skipped, as keepalived skips it`);
      continue;
    }
    const vip: Obj = { address: a.keyword };
    for (let i = 0; i < a.args.length; i += 2) {
      const key = a.args[i]?.text ?? '';
      const value = a.args[i + 1]?.text;
      if (key === '-nodad') {
        // keepalived adds IPv6 VIPs with IFA_F_NODAD; "-nodad" takes that flag away
        vip.dad = true;
        i--;
      } else if (VIP_OPTIONS.has(key) && value !== undefined) vip[key] = value;
      else {
        warn(ctx, { ...a, col: a.args[i]?.col ?? a.col }, [...path, out.length], `address option '${key}' is not supported yet; ignored`);
        if (!VIP_OPTIONS.has(key)) i--; // flags without a value
      }
    }
    ctx.positions.set([...path, out.length], a);
    out.push(vip);
  }
  ctx.positions.set(path, s);
  return out;
}

function trackedList(s: Statement, path: Path, ctx: Ctx, start = 0): Obj[] {
  const out: Obj[] = [];
  for (const a of s.block ?? []) {
    const t: Obj = { name: a.keyword };
    if (a.args[0]?.text === 'weight') {
      const w = Number(a.args[1]?.text);
      if (!Number.isInteger(w)) error(ctx, a, [...path, start + out.length, 'weight'], `weight must be an integer, got '${a.args[1]?.text ?? ''}'`);
      else t.weight = w;
      if (a.args[2]?.text === 'reverse') t.reverse = true;
    }
    ctx.positions.set([...path, start + out.length], a);
    out.push(t);
  }
  ctx.positions.set(path, s);
  return out;
}

function scalar(s: Statement, kind: Kind, path: Path, ctx: Ctx): unknown {
  switch (kind) {
    case 'flag':
      return true;
    case 'bool': {
      // keepalived's [<BOOL>]: no argument means true
      const v = s.args[0]?.text.toLowerCase();
      if (v === undefined || ['true', 'on', 'yes'].includes(v)) return true;
      if (['false', 'off', 'no'].includes(v)) return false;
      error(ctx, s, path, `expected on|off|true|false|yes|no, got '${s.args[0]?.text ?? ''}'`);
      return undefined;
    }
    case 'string':
      return s.args[0]?.text;
    case 'words':
      return s.args.map((a) => a.text).join(' ');
    case 'script':
      if (s.args.length > 1) warn(ctx, s, path, `keepalived runs only '${s.args[0]?.text ?? ''}'; the words after it are ignored (quote the whole line to pass arguments)`);
      return s.args[0]?.text;
    case 'notify': {
      const [script, user, group, ...extra] = s.args.map((a) => a.text);
      if (extra.length > 0) warn(ctx, s, path, `words after '${script} ${user} ${group}' are ignored (quote the whole line to pass arguments)`);
      if (user === undefined) return script;
      return group === undefined ? { script, user } : { script, user, group };
    }
    case 'int':
      return toNumber(s, 0, path, ctx, true);
    case 'number':
      return toNumber(s, 0, path, ctx, false);
    case 'version':
      return toNumber(s, 0, path, ctx, true);
  }
}

function toNumber(s: Statement, i: number, path: Path, ctx: Ctx, integer: boolean): number | undefined {
  const text = s.args[i]?.text;
  const n = Number(text);
  if (text === undefined || text === '' || Number.isNaN(n) || (integer && !Number.isInteger(n))) {
    error(ctx, s, [...path, s.keyword], `expected ${integer ? 'an integer' : 'a number'}, got '${text ?? ''}'`);
    return undefined;
  }
  return n;
}

function setAt(o: Obj, key: string, value: unknown, path: Path, s: Statement, ctx: Ctx): void {
  if (value === undefined) return;
  o[key] = value;
  ctx.positions.set(path, s);
}

function warn(ctx: Ctx, at: Statement | { file: string; line: number; col: number }, path: Path, message: string): void {
  ctx.diagnostics.push({ file: at.file, line: at.line, col: at.col, severity: 'warning', field: path.join('.'), message });
}

function error(ctx: Ctx, at: Statement, path: Path, message: string): void {
  ctx.diagnostics.push({ file: at.file, line: at.line, col: at.col, severity: 'error', field: path.join('.'), message });
}
