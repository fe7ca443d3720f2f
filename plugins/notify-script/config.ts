// notify-script's config: keepalived's notify_master / notify_backup / notify_fault /
// notify_stop / notify lines of every vrrp_instance and vrrp_sync_group, the quorum_up /
// quorum_down lines of every virtual_server and the notify_up / notify_down lines of its
// real_servers (keyed by keepalived's names, as the balancer's events carry them), plus
// global_defs script_user and enable_script_security. Loaded in the engine's main thread: zod,
// types and the pure name resolution of src/lvs/resolve.ts only.
//
// A `plugins.notify-script` section may set the timeouts; the scripts themselves come from the
// keepalived keywords, so a converted keepalived.conf needs nothing extra.

import { z } from 'zod';
import type { Config, NotifyScript } from '../../src/config/schema.ts';
import { resolveVirtualServer } from '../../src/lvs/resolve.ts';

/** One script line as keepalived writes it: the command line (split like keepalived, no shell),
 * and the user/group it runs as when not the default. */
export const scriptSchema = z
  .object({
    line: z.string().min(1),
    user: z.string().min(1).optional(),
    group: z.string().min(1).optional(),
  })
  .strict();

export const scriptSetSchema = z
  .object({
    master: scriptSchema.optional(),
    backup: scriptSchema.optional(),
    fault: scriptSchema.optional(),
    stop: scriptSchema.optional(),
    /** The generic script, called with TYPE NAME STATE PRIORITY appended. */
    notify: scriptSchema.optional(),
    /** notify_master_rx_lower_pri: run when this Master reasserts itself against a
     * lower-priority Master (instance.reasserted). */
    rx_lower_pri: scriptSchema.optional(),
  })
  .strict();

/** A real server's scripts (keepalived's notify_up / notify_down): run as written, no
 * arguments added. */
export const realServerScriptsSchema = z
  .object({
    notify_up: scriptSchema.optional(),
    notify_down: scriptSchema.optional(),
  })
  .strict();

/** A virtual server's scripts: quorum_up / quorum_down, and its real servers' by keepalived's
 * name (`[198.51.100.10]:tcp:8080`). */
export const virtualServerScriptsSchema = z
  .object({
    quorum_up: scriptSchema.optional(),
    quorum_down: scriptSchema.optional(),
    real_servers: z.record(z.string().min(1), realServerScriptsSchema).default({}),
  })
  .strict();

export const schema = z
  .object({
    /** global_defs script_user: `user [group]`. */
    script_user: z.string().min(1).optional(),
    enable_script_security: z.boolean().default(false),
    /** Seconds a notify script may run before it is killed. keepalived never waits for them; vigil
     * runs one instance's scripts one after another, so a hung script must not block the next
     * transition's forever. */
    timeout: z.number().positive().default(30),
    /** Seconds for STOP scripts (keepalived kills them after 1 s at shutdown). */
    stop_timeout: z.number().positive().default(1),
    instances: z.record(z.string().min(1), scriptSetSchema).default({}),
    groups: z.record(z.string().min(1), scriptSetSchema).default({}),
    /** By keepalived's virtual server name: `[192.0.2.100]:tcp:80`, `FWM 5`, `[GROUP]:0`. */
    virtual_servers: z.record(z.string().min(1), virtualServerScriptsSchema).default({}),
  })
  .strict();

export type NotifyScriptConfig = z.infer<typeof schema>;
export type ScriptSet = z.infer<typeof scriptSetSchema>;
export type VirtualServerScripts = z.infer<typeof virtualServerScriptsSchema>;
export type RealServerScripts = z.infer<typeof realServerScriptsSchema>;

type NotifyFields = Pick<Config['vrrp_instance'][string], 'notify_master' | 'notify_backup' | 'notify_fault' | 'notify_stop' | 'notify' | 'notify_master_rx_lower_pri'>;

function script(n: NotifyScript): z.input<typeof scriptSchema> {
  if (typeof n === 'string') return { line: n };
  return { line: n.script, user: n.user, ...(n.group !== undefined ? { group: n.group } : {}) };
}

function scriptSet(o: NotifyFields): z.input<typeof scriptSetSchema> | undefined {
  const set: z.input<typeof scriptSetSchema> = {};
  if (o.notify_master) set.master = script(o.notify_master);
  if (o.notify_backup) set.backup = script(o.notify_backup);
  if (o.notify_fault) set.fault = script(o.notify_fault);
  if (o.notify_stop) set.stop = script(o.notify_stop);
  if (o.notify) set.notify = script(o.notify);
  if (o.notify_master_rx_lower_pri) set.rx_lower_pri = script(o.notify_master_rx_lower_pri);
  return Object.keys(set).length > 0 ? set : undefined;
}

/** The load balancer's scripts by keepalived's names; virtual servers without any left out. */
function lvsScripts(config: Config): Record<string, z.input<typeof virtualServerScriptsSchema>> {
  const out: Record<string, z.input<typeof virtualServerScriptsSchema>> = {};
  // as the balancer: a virtual server without real servers is not run (resolveVirtualServers)
  for (const vs of config.virtual_server) {
    if (vs.real_server.length === 0) continue;
    let resolved: ReturnType<typeof resolveVirtualServer>;
    try {
      resolved = resolveVirtualServer(config, vs);
    } catch {
      continue; // a group entry the balancer cannot expand either (the config checks report it)
    }
    const entry: z.input<typeof virtualServerScriptsSchema> = {};
    if (resolved.quorumUp !== undefined) entry.quorum_up = script(resolved.quorumUp);
    if (resolved.quorumDown !== undefined) entry.quorum_down = script(resolved.quorumDown);
    const realServers: Record<string, z.input<typeof realServerScriptsSchema>> = {};
    for (const rs of resolved.realServers) {
      const r: z.input<typeof realServerScriptsSchema> = {};
      if (rs.notifyUp !== undefined) r.notify_up = script(rs.notifyUp);
      if (rs.notifyDown !== undefined) r.notify_down = script(rs.notifyDown);
      if (Object.keys(r).length > 0) realServers[rs.name] = r;
    }
    if (Object.keys(realServers).length > 0) entry.real_servers = realServers;
    if (Object.keys(entry).length > 0) out[resolved.name] = entry;
  }
  return out;
}

export function fromVigilConfig(config: Config): z.input<typeof schema> | undefined {
  const instances: Record<string, z.input<typeof scriptSetSchema>> = {};
  const groups: Record<string, z.input<typeof scriptSetSchema>> = {};
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
  const section = config.plugins['notify-script'];
  const tuning = typeof section === 'object' && section !== null ? (section as Partial<Pick<z.input<typeof schema>, 'timeout' | 'stop_timeout'>>) : {};
  const { script_user, enable_script_security } = config.global_defs;
  return {
    ...(tuning.timeout !== undefined ? { timeout: tuning.timeout } : {}),
    ...(tuning.stop_timeout !== undefined ? { stop_timeout: tuning.stop_timeout } : {}),
    ...(script_user !== undefined ? { script_user } : {}),
    enable_script_security,
    instances,
    groups,
    ...(Object.keys(virtualServers).length > 0 ? { virtual_servers: virtualServers } : {}),
  };
}
