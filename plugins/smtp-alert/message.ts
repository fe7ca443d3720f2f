// keepalived's alert mails, pure: which event mails, its subject and body, and the message as
// keepalived writes it (core/smtp.c, vrrp/vrrp_notify.c, check/ipwrapper.c, check/check_tcp.c in
// keepalived 2.2.7).
//
// Subject: `[ROUTER_ID] VRRP Instance NAME - Entering MASTER state`, `[ROUTER_ID] VRRP Group NAME
// - ...`, `[ROUTER_ID] Realserver RS of virtual server VS - UP|DOWN`, `[ROUTER_ID] Virtualserver
// VS - UP|DOWN`; at most 255 characters, the body at most 511 (keepalived's buffers).
// Message: Date (local time, `%a, %d %b %Y %H:%M:%S %z`), From, Subject, `X-Mailer: Keepalived`,
// To (every recipient, `, ` between them), an empty line, the body and CRLF.

/** keepalived's MAX_HEADERS_LENGTH and MAX_BODY_LENGTH, less the terminating NUL. */
const MAX_SUBJECT = 255;
const MAX_BODY = 511;

import type { KeepalivedState as VrrpState } from '../_shared/keepalived-state.ts';

/** keepalived's state for a transition (`initialize` counts only at shutdown: STOP). */
export { keepalivedState as vrrpState, type KeepalivedState as VrrpState } from '../_shared/keepalived-state.ts';

export interface Alert {
  subject: string;
  body: string;
}

const INSTANCE: Record<VrrpState, [string, string]> = {
  MASTER: ['Entering MASTER state', '=> VRRP Instance is now owning VRRP VIPs <='],
  BACKUP: ['Entering BACKUP state', '=> VRRP Instance is no longer owning VRRP VIPs <='],
  FAULT: ['Entering FAULT state', '=> VRRP Instance is no longer owning VRRP VIPs <='],
  STOP: ['Stopping', '=> VRRP Instance stopping <='],
};

const GROUP: Record<VrrpState, [string, string]> = {
  MASTER: ['Entering MASTER state', '=> All VRRP group instances are now in MASTER state <='],
  BACKUP: ['Entering BACKUP state', '=> All VRRP group instances are now in BACKUP state <='],
  FAULT: ['Entering FAULT state', '=> All VRRP group instances are now in FAULT state <='],
  STOP: ['Stopping', '=> All VRRP group instances are now stopping <='],
};

const clip = (s: string, n: number) => (s.length > n ? s.slice(0, n) : s);
const alert = (subject: string, body: string): Alert => ({ subject: clip(subject, MAX_SUBJECT), body: clip(body, MAX_BODY) });


export function instanceAlert(routerId: string, instance: string, state: VrrpState): Alert {
  const [subject, body] = INSTANCE[state];
  return alert(`[${routerId}] VRRP Instance ${instance} - ${subject}`, body);
}

export function groupAlert(routerId: string, group: string, state: VrrpState): Alert {
  const [subject, body] = GROUP[state];
  return alert(`[${routerId}] VRRP Group ${group} - ${subject}`, body);
}

/** A real server's change, as the TCP_CHECK checker mails it (vigil runs no other checker);
 * `shutdown`: removed at the stop of an omega virtual server. */
export function realServerAlert(routerId: string, virtualServer: string, realServer: string, up: boolean, shutdown = false): Alert {
  const body = shutdown ? '=> Shutting down <=' : up ? '=> TCP CHECK succeed on service <=' : '=> TCP CHECK failed on service <=';
  return alert(`[${routerId}] Realserver ${realServer} of virtual server ${virtualServer} - ${up ? 'UP' : 'DOWN'}`, body);
}

/** A virtual server's quorum change. keepalived's threshold is quorum + hysteresis when the
 * quorum was down (so it is gained), quorum - hysteresis when it was up (lost). */
export function quorumAlert(
  routerId: string,
  e: { virtualServer: string; up: boolean; weight: number; quorum: number; hysteresis: number },
  how: { initial?: boolean; shutdown?: boolean } = {},
): Alert {
  const threshold = e.up ? e.quorum + e.hysteresis : e.quorum - e.hysteresis;
  const what = e.up ? (how.initial ? 'Starting with quorum up' : 'Gained quorum') : how.initial ? 'Starting with quorum down' : 'Lost quorum';
  const body = how.shutdown ? '=> Shutting down <=' : `=> ${what} ${e.quorum}+${e.hysteresis}=${threshold} <= ${e.weight} <=`;
  return alert(`[${routerId}] Virtualserver ${e.virtualServer} - ${e.up ? 'UP' : 'DOWN'}`, body);
}

const DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const two = (n: number) => String(n).padStart(2, '0');

/** strftime's `%a, %d %b %Y %H:%M:%S %z` in local time, C locale: `Mon, 01 Mar 2021 09:44:08 +0000`. */
export function rfc822Date(d: Date): string {
  const off = -d.getTimezoneOffset();
  const sign = off < 0 ? '-' : '+';
  const abs = Math.abs(off);
  const zone = `${sign}${two(Math.floor(abs / 60))}${two(abs % 60)}`;
  return `${DAYS[d.getDay()]}, ${two(d.getDate())} ${MONTHS[d.getMonth()]} ${d.getFullYear()} ${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())} ${zone}`;
}

/** The SMTP envelope address of a configured address: the part in <...> of `Name <a@b>`, else
 * the whole (keepalived's mail_cmd / rcpt_cmd). */
export function envelopeAddress(addr: string): string {
  const a = addr.trim();
  if (a.endsWith('>')) {
    const i = a.lastIndexOf('<');
    if (i >= 0) return a.slice(i + 1, -1);
  }
  return a;
}

/** The whole message, CRLF line ends, as keepalived's body_cmd writes it before the final
 * `.`: headers, an empty line, the body and CRLF. */
export function formatMessage(a: Alert, from: string, to: readonly string[], date: Date): string {
  return `Date: ${rfc822Date(date)}\r\nFrom: ${from}\r\nSubject: ${a.subject}\r\nX-Mailer: Keepalived\r\nTo: ${to.join(', ')}\r\n\r\n${a.body}\r\n`;
}
