// notify-script's config: keepalived's notify_master / notify_backup / notify_fault /
// notify_stop / notify lines of every vrrp_instance and vrrp_sync_group, the quorum_up /
// quorum_down lines of every virtual_server and the notify_up / notify_down lines of its
// real_servers (keyed by keepalived's names, as the balancer's events carry them), plus
// global_defs script_user and enable_script_security. The config loader makes the section from
// those keywords (src/config/plugin-sections/notify-script.ts); a `plugins.notify-script` section
// the user writes may set the timeouts.

import { z } from 'zod';

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

export const configSchema = z
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

export type NotifyScriptConfig = z.infer<typeof configSchema>;
export type ScriptSet = z.infer<typeof scriptSetSchema>;
export type VirtualServerScripts = z.infer<typeof virtualServerScriptsSchema>;
export type RealServerScripts = z.infer<typeof realServerScriptsSchema>;
