// UDP_CHECK (keepalived check_udp.c, core/layer4.c): the payload goes out once from a connected
// socket with IP_RECVERR (inet-dgram.ts), bound to bindto:bind_port when set.
// - Without require_reply: any reply passes, and so does silence until connect_timeout; an
//   ICMP error for the socket (port or host unreachable) fails.
// - With require_reply: a reply is needed (silence fails). With a HEX value too, the reply must
//   be min_reply_length..max_reply_length bytes long and equal the pattern over the shorter of
//   the two lengths, an X nibble matching anything. keepalived 2.2.7 applies the length limits
//   only when there is a HEX value, and so does vigil.
// The first datagram decides, as keepalived reads exactly one.

import type { ProbeResult, UdpCheck } from './checks.ts';
import { openDgram } from './inet-dgram.ts';
import { datagramErrorWords, runAttempt } from './probe-attempt.ts';

/** Why `reply` does not match (keepalived check_udp_reply), or undefined when it does.
 * `pattern`: lowercase hex pairs, X for a wildcard nibble (resolve.ts / parseHex). */
export function udpReplyMismatch(reply: Uint8Array, pattern: string, minLength: number, maxLength: number): string | undefined {
  if (reply.length < minLength) return `reply of ${reply.length} bytes is shorter than ${minLength}`;
  if (reply.length > maxLength) return `reply of more than ${maxLength} bytes`;
  const n = Math.min(reply.length, pattern.length / 2);
  for (let i = 0; i < n; i++) {
    const byte = reply[i] ?? 0;
    const hi = pattern[2 * i] ?? 'X';
    const lo = pattern[2 * i + 1] ?? 'X';
    const hiOk = hi === 'X' || parseInt(hi, 16) === byte >> 4;
    const loOk = lo === 'X' || parseInt(lo, 16) === (byte & 0x0f);
    if (!hiOk || !loOk) {
      const got = byte.toString(16).padStart(2, '0');
      return `reply byte ${i} is ${got}, not ${hi}${lo}`;
    }
  }
  return undefined;
}

export function udpProbe(check: UdpCheck, signal?: AbortSignal): Promise<ProbeResult> {
  const onTimeout = (a: { pass(): void; fail(e: string): void }) =>
    check.requireReply ? a.fail(`no reply within ${check.timeoutMs} ms`) : a.pass(); // silence is health here, as in keepalived
  return runAttempt({ timeoutMs: check.timeoutMs, signal, onTimeout }, (a) => {
    const socket = openDgram({ host: check.host, protocol: 'udp', bindto: check.bindto, bindPort: check.bindPort });
    a.defer(() => socket.close());
    socket.on('error', (e: NodeJS.ErrnoException) => a.fail(datagramErrorWords(e)));
    socket.on('message', (msg) => {
      if (!check.requireReply || check.replyPattern === undefined) return a.pass();
      const why = udpReplyMismatch(msg, check.replyPattern, check.minReplyLength, check.maxReplyLength);
      if (why === undefined) a.pass();
      else a.fail(why);
    });
    socket.connect(check.port, check.host, (err?: Error) => {
      if (a.ended()) return;
      if (err) return a.fail(datagramErrorWords(err));
      socket.send(Buffer.from(check.payloadHex, 'hex'), (e) => {
        if (e && !a.ended()) a.fail(datagramErrorWords(e));
      });
    });
  });
}
