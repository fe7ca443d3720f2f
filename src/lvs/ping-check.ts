// PING_CHECK (keepalived check_ping.c): one ICMP (IPv4) or ICMPv6 echo request with keepalived's
// 128-byte payload, from an unprivileged ICMP datagram socket (inet-dgram.ts; bound to bindto
// when set). The kernel fills in the identifier (the socket's own) and the checksum, and hands
// this socket only echo replies with that identifier. Pass: an echo reply with our sequence
// within connect_timeout. Fail: the timeout, an ICMP error the kernel matched to our request
// (destination unreachable, time exceeded: IP_RECVERR turns them into socket errors), or any
// other packet (keepalived fails on another type or sequence too).
//
// A fresh socket per attempt, where keepalived keeps one per checker: so the identifier differs
// between attempts and a late reply to an earlier attempt cannot reach this one.
// The socket needs the process's group inside net.ipv4.ping_group_range (which also governs
// ICMPv6). The balancer widens that range when it starts a PING_CHECK, as keepalived does
// (ping-group.ts); if it could not, an attempt reports "ICMP socket: EACCES (see
// net.ipv4.ping_group_range)".

import { randomInt } from 'node:crypto';
import { isIPv6 } from 'node:net';
import type { PingCheck, ProbeResult } from './checks.ts';
import { openDgram } from './inet-dgram.ts';
import { datagramErrorWords, runAttempt } from './probe-attempt.ts';

const ECHO_REQUEST = { 4: 8, 6: 128 } as const;
const ECHO_REPLY = { 4: 0, 6: 129 } as const;
/** keepalived's ICMP_BUFSIZE and its filler text (layer4.c set_buf). */
const PAYLOAD = Buffer.from('keepalived check - '.repeat(7).slice(0, 128));
/** Any destination port: ping sockets ignore it, node:dgram wants one. */
const ANY_PORT = 1;

/** The echo request: type, code 0, checksum and identifier left 0 for the kernel, sequence. */
export function echoRequest(family: 4 | 6, sequence: number): Buffer {
  const msg = Buffer.alloc(8 + PAYLOAD.length);
  msg[0] = ECHO_REQUEST[family];
  msg.writeUInt16BE(sequence, 6);
  PAYLOAD.copy(msg, 8);
  return msg;
}

/** Why `msg` (ICMP header on) is not the echo reply to `sequence`, or undefined when it is. */
export function echoMismatch(family: 4 | 6, sequence: number, msg: Uint8Array): string | undefined {
  if (msg.length < 8) return `short ICMP packet of ${msg.length} bytes`;
  const type = msg[0] ?? 0;
  if (type !== ECHO_REPLY[family]) return `ICMP${family === 6 ? 'v6' : ''} type ${type} code ${msg[1] ?? 0}, not an echo reply`;
  const seq = ((msg[6] ?? 0) << 8) | (msg[7] ?? 0);
  if (seq !== sequence) return `echo reply sequence ${seq}, expected ${sequence}`;
  return undefined;
}

export function pingProbe(check: PingCheck, signal?: AbortSignal): Promise<ProbeResult> {
  const onTimeout = (a: { fail(e: string): void }) => a.fail(`no echo reply within ${check.timeoutMs} ms`);
  return runAttempt({ timeoutMs: check.timeoutMs, signal, onTimeout }, (a) => {
    const family = isIPv6(check.host) ? 6 : 4;
    const sequence = randomInt(0, 0x10000);
    const socket = openDgram({ host: check.host, protocol: 'icmp', bindto: check.bindto });
    a.defer(() => socket.close());
    socket.on('error', (e: NodeJS.ErrnoException) => a.fail(datagramErrorWords(e)));
    socket.on('message', (msg) => {
      const why = echoMismatch(family, sequence, msg);
      if (why === undefined) a.pass();
      else a.fail(why);
    });
    socket.send(echoRequest(family, sequence), ANY_PORT, check.host, (e) => {
      if (e && !a.ended()) a.fail(datagramErrorWords(e));
    });
  });
}
