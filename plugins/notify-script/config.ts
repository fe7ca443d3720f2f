// notify-script's config: keepalived's notify_master / notify_backup / notify_fault /
// notify_stop / notify lines of every vrrp_instance and vrrp_sync_group, plus global_defs
// script_user and enable_script_security. Loaded in the engine's main thread: zod and types only.
//
// A `plugins.notify-script` section may set the timeouts; the scripts themselves come from the
// keepalived keywords, so a converted keepalived.conf needs nothing extra.

import { z } from 'zod';
import type { Config, NotifyScript } from '../../src/config/schema.ts';

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
  })
  .strict();

export type NotifyScriptConfig = z.infer<typeof schema>;
export type ScriptSet = z.infer<typeof scriptSetSchema>;

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
  if (Object.keys(instances).length === 0 && Object.keys(groups).length === 0) return undefined;
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
  };
}
