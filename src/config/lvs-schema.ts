// keepalived's load balancer configuration (virtual_server, real_server, virtual_server_group and
// the checkers), in the same snake_case keywords as keepalived.conf(5). Values keepalived fills in
// with a message when they are missing (protocol, lb_algo, lb_kind) stay optional here, so the
// semantic checks can say what keepalived says (lvs-semantic.ts) and the balancer applies the
// same fallbacks. Facts: ../shared/docs/LVS.md.

import { isIP } from 'node:net';
import { z } from 'zod';
import { DNS_TYPES } from '../lvs/checks.ts';

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

/** The timing options every checker with attempts shares (all but FILE_CHECK); unset ones are
 * inherited from the real server, then the virtual server, then the checker type's default
 * (resolve.ts). */
const checkerTiming = {
  /** 0 allowed at checker level (keepalived: `retry` 0..2^32-1; `nb_get_retry` is its old name). */
  retry: u32.optional(),
  delay_before_retry: timer.optional(),
  warmup: timer.optional(),
  delay_loop: positiveTimer.optional(),
  alpha: z.boolean().optional(),
};

/** Where a connecting checker goes: connect_ip / connect_port, else the real server's address
 * and the port written on its line. */
const checkerConnection = {
  connect_ip: ipAddress.optional(),
  connect_port: z.number().int().min(1).max(65535).optional(),
  bindto: ipAddress.optional(),
  bind_port: z.number().int().min(1).max(65535).optional(),
  connect_timeout: positiveTimer.optional(),
};

const checkerCommon = { ...checkerConnection, ...checkerTiming };

export const tcpCheckSchema = z.object(checkerCommon).strict();
export type TcpCheckConfig = z.infer<typeof tcpCheckSchema>;

/** keepalived's HTTP status code limits (check_http.h). */
const STATUS_MIN = 100;
const STATUS_MAX = 599;

/** One `status_code` word, `N` or `N-M`: its inclusive range, or undefined when keepalived
 * refuses it ("Invalid HTTP_GET status code '600'"). */
export function statusRange(word: string | number): [number, number] | undefined {
  const m = /^(\d+)(?:-(\d+))?$/.exec(String(word));
  if (!m) return undefined;
  const lo = Number(m[1]);
  const hi = m[2] === undefined ? lo : Number(m[2]);
  return lo >= STATUS_MIN && hi <= STATUS_MAX && lo <= hi ? [lo, hi] : undefined;
}

const statusCode = z.union([z.number().int(), z.string()]).refine((v) => statusRange(v) !== undefined, {
  error: (iss) => `Invalid HTTP_GET status code '${String(iss.input)}' (N or N-M, within ${STATUS_MIN}-${STATUS_MAX})`,
});

export const httpUrlSchema = z
  .object({
    path: z.string().min(1),
    /** The MD5 of the body, 32 hex digits (`vigil genhash` prints it). */
    digest: z
      .string()
      .regex(/^[0-9a-fA-F]{32}$/, 'digest must be 32 hex digits (the MD5 of the body)')
      .optional(),
    /** Codes that pass: numbers and `N-M` ranges; default 200-299. */
    status_code: z.array(statusCode).min(1).optional(),
    virtualhost: z.string().min(1).optional(),
  })
  .strict();

/** HTTP_GET and SSL_GET. */
export const httpCheckSchema = z
  .object({
    ...checkerCommon,
    url: z.array(httpUrlSchema).min(1, 'HTTP/SSL_GET checker has no urls specified'),
    virtualhost: z.string().min(1).optional(),
    /** Default 1.0. YAML reads an unquoted 1.0 or 1.1 as a number: taken as written. */
    http_protocol: z.preprocess((v) => (v === 1 ? '1.0' : v === 1.1 ? '1.1' : v), z.enum(['1.0', '1.0C', '1.1'])).optional(),
    /** SSL_GET: send the virtual host as SNI. */
    enable_sni: z.boolean().optional(),
    /** Accepted for keepalived.conf: vigil checks every url in each attempt anyway. */
    fast_recovery: z.boolean().optional(),
    /** vigil's own (SSL_GET): verify the server's certificate and name; keepalived never does.
     * Default false. */
    verify_tls: z.boolean().optional(),
    /** vigil's own: the CA file to verify against (default: the global ssl ca, else the
     * system's CAs). */
    ca: z.string().min(1).optional(),
    /** vigil's own: a longer body fails the attempt. Default 1048576. */
    max_body_size: z.number().int().positive().optional(),
  })
  .strict();
export type HttpCheckConfig = z.infer<typeof httpCheckSchema>;

export const miscCheckSchema = z
  .object({
    ...checkerTiming,
    /** The command line, split like the notify scripts' (no shell unless the line asks). */
    misc_path: z.string().min(1),
    /** Whole seconds; unset or 0: the virtual server's delay_loop. */
    misc_timeout: z.number().int().min(0).max(4294).optional(),
    /** Exit codes 2..255 pass and set the real server's weight to the code - 2. */
    misc_dynamic: z.boolean().optional(),
    /** Default: global_defs script_user, else the default script user. */
    user: z.string().min(1).optional(),
    group: z.string().min(1).optional(),
  })
  .strict();
export type MiscCheckConfig = z.infer<typeof miscCheckSchema>;

/** keepalived's check for a DNS name with an empty label ("a..b", ".x"); "." is the root. */
export function dnsNameProblem(name: string): string | undefined {
  if (name === '' || name === '.') return undefined;
  const labels = (name.endsWith('.') ? name.slice(0, -1) : name).split('.');
  return labels.some((l) => l === '') ? `DNS_CHECK name '${name}' has empty label` : undefined;
}

export const dnsCheckSchema = z
  .object({
    ...checkerCommon,
    /** A NS CNAME SOA MX TXT AAAA RRSIG DNSKEY, any case; default SOA. */
    type: z
      .string()
      .refine((t) => (DNS_TYPES as readonly string[]).includes(t.toUpperCase()), { error: (iss) => `Unknown DNS check type ${String(iss.input)} (one of ${DNS_TYPES.join(' ')})` })
      .optional(),
    /** Default: the root. */
    name: z
      .string()
      .refine((n) => dnsNameProblem(n) === undefined, { error: (iss) => dnsNameProblem(String(iss.input)) ?? 'invalid name' })
      .optional(),
  })
  .strict();
export type DnsCheckConfig = z.infer<typeof dnsCheckSchema>;

export const smtpCheckSchema = z
  .object({
    ...checkerCommon,
    /** Default smtpchecker.keepalived.org. */
    helo_name: z.string().min(1).optional(),
  })
  .strict();
export type SmtpCheckConfig = z.infer<typeof smtpCheckSchema>;

/** keepalived's hex strings (lib/parser.c read_hex_str): pairs of hex digits, blanks between
 * groups allowed, a lone digit before a blank or the end is one byte; with `wildcard`, an x / X
 * nibble matches anything. Returns even-length hex (lowercase, X for a wildcard nibble), or
 * undefined when keepalived would say "Invalid hex string". */
export function parseHex(text: string, wildcard: boolean): string | undefined {
  const nibble = (c: string): string | undefined => (/^[0-9a-fA-F]$/.test(c) ? c.toLowerCase() : wildcard && (c === 'x' || c === 'X') ? 'X' : undefined);
  let out = '';
  for (const group of text.split(/[ \t]+/).filter((g) => g !== '')) {
    for (let i = 0; i < group.length; i += 2) {
      const a = nibble(group[i] as string);
      const b = i + 1 < group.length ? nibble(group[i + 1] as string) : '0';
      if (a === undefined || b === undefined) return undefined;
      // a lone last digit is the byte's low nibble (0x0N), as keepalived reads it
      out += i + 1 < group.length ? a + b : '0' + a;
    }
  }
  return out === '' ? undefined : out;
}

export const udpCheckSchema = z
  .object({
    ...checkerCommon,
    /** The datagram as hex; default 32 bytes of "keepalived check - " repeated. */
    payload: z
      .string()
      .refine((s) => parseHex(s, false) !== undefined, 'Invalid hex string for UDP_CHECK payload')
      .optional(),
    /** true: a reply is needed; hex (x / X nibbles match anything): the reply must equal it over
     * the shorter length. */
    require_reply: z.union([z.boolean(), z.string().refine((s) => parseHex(s, true) !== undefined, 'Invalid hex string for UDP_CHECK reply')]).optional(),
    /** Default 0. */
    min_reply_length: z.number().int().min(0).max(65535).optional(),
    /** Default 255. */
    max_reply_length: z.number().int().min(0).max(65535).optional(),
  })
  .strict();
export type UdpCheckConfig = z.infer<typeof udpCheckSchema>;

export const pingCheckSchema = z.object(checkerCommon).strict();
export type PingCheckConfig = z.infer<typeof pingCheckSchema>;

/** keepalived's IPVS_WEIGHT_LIMIT. */
const FILE_WEIGHT_LIMIT = 2147483647;

export const fileCheckSchema = z
  .object({
    /** The name of a vrrp_track_file (keepalived.conf: track_file or vrrp_track_file). */
    track_file: z.string().min(1),
    /** Default: the track_file's weight (and reverse). */
    weight: z.number().int().min(-FILE_WEIGHT_LIMIT).max(FILE_WEIGHT_LIMIT).optional(),
    reverse: z.boolean().optional(),
  })
  .strict();
export type FileCheckConfig = z.infer<typeof fileCheckSchema>;

/** vigil's own: a checker a plugin registered (`ctx.registerChecker(name, ...)`). */
export const pluginCheckSchema = z
  .object({
    ...checkerCommon,
    checker: z.string().min(1),
    /** The checker's own options; the plugin validates them. */
    params: z.record(z.string(), z.unknown()).optional(),
  })
  .strict();
export type PluginCheckConfig = z.infer<typeof pluginCheckSchema>;

/** global SSL block (keepalived.conf `SSL { password ca certificate key }`): the TLS context of
 * every SSL_GET. */
export const sslSchema = z
  .object({
    /** The key's passphrase. */
    password: z.string().optional(),
    ca: z.string().min(1).optional(),
    certificate: z.string().min(1).optional(),
    key: z.string().min(1).optional(),
  })
  .strict();

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
    // the checkers, each a list (keepalived: any number of each); run in this order
    tcp_check: z.array(tcpCheckSchema).default([]),
    http_get: z.array(httpCheckSchema).default([]),
    ssl_get: z.array(httpCheckSchema).default([]),
    misc_check: z.array(miscCheckSchema).default([]),
    dns_check: z.array(dnsCheckSchema).default([]),
    smtp_check: z.array(smtpCheckSchema).default([]),
    udp_check: z.array(udpCheckSchema).default([]),
    ping_check: z.array(pingCheckSchema).default([]),
    file_check: z.array(fileCheckSchema).default([]),
    plugin_check: z.array(pluginCheckSchema).default([]),
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
