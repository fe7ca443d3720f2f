// The one schema of vigil's configuration (DESIGN.md rule 4): the source of its TypeScript
// types (z.infer), its validation and error messages, and the JSON Schema printed by
// `vigil schema`. The YAML reader validates against it directly; the keepalived.conf reader
// maps into the same shape and validates through it too.
//
// Keys are keepalived's keywords in snake_case, so a keepalived user recognises every field
// (`virtual_router_id`, `advert_int`, `track_script`), and defaults are keepalived's.

import { isIP } from 'node:net';
import { z } from 'zod';
import { electionSchema } from './election-schema.ts';
import { lvsSchema, sslSchema, virtualServerGroupSchema, virtualServerSchema } from './lvs-schema.ts';

const ipAddress = z.string().refine((s) => isIP(s) !== 0, { message: 'not an IP address' });

/** An address with an optional prefix length: 192.0.2.10, 192.0.2.10/24, 2001:db8::1/64. */
export const addressWithPrefix = z.string().refine(
  (s) => {
    const [addr = '', prefix, extra] = s.split('/');
    const fam = isIP(addr);
    if (fam === 0 || extra !== undefined) return false;
    if (prefix === undefined) return true;
    const n = Number(prefix);
    return /^\d+$/.test(prefix) && n >= 0 && n <= (fam === 4 ? 32 : 128);
  },
  { message: 'not an IP address (with optional /prefix)' },
);

const name = z.string().min(1);
const seconds = z.number().nonnegative();

export const virtualAddressSchema = z.object({
  address: addressWithPrefix,
  dev: z.string().optional(),
  scope: z.enum(['global', 'site', 'link', 'host', 'nowhere']).optional(),
  label: z.string().max(15).optional(),
  brd: ipAddress.optional(),
  /** IPv6 only: run duplicate address detection on the VIP (keepalived's `-nodad`). Off by
   * default, as in keepalived: the VIP is usable at once and cannot end up "dadfailed". */
  dad: z.boolean().optional(),
});

/** A tracked object with an optional weight (track_interface, track_script, track_file,
 * track_process). */
const trackedSchema = z.object({
  name,
  weight: z.number().int().min(-254).max(254).optional(),
  reverse: z.boolean().optional(),
});

export const vrrpScriptSchema = z.object({
  script: z.string().min(1),
  interval: seconds.default(1),
  timeout: seconds.optional(),
  weight: z.number().int().min(-254).max(254).default(0),
  weight_reverse: z.boolean().default(false),
  rise: z.number().int().min(1).default(1),
  fall: z.number().int().min(1).default(1),
  user: z.string().optional(),
  group: z.string().optional(),
  init_fail: z.boolean().default(false),
});

export const trackFileSchema = z.object({
  file: z.string().min(1),
  weight: z.number().int().min(-254).max(254).default(1),
  weight_reverse: z.boolean().default(false),
  init_file: z.union([z.number().int(), z.literal(true)]).optional(),
});

/** keepalived's vrrp_track_process: how many processes matching a name (and parameters) run. */
export const trackProcessSchema = z.object({
  /** The process name as in /proc/PID/status (comm, at most 15 characters), or with
   * `params` or `full_command` the command (argv[0]) as in /proc/PID/cmdline. */
  process: z.string().min(1),
  /** Parameters the command line must carry (see `param_match`). */
  params: z.array(z.string()).optional(),
  /** exact (the default when parameters are given): exactly these parameters; partial: these
   * first, more may follow; initial: as partial, and the last one configured may be the start
   * of a longer one. keepalived's bare `param_match` without parameters: no parameters at all. */
  param_match: z.enum(['exact', 'initial', 'partial']).optional(),
  weight: z.number().int().min(-254).max(254).default(1),
  weight_reverse: z.boolean().default(false),
  /** Success needs at least `quorum` and at most `quorum_max` matching processes. */
  quorum: z.number().int().min(0).default(1),
  quorum_max: z.number().int().min(0).optional(),
  /** Seconds a gained quorum must hold before it counts (a fork and exec bounce). */
  fork_delay: seconds.default(0),
  /** Seconds a lost quorum must stay lost before it counts (a restart). */
  terminate_delay: seconds.default(0),
  /** Match `process` against the command line even without parameters. */
  full_command: z.boolean().default(false),
});

/** A notify script: its command line (split like keepalived's, no shell), or that with the
 * user (and group) it runs as, keepalived's `notify_master "/path/script arg" user group`. */
export const notifyScriptSchema = z.union([
  z.string().min(1),
  z.object({ script: z.string().min(1), user: z.string().min(1), group: z.string().min(1).optional() }).strict(),
]);
export type NotifyScript = z.infer<typeof notifyScriptSchema>;

const notifyFields = {
  notify_master: notifyScriptSchema.optional(),
  notify_backup: notifyScriptSchema.optional(),
  notify_fault: notifyScriptSchema.optional(),
  notify_stop: notifyScriptSchema.optional(),
  notify: notifyScriptSchema.optional(),
  /** Run when this Master hears a lower-priority Master and reasserts itself. */
  notify_master_rx_lower_pri: notifyScriptSchema.optional(),
  smtp_alert: z.boolean().optional(),
};

export const vrrpInstanceSchema = z.object({
  state: z.enum(['MASTER', 'BACKUP']).default('BACKUP'),
  interface: z.string().min(1),
  /** Required for VRRP; an instance elected on etcd has none on the wire (0 = none: the
   * default short-circuits the range check, and the semantic check asks for it where VRRP runs). */
  virtual_router_id: z.number().int().min(1, 'must be 1..255').max(255, 'must be 1..255').default(0),
  priority: z.number().int().min(1, 'must be 1..255').max(255, 'must be 1..255').default(100),
  /** Seconds; fractions need version 3 (centisecond resolution). */
  advert_int: z.number().positive().max(40.95).default(1),
  version: z.union([z.literal(2), z.literal(3)]).optional(),
  nopreempt: z.boolean().default(false),
  preempt_delay: z.number().min(0).max(1000).default(0),
  accept: z.boolean().optional(),
  authentication: z
    .object({
      auth_type: z.enum(['PASS', 'AH']),
      auth_pass: z.string().min(1),
    })
    .optional(),
  unicast_src_ip: ipAddress.optional(),
  unicast_peer: z.array(ipAddress).default([]),
  mcast_src_ip: ipAddress.optional(),
  virtual_ipaddress: z.array(virtualAddressSchema).default([]),
  virtual_ipaddress_excluded: z.array(virtualAddressSchema).default([]),
  /** Routes and rules are kept as keepalived's text lines until the netlink layer maps them. */
  virtual_routes: z.array(z.string()).default([]),
  virtual_rules: z.array(z.string()).default([]),
  track_interface: z.array(trackedSchema).default([]),
  track_script: z.array(trackedSchema).default([]),
  track_file: z.array(trackedSchema).default([]),
  track_process: z.array(trackedSchema).default([]),
  dont_track_primary: z.boolean().default(false),
  use_vmac: z.union([z.boolean(), z.string()]).default(false),
  vmac_xmit_base: z.boolean().default(false),
  garp_master_delay: seconds.optional(),
  garp_master_repeat: z.number().int().min(1).optional(),
  garp_master_refresh: seconds.optional(),
  garp_master_refresh_repeat: z.number().int().min(1).optional(),
  /** Announcements when this Master reasserts itself against a lower-priority one; default
   * the global vrrp_garp_lower_prio_*, whose default is the garp_master_* settings. */
  garp_lower_prio_delay: seconds.optional(),
  garp_lower_prio_repeat: z.number().int().min(0).optional(),
  /** Do not answer a lower-priority Master's advert with an advert (still re-announce). */
  lower_prio_no_advert: z.boolean().optional(),
  /** See global_defs.vrrp_higher_prio_send_advert. */
  higher_prio_send_advert: z.boolean().optional(),
  old_unicast_checksum: z.boolean().default(false),
  /** Who elects the Master: VRRP on the wire (absent), or a lease in etcd. */
  election: electionSchema.optional(),
  ...notifyFields,
}).superRefine((inst, ctx) => {
  if (inst.virtual_router_id === 0 && !inst.election?.etcd) {
    ctx.addIssue({ code: 'custom', path: ['virtual_router_id'], message: 'required: must be 1..255 (only an instance elected on etcd goes without)' });
  }
  // only on an instance otherwise valid: an out-of-range VRID already has its own message
}, { when: (payload) => payload.issues.length === 0 });

export const syncGroupSchema = z.object({
  group: z.array(name).min(1, 'a sync group needs instances'),
  track_script: z.array(trackedSchema).default([]),
  track_interface: z.array(trackedSchema).default([]),
  ...notifyFields,
});

export const globalDefsSchema = z.object({
  router_id: z.string().optional(),
  vrrp_mcast_group4: ipAddress.default('224.0.0.18'),
  vrrp_mcast_group6: ipAddress.default('ff02::12'),
  vrrp_version: z.union([z.literal(2), z.literal(3)]).default(2),
  vrrp_strict: z.boolean().default(false),
  vrrp_iptables: z.string().optional(),
  nftables: z.string().optional(),
  vrrp_garp_master_delay: seconds.default(5),
  vrrp_garp_master_repeat: z.number().int().min(1).default(5),
  vrrp_garp_master_refresh: seconds.default(0),
  vrrp_garp_master_refresh_repeat: z.number().int().min(1).default(1),
  vrrp_garp_interval: seconds.default(0),
  vrrp_gna_interval: seconds.default(0),
  vrrp_lower_prio_no_advert: z.boolean().default(false),
  vrrp_garp_lower_prio_delay: seconds.optional(),
  vrrp_garp_lower_prio_repeat: z.number().int().min(0).optional(),
  /** A Master that steps down for a higher-priority advert first sends one advert of its own,
   * so the rightful Master hears it and re-announces (a healed split brain, issue 8). vigil's
   * default is on (unset); keepalived's is off: set false for keepalived's behaviour. */
  vrrp_higher_prio_send_advert: z.boolean().optional(),
  script_user: z.string().optional(),
  enable_script_security: z.boolean().default(false),
  notify_fifo: z.string().optional(),
  notify_fifo_script: z.string().optional(),
  vrrp_notify_fifo: z.string().optional(),
  vrrp_notify_fifo_script: z.string().optional(),
  /** The load balancer's FIFO: `VS ...` and `RS ...` lines (notify_fifo gets them too). */
  lvs_notify_fifo: z.string().optional(),
  lvs_notify_fifo_script: z.string().optional(),
  max_auto_priority: z.number().int().min(-1).max(99).optional(),
  /** Where user plugins live (vigil's own). */
  plugins_dir: z.string().optional(),
  /** Development only: load user plugins whose files a user other than root could change
   * (plugin-security.ts), with a warning for each, instead of refusing them. */
  allow_unsafe_plugins: z.boolean().default(false),
  /** User plugins that run in a process of their own as an unprivileged user, not as root in a
   * worker thread: plugin name (its file name), or `*` for every user plugin, to `user [group]`. */
  plugin_user: z.record(z.string(), z.string().regex(/^\S+( \S+)?$/, 'expected "user" or "user group"')).default({}),
  // keepalived's e-mail alerts (the smtp-alert built-in plugin)
  /** Recipients of the alert mails. */
  notification_email: z.array(z.string().min(1)).default([]),
  /** The sender; keepalived's default is USER@HOSTNAME. */
  notification_email_from: z.string().min(1).optional(),
  /** `ADDRESS [PORT]` (a name or an IP address; port 25 by default). */
  smtp_server: z.string().regex(/^\S+( \d{1,5})?$/, 'expected "address" or "address port"').optional(),
  /** HELO name; keepalived's default is the host name. */
  smtp_helo_name: z.string().min(1).optional(),
  /** Seconds for the connection and for each reply (keepalived's default 30; 0 means 1). */
  smtp_connect_timeout: z.number().int().min(0).max(4294967).optional(),
  /** Default of every smtp_alert (instances, sync groups, virtual and real servers). */
  smtp_alert: z.boolean().optional(),
  /** Default of the instances' and sync groups' smtp_alert (before smtp_alert). */
  smtp_alert_vrrp: z.boolean().optional(),
  /** Default of the virtual and real servers' smtp_alert (before smtp_alert). */
  smtp_alert_checker: z.boolean().optional(),
  /** No mail for a transition to FAULT. */
  no_email_faults: z.boolean().default(false),
});

/** vigil's own: how operators reach the daemon. */
export const controlSchema = z.object({
  /** The status socket (unix, 0600). Default: derived from the pid file or the config path,
   * so several daemons on one host (one per namespace) each have their own. */
  socket: z.string().optional(),
  /** keepalived's SIGUSR1 state dump and SIGUSR2 statistics dump. */
  state_dump: z.string().default('/tmp/keepalived.data'),
  stats_dump: z.string().default('/tmp/keepalived.stats'),
  /** The HTTP listener (metrics, status page, JSON status); off unless configured. */
  http: z
    .object({
      /** host:port; loopback by default. A non-loopback address requires a token. */
      listen: z.string().default('127.0.0.1:9650'),
      /** Bearer token required on every request when set. Never logged. */
      token: z.string().min(1).optional(),
      /** The token read from a file of its own (root's, mode 0600; e.g. a systemd credential),
       * so the config need not hold it. Read at start; a trailing newline is dropped. */
      token_file: z.string().min(1).optional(),
    })
    .strict()
    .refine((h) => h.token === undefined || h.token_file === undefined, { message: 'set token or token_file, not both', path: ['token_file'] })
    .optional(),
});

export const configSchema = z.object({
  global_defs: globalDefsSchema.default(globalDefsSchema.parse({})),
  vrrp_script: z.record(name, vrrpScriptSchema).default({}),
  vrrp_track_file: z.record(name, trackFileSchema).default({}),
  vrrp_track_process: z.record(name, trackProcessSchema).default({}),
  vrrp_instance: z.record(name, vrrpInstanceSchema).default({}),
  vrrp_sync_group: z.record(name, syncGroupSchema).default({}),
  // the load balancer (lvs-schema.ts)
  virtual_server: z.array(virtualServerSchema).default([]),
  virtual_server_group: z.record(name, virtualServerGroupSchema).default({}),
  lvs: lvsSchema.default(lvsSchema.parse({})),
  /** keepalived's global `SSL { password ca certificate key }` block: the TLS context (CA,
   * client certificate and key) of every SSL_GET. */
  ssl: sslSchema.optional(),
  /** Plugin sections, keyed by plugin name; each is validated by that plugin's own schema
   * (see plugin-sections.ts). */
  plugins: z.record(name, z.unknown()).default({}),
  control: controlSchema.default(controlSchema.parse({})),
});

export type Config = z.infer<typeof configSchema>;
export type ConfigInput = z.input<typeof configSchema>;
export type VrrpInstanceConfig = z.infer<typeof vrrpInstanceSchema>;
export type VirtualAddress = z.infer<typeof virtualAddressSchema>;

/** The JSON Schema of the YAML configuration, for editors. */
export function configJsonSchema(): unknown {
  return z.toJSONSchema(configSchema, { io: 'input', unrepresentable: 'any' });
}
