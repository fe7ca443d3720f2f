// Syslog, as keepalived logs by default: one RFC 3164 datagram per line to the local syslog
// socket (/dev/log: journald's or rsyslog's), `<PRI>Mmm dd hh:mm:ss IDENT[PID]: message`,
// exactly what glibc's syslog(3) sends for keepalived (checked against Debian keepalived 2.2.7
// with a test socket at /dev/log: `<158>Nov 30 15:16:09 Keepalived_vrrp[20811]: (VI_1) Entering
// BACKUP STATE (init)` for -S 3). The idents are keepalived's, so rsyslog rules and journal
// filters written for it (`:programname, isequal, "Keepalived_vrrp"`, `journalctl -t
// Keepalived_vrrp`) match vigil's lines.
//
// Node has no unix datagram sockets: src/net/unix-datagram.ts calls libc's socket/connect/send
// (as for sd_notify). The socket is non-blocking and every send is MSG_DONTWAIT: a syslog daemon
// that stops reading costs lost lines (counted, and said once the socket takes lines again),
// never a stalled event loop. A socket that goes away (rsyslog or journald restarted) is
// reconnected on the next line; a missing one is retried at most once a second. Nothing here
// throws: logging must never crash the daemon.

import koffi from 'koffi';
import { AF_UNIX, libcCalls as c, MSG_DONTWAIT, MSG_NOSIGNAL, SOCK_CLOEXEC, SOCK_DGRAM, SOCK_NONBLOCK, sockaddrUnix } from '../net/unix-datagram.ts';
const EINTR = 4;
const EAGAIN = 11;
const ENOBUFS = 105;

export const DEFAULT_SYSLOG_SOCKET = '/dev/log';
/** LOG_DAEMON, keepalived's default facility. */
export const FACILITY_DAEMON = 3;
/** keepalived's idents: the parent process and the VRRP child. */
export const IDENT_PARENT = 'Keepalived';
export const IDENT_VRRP = 'Keepalived_vrrp';

/** Longest message sent in one datagram (the rest is cut, with "..."); rsyslog's default
 * maximum message size is 8 KiB. */
const MAX_MESSAGE = 8000;

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
/** syslog(3) priorities: LOG_DEBUG 7, LOG_INFO 6, LOG_WARNING 4, LOG_ERR 3. */
export const SEVERITY: Record<LogLevel, number> = { debug: 7, info: 6, warn: 4, error: 3 };

/** keepalived's -S: 0-7 are local0..local7; the names local0..local7, daemon and user are
 * accepted too. Undefined for anything else. */
export function parseFacility(s: string): number | undefined {
  const v = s.trim().toLowerCase();
  if (/^[0-7]$/.test(v)) return 16 + Number(v);
  const local = /^(?:log_)?local([0-7])$/.exec(v);
  if (local) return 16 + Number(local[1]);
  if (v === 'daemon' || v === 'log_daemon') return FACILITY_DAEMON;
  if (v === 'user' || v === 'log_user') return 1;
  return undefined;
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
const two = (n: number) => String(n).padStart(2, '0');
const clock = (d: Date) => `${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}`;

/** RFC 3164's TIMESTAMP, local time: `Nov 30 15:16:09`, `Dec  1 08:00:00` (day space-padded). */
export function rfc3164Time(d: Date): string {
  return `${MONTHS[d.getMonth()]} ${String(d.getDate()).padStart(2, ' ')} ${clock(d)}`;
}

/** strftime's %c in the C locale, keepalived's console timestamp: `Mon Nov 30 15:16:09 2026`. */
export function consoleTime(d: Date): string {
  return `${DAYS[d.getDay()]} ${MONTHS[d.getMonth()]} ${String(d.getDate()).padStart(2, ' ')} ${clock(d)} ${d.getFullYear()}`;
}

/** One syslog datagram's text. */
export function formatSyslog(o: { facility: number; level: LogLevel; ident: string; pid: number; time: Date; message: string }): string {
  let msg = o.message;
  if (Buffer.byteLength(msg) > MAX_MESSAGE) msg = Buffer.from(msg).subarray(0, MAX_MESSAGE).toString('utf8').replace(/\uFFFD$/, '') + '...';
  return `<${o.facility * 8 + SEVERITY[o.level]}>${rfc3164Time(o.time)} ${o.ident}[${o.pid}]: ${msg}`;
}

export interface SyslogOptions {
  ident: string;
  /** Facility number (LOG_DAEMON = 3, local0..7 = 16..23). */
  facility?: number;
  /** The socket; default $VIGIL_SYSLOG_SOCKET, else /dev/log. */
  path?: string;
  now?: () => Date;
  /** Least wait between two connect attempts while the socket is missing. */
  retryMs?: number;
}

export class SyslogSink {
  readonly ident: string;
  readonly facility: number;
  readonly path: string;
  private fd = -1;
  private nextTry = 0;
  private readonly now: () => Date;
  private readonly retryMs: number;
  /** Lines that could not be delivered since the last one that was. */
  private lost = 0;
  /** Every line not delivered, for status and tests. */
  lostTotal = 0;

  constructor(o: SyslogOptions) {
    this.ident = o.ident;
    this.facility = o.facility ?? FACILITY_DAEMON;
    this.path = o.path ?? process.env.VIGIL_SYSLOG_SOCKET ?? DEFAULT_SYSLOG_SOCKET;
    this.now = o.now ?? (() => new Date());
    this.retryMs = o.retryMs ?? 1000;
  }

  /** Sends one message (each of its lines as a datagram). False when it was not delivered:
   * no socket, or the receiver is not keeping up. Never throws, never blocks. */
  log(level: LogLevel, message: string): boolean {
    try {
      const lines = message.split('\n').filter((l) => l.length > 0);
      let ok = true;
      for (const line of lines.length ? lines : ['']) ok = this.sendLine(level, line) && ok;
      return ok;
    } catch {
      this.lost++;
      this.lostTotal++;
      return false;
    }
  }

  private sendLine(level: LogLevel, message: string): boolean {
    if (this.lost > 0 && this.connected()) {
      // say what was lost before the next line, once the socket takes lines again
      const n = this.lost;
      this.lost = 0;
      if (!this.transmit('warn', `syslog: ${n} log line${n === 1 ? '' : 's'} could not be delivered to ${this.path} (socket missing or full)`)) this.lost += n;
    }
    if (this.transmit(level, message)) return true;
    this.lost++;
    this.lostTotal++;
    return false;
  }

  private transmit(level: LogLevel, message: string): boolean {
    if (!this.connected()) return false;
    const buf = Buffer.from(formatSyslog({ facility: this.facility, level, ident: this.ident, pid: process.pid, time: this.now(), message }), 'utf8');
    for (let attempt = 0; attempt < 2; attempt++) {
      if (c().send(this.fd, buf, buf.length, MSG_DONTWAIT | MSG_NOSIGNAL) >= 0) return true;
      const err = koffi.errno();
      if (err === EINTR) continue;
      if (err === EAGAIN || err === ENOBUFS) return false; // full: drop, never wait
      // ECONNREFUSED, ENOTCONN, ENOENT...: the receiver went away (restarted); a new socket at
      // the path gets this very line
      this.disconnect();
      this.nextTry = 0;
      if (attempt === 0 && this.connected()) continue;
      return false;
    }
    return false;
  }

  private connected(): boolean {
    if (this.fd >= 0) return true;
    const t = Date.now();
    if (t < this.nextTry) return false;
    this.nextTry = t + this.retryMs;
    const sa = sockaddrUnix(this.path);
    if (!sa) return false;
    const l = c();
    const fd = l.socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return false;
    if (l.connect(fd, sa.addr, sa.len) < 0) {
      l.close(fd);
      return false;
    }
    this.fd = fd;
    return true;
  }

  private disconnect(): void {
    if (this.fd >= 0) c().close(this.fd);
    this.fd = -1;
  }

  close(): void {
    try {
      this.disconnect();
    } catch {
      // nothing to do
    }
  }
}
