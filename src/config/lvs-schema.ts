// keepalived's load balancer configuration (virtual_server, real_server, virtual_server_group and
// the checkers), in the same snake_case keywords as keepalived.conf(5). Values keepalived fills in
// with a message when they are missing (protocol, lb_algo, lb_kind) stay optional here, so the
// semantic checks can say what keepalived says (lvs-semantic.ts) and the balancer applies the
// same fallbacks. Facts: ../shared/docs/LVS.md.

import { isIP } from 'node:net';
import { z } from 'zod';

const ipAddress = z.string().refine((s) => isIP(s) !== 0, { message: 'not an IP address' });
const port = z.number().int().min(0).max(65535);
/** keepalived's TIMER: seconds, fractions allowed. */
const timer = z.number().nonnegative();
const positiveTimer = z.number().positive();
const u32 = z.number().int().min(0).max(4294967295);
const rsWeight = z.number().int().min(0, 'outside range 0-2147483647').max(2147483647, 'outside range 0-2147483647');

/** A script line with its optional user, as the VRRP notify scripts are written. */
const scriptLine = z.union([
  z.string().min(1),
  z.object({ script: z.string().min(1), user: z.string().min(1), group: z.string().min(1).optional() }).strict(),
]);

/** The options every connecting checker shares; unset ones are inherited from the real server,
 * then the virtual server, then the checker type's default. */
const checkerCommon = {
  connect_ip: ipAddress.optional(),
  connect_port: z.number().int().min(1).max(65535).optional(),
  bindto: ipAddress.optional(),
  bind_port: z.number().int().min(1).max(65535).optional(),
  connect_timeout: positiveTimer.optional(),
  /** 0 allowed at checker level (keepalived: `retry` 0..2^32-1; `nb_get_retry` is its old name). */
  retry: u32.optional(),
  delay_before_retry: timer.optional(),
  warmup: timer.optional(),
  delay_loop: positiveTimer.optional(),
  alpha: z.boolean().optional(),
};

export const tcpCheckSchema = z.object(checkerCommon).strict();
export type TcpCheckConfig = z.infer<typeof tcpCheckSchema>;

/** A checker type vigil parses but does not run yet (the next issue): kept so `vigil -t` and the
 * status can name it; the real server then has no working checker of that type. */
export const unsupportedCheckSchema = z.object({ type: z.string().min(1) }).passthrough();

export const realServerSchema = z
  .object({
    ip: ipAddress,
    /** Absent: the virtual server's port (NAT), or the client's destination port. */
    port: port.optional(),
    /** Default: the virtual server's `weight` (1). */
    weight: rsWeight.optional(),
    /** On failure keep it in the pool at weight 0 (no new connections, established ones go on)
     * instead of removing it. Default: the virtual server's setting. */
    inhibit_on_failure: z.boolean().optional(),
    notify_up: scriptLine.optional(),
    notify_down: scriptLine.optional(),
    /** Mail on its up/down (smtp-alert); default global_defs smtp_alert_checker, else
     * smtp_alert, else yes (keepalived's default for real servers). */
    smtp_alert: z.boolean().optional(),
    alpha: z.boolean().optional(),
    retry: z.number().int().min(1, 'retry value invalid - 0').max(4294967295).optional(),
    delay_before_retry: timer.optional(),
    connect_timeout: positiveTimer.optional(),
    delay_loop: positiveTimer.optional(),
    warmup: timer.optional(),
    virtualhost: z.string().optional(),
    tcp_check: z.array(tcpCheckSchema).default([]),
    /** HTTP_GET, SSL_GET, MISC_CHECK, ...: parsed, reported, not run yet. */
    other_checks: z.array(unsupportedCheckSchema).default([]),
  })
  .strict();
export type RealServerConfig = z.infer<typeof realServerSchema>;

export const sorryServerSchema = z.object({ ip: ipAddress, port: port.optional() }).strict();

export const lbAlgos = ['rr', 'wrr', 'lc', 'wlc', 'lblc', 'sh', 'mh', 'dh', 'fo', 'ovf', 'lblcr', 'sed', 'nq', 'twos'] as const;

export const virtualServerSchema = z
  .object({
    /** One of: ip (with port), fwmark, group. */
    ip: ipAddress.optional(),
    port: port.optional(),
    fwmark: u32.optional(),
    group: z.string().min(1).optional(),
    delay_loop: positiveTimer.default(60),
    /** keepalived's default is wlc, which nftables cannot express (lvs-semantic.ts). */
    lb_algo: z.enum(lbAlgos).optional(),
    /** keepalived's sh-port: hash the source port too. */
    sh_port: z.boolean().default(false),
    /** Default NAT (keepalived says so when it is missing). */
    lb_kind: z.enum(['NAT', 'DR', 'TUN']).optional(),
    persistence_timeout: z.number().int().min(1, 'persistence_timeout invalid').max(2678400, 'persistence_timeout invalid').optional(),
    /** An IPv4 netmask (255.255.255.0) or an IPv6 prefix length. */
    persistence_granularity: z.string().optional(),
    /** Default UDP (keepalived says so when it is missing). */
    protocol: z.enum(['TCP', 'UDP', 'SCTP']).optional(),
    sorry_server: sorryServerSchema.optional(),
    sorry_server_inhibit: z.boolean().default(false),
    alpha: z.boolean().default(false),
    omega: z.boolean().default(false),
    quorum: z.number().int().min(1, 'Quorum 0 must be in [1, 4294967295]').max(4294967295).default(1),
    hysteresis: u32.default(0),
    quorum_up: scriptLine.optional(),
    quorum_down: scriptLine.optional(),
    /** Mail on its quorum changes (smtp-alert); default global_defs smtp_alert_checker, else
     * smtp_alert, else no. */
    smtp_alert: z.boolean().optional(),
    ha_suspend: z.boolean().default(false),
    virtualhost: z.string().optional(),
    ip_family: z.enum(['inet', 'inet6']).optional(),
    retry: z.number().int().min(1, 'retry value invalid - 0').max(4294967295).optional(),
    delay_before_retry: timer.optional(),
    connect_timeout: positiveTimer.optional(),
    warmup: timer.optional(),
    inhibit_on_failure: z.boolean().default(false),
    /** Default weight of its real servers. */
    weight: z.number().int().min(1, 'outside range 1-2147483647').max(2147483647).default(1),
    /** vigil's own: also source-NAT the balanced traffic to the balancer's address, for
     * one-armed setups whose real servers do not route replies through the balancer. */
    snat: z.boolean().default(false),
    real_server: z.array(realServerSchema).default([]),
  })
  .strict();
export type VirtualServerConfig = z.infer<typeof virtualServerSchema>;

/** `virtual_server_group NAME`: addresses (single, last-octet range `A.B.C.D-E`, full range, CIDR)
 * with optional ports, or firewall marks. */
export const vsgEntrySchema = z.union([
  z.object({ address: z.string().min(1), port: port.optional() }).strict(),
  z.object({ fwmark: u32, family: z.enum(['inet', 'inet6']).optional() }).strict(),
]);
export const virtualServerGroupSchema = z.array(vsgEntrySchema);

/** vigil's own: the data plane. */
export const lvsSchema = z
  .object({
    /** The nftables table vigil owns (family inet). */
    table: z.string().regex(/^[A-Za-z][A-Za-z0-9_]*$/).default('vigil'),
    /** Leave the table in place at a clean stop (keepalived's -I / --dont-release-ipvs). */
    keep_on_stop: z.boolean().default(false),
  })
  .strict();
