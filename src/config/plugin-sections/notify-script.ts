// notify-script's section from keepalived's notify_master / notify_backup / notify_fault /
// notify_stop / notify / notify_master_rx_lower_pri lines of every vrrp_instance and
// vrrp_sync_group, the quorum_up / quorum_down lines of every virtual_server and the notify_up /
// notify_down lines of its real_servers (keyed by keepalived's names, as the balancer's events
// carry them), plus global_defs script_user and enable_script_security. A `plugins.notify-script`
// section the user wrote may set the timeouts; the scripts come from the keywords, so a converted
// keepalived.conf needs nothing extra.

import type { Path } from '../diagnostics.ts';
import type { Config, NotifyScript } from '../schema.ts';
import { resolveVirtualServer } from '../../lvs/resolve.ts';
import { tuning } from './tuning.ts';

export interface ScriptLine {
  line: string;
  user?: string | undefined;
  group?: string;
}

export interface ScriptSet {
  master?: ScriptLine;
  backup?: ScriptLine;
  fault?: ScriptLine;
  stop?: ScriptLine;
  notify?: ScriptLine;
  rx_lower_pri?: ScriptLine;
}

export interface RealServerScripts {
  notify_up?: ScriptLine;
  notify_down?: ScriptLine;
}

export interface VirtualServerScripts {
  quorum_up?: ScriptLine;
  quorum_down?: ScriptLine;
  real_servers?: Record<string, RealServerScripts>;
}

export interface NotifyScriptSection {
  timeout?: number;
  stop_timeout?: number;
  script_user?: string;
  enable_script_security: boolean;
  instances: Record<string, ScriptSet>;
  groups: Record<string, ScriptSet>;
  virtual_servers?: Record<string, VirtualServerScripts>;
}

/** What the user's own `plugins.notify-script` may set. */
export const TUNING = ['timeout', 'stop_timeout'] as const;

type NotifyFields = Pick<Config['vrrp_instance'][string], 'notify_master' | 'notify_backup' | 'notify_fault' | 'notify_stop' | 'notify' | 'notify_master_rx_lower_pri'>;

const KEYWORD: Record<keyof ScriptSet, keyof NotifyFields> = {
  master: 'notify_master',
  backup: 'notify_backup',
  fault: 'notify_fault',
  stop: 'notify_stop',
  notify: 'notify',
  rx_lower_pri: 'notify_master_rx_lower_pri',
};

export function script(n: NotifyScript): ScriptLine {
  if (typeof n === 'string') return { line: n };
  return { line: n.script, user: n.user, ...(n.group !== undefined ? { group: n.group } : {}) };
}

function scriptSet(o: NotifyFields): ScriptSet | undefined {
  const set: ScriptSet = {};
  for (const [key, keyword] of Object.entries(KEYWORD) as Array<[keyof ScriptSet, keyof NotifyFields]>) {
    const n = o[keyword];
    if (n) set[key] = script(n);
  }
  return Object.keys(set).length > 0 ? set : undefined;
}

/** The load balancer's scripts by keepalived's names; virtual servers without any left out. */
function lvsScripts(config: Config): Record<string, VirtualServerScripts> {
  const out: Record<string, VirtualServerScripts> = {};
  // as the balancer: a virtual server without real servers is not run (resolveVirtualServers)
  for (const vs of config.virtual_server) {
    if (vs.real_server.length === 0) continue;
    let resolved: ReturnType<typeof resolveVirtualServer>;
    try {
      resolved = resolveVirtualServer(config, vs);
    } catch {
      continue; // a group entry the balancer cannot expand either (the config checks report it)
    }
    const entry: VirtualServerScripts = {};
    if (resolved.quorumUp !== undefined) entry.quorum_up = script(resolved.quorumUp);
    if (resolved.quorumDown !== undefined) entry.quorum_down = script(resolved.quorumDown);
    const realServers: Record<string, RealServerScripts> = {};
    for (const rs of resolved.realServers) {
      const r: RealServerScripts = {};
      if (rs.notifyUp !== undefined) r.notify_up = script(rs.notifyUp);
      if (rs.notifyDown !== undefined) r.notify_down = script(rs.notifyDown);
      if (Object.keys(r).length > 0) realServers[rs.name] = r;
    }
    if (Object.keys(realServers).length > 0) entry.real_servers = realServers;
    if (Object.keys(entry).length > 0) out[resolved.name] = entry;
  }
  return out;
}

export function deriveNotifyScript(config: Config, written: unknown): NotifyScriptSection | undefined {
  const instances: Record<string, ScriptSet> = {};
  const groups: Record<string, ScriptSet> = {};
  for (const [name, inst] of Object.entries(config.vrrp_instance)) {
    const set = scriptSet(inst);
    if (set) instances[name] = set;
  }
  for (const [name, group] of Object.entries(config.vrrp_sync_group)) {
    const set = scriptSet(group);
    if (set) groups[name] = set;
  }
  const virtualServers = lvsScripts(config);
  if (Object.keys(instances).length === 0 && Object.keys(groups).length === 0 && Object.keys(virtualServers).length === 0) return undefined;
  const t = tuning(written, TUNING);
  const { script_user, enable_script_security } = config.global_defs;
  return {
    ...(t.timeout !== undefined ? { timeout: t.timeout as number } : {}),
    ...(t.stop_timeout !== undefined ? { stop_timeout: t.stop_timeout as number } : {}),
    ...(script_user !== undefined ? { script_user } : {}),
    enable_script_security,
    instances,
    groups,
    ...(Object.keys(virtualServers).length > 0 ? { virtual_servers: virtualServers } : {}),
  };
}

/** The config field a part of the section came from. */
export function notifyScriptSource(path: Path): Path {
  const [top, name, key] = path;
  if (top === 'instances' && name !== undefined) return ['vrrp_instance', name, ...(key !== undefined ? [KEYWORD[key as keyof ScriptSet] ?? key] : [])];
  if (top === 'groups' && name !== undefined) return ['vrrp_sync_group', name, ...(key !== undefined ? [KEYWORD[key as keyof ScriptSet] ?? key] : [])];
  if (top === 'virtual_servers') return ['virtual_server'];
  if (top === 'script_user' || top === 'enable_script_security') return ['global_defs', top];
  return ['plugins', 'notify-script', ...path];
}
