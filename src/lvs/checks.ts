// What the balancer runs for each checker of a real server, fully resolved (resolve.ts fills in
// keepalived's inheritance and defaults), and what one attempt of a checker answers. Plain data:
// a check crosses to the probe worker (probe-worker.ts) by structured clone, so no functions,
// no Buffers (hex strings instead), no class instances.
//
// The probe functions, one module per checker type, all take (check, signal) and resolve a
// ProbeResult; they never reject, and they end by check.timeoutMs whatever the target does:
//   tcp-check.ts   tcpProbe      TCP_CHECK
//   http-check.ts  httpProbe     HTTP_GET, SSL_GET
//   smtp-check.ts  smtpProbe     SMTP_CHECK
//   dns-check.ts   dnsProbe      DNS_CHECK
//   udp-check.ts   udpProbe      UDP_CHECK
//   ping-check.ts  pingProbe     PING_CHECK
//   misc-check.ts  miscProbe     MISC_CHECK
// FILE_CHECK has no attempts: file-check.ts watches the file and reports changes.
// A plugin checker runs in its plugin's worker, through the plugin host.

/** What every timed checker shares (keepalived's checker timeline, checker-state.ts). */
export interface CheckTiming {
  /** For logs and reasons, keepalived's way: `TCP_CHECK 198.51.100.10:8080`,
   * `HTTP_GET 198.51.100.10:80`, `MISC_CHECK /usr/local/bin/probe`. */
  name: string;
  /** One attempt ends (fails) after this long, whatever the target does. MISC: misc_timeout. */
  timeoutMs: number;
  retry: number;
  delayBeforeRetryMs: number;
  delayLoopMs: number;
  warmupMs: number;
  alpha: boolean;
}

/** Where a connecting checker goes (connect_ip / connect_port, else the real server's). */
export interface Endpoint {
  host: string;
  port: number;
  bindto?: string;
  bindPort?: number;
}

export interface TcpCheck extends CheckTiming, Endpoint {
  kind: 'tcp';
}

export interface HttpUrl {
  path: string;
  /** 32 lowercase hex digits: the MD5 of the body must equal it. */
  digest?: string;
  /** Inclusive ranges; default [[200, 299]]. */
  statusCodes: Array<[number, number]>;
  /** The Host header's value for this url (url virtualhost, else checker, else real server,
   * else virtual server, else `ip:port` with an IPv6 address in brackets). */
  host: string;
  /** SNI for this url (SSL_GET with enable_sni: url, else checker, else virtual server
   * virtualhost); absent: none sent. */
  sni?: string;
}

export interface HttpCheck extends CheckTiming, Endpoint {
  kind: 'http';
  /** SSL_GET. */
  tls: boolean;
  /** Verify the server's certificate against `caFile` (or the system's CAs) and the name.
   * keepalived never verifies; vigil's `verify_tls` turns it on. */
  verifyTls: boolean;
  caFile?: string;
  /** Client certificate and key (keepalived's global SSL block). */
  certFile?: string;
  keyFile?: string;
  /** The key file's passphrase (the global SSL block's `password`). */
  keyPassword?: string;
  /** `1.0` (default), `1.0C` (1.0 with Connection: close) or `1.1`. */
  protocol: '1.0' | '1.0C' | '1.1';
  /** Checked in order within one attempt; every one must pass. */
  urls: HttpUrl[];
  /** A body longer than this fails the attempt (vigil's `max_body_size`, default 1 MiB). */
  maxBodyBytes: number;
}

export interface MiscCheck extends CheckTiming {
  kind: 'misc';
  /** `misc_path`: the command line, split like the notify scripts (no shell unless the line
   * asks for one the way notify scripts do). */
  command: string;
  /** misc_dynamic: exit 2..255 passes and sets the real server's weight to exit - 2. */
  dynamic: boolean;
  /** The checker's `user USER [GROUP]`, else global_defs script_user (resolve.ts); absent: the
   * default script user of script-security.ts. */
  user?: string;
  group?: string;
  /** global_defs enable_script_security: keepalived's rules for the script's path. */
  scriptSecurity: boolean;
}

export const DNS_TYPES = ['A', 'NS', 'CNAME', 'SOA', 'MX', 'TXT', 'AAAA', 'RRSIG', 'DNSKEY'] as const;
export type DnsType = (typeof DNS_TYPES)[number];

export interface DnsCheck extends CheckTiming, Endpoint {
  kind: 'dns';
  type: DnsType;
  /** The queried name, without a trailing dot; '' is the root. */
  query: string;
}

export interface SmtpCheck extends CheckTiming, Endpoint {
  kind: 'smtp';
  heloName: string;
}

export interface UdpCheck extends CheckTiming, Endpoint {
  kind: 'udp';
  /** The datagram, as hex; default: 32 bytes of "keepalived check - " repeated. */
  payloadHex: string;
  requireReply: boolean;
  /** With require_reply HEX: the reply must equal it over the shorter length; an `X` nibble
   * matches anything. */
  replyPattern?: string;
  minReplyLength: number;
  maxReplyLength: number;
}

export interface PingCheck extends CheckTiming {
  kind: 'ping';
  host: string;
  bindto?: string;
}

/** FILE_CHECK: no timer, no retry, no alpha. The file is read as an integer (missing, empty or
 * unreadable: 0). weight 0: non-zero means down. Otherwise value x weight (negated with
 * reverse) is added to the real server's weight; a sum <= -2^31 means down. */
export interface FileCheck {
  kind: 'file';
  /** `FILE_CHECK chk_file` (the track_file's name). */
  name: string;
  trackFile: string;
  path: string;
  weight: number;
  reverse: boolean;
}

/** A checker registered by a plugin (`ctx.registerChecker(name, ...)`). */
export interface PluginCheck extends CheckTiming, Endpoint {
  kind: 'plugin';
  /** The registered checker's name. */
  checker: string;
  /** The checker's own options, as written (the plugin validates them). */
  params: Record<string, unknown>;
}

/** Checks with attempts, run by a probe. */
export type ProbeCheck = TcpCheck | HttpCheck | MiscCheck | DnsCheck | SmtpCheck | UdpCheck | PingCheck;
export type TimedCheck = ProbeCheck | PluginCheck;
export type Check = TimedCheck | FileCheck;

/** One attempt's answer. `weight` (misc_dynamic, a plugin checker): the real server's weight
 * this checker asks for; absent on a pass: the configured weight again. `ms`: how long the
 * attempt took. `error`: why it failed, in a few words, for logs, events and notify scripts
 * ("connection refused", "status 503 not in 200-299", "no reply within 3000 ms"). */
export type ProbeResult = { ok: true; ms: number; weight?: number } | { ok: false; error: string; ms: number };

