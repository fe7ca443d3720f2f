// DNS_CHECK (keepalived check_dns.c): one UDP query from a connected socket to the target
// (connect_ip:connect_port, bound to bindto:bind_port when set); the first reply with our ID
// and QR set decides: RCODE 0 and our question pass (dns-message.ts has the rules). Datagrams
// with another ID, queries and runts are ignored until the timeout, as keepalived ignores them.
// An ICMP error for the socket (port unreachable) fails at once, as keepalived's failed read.

import dgram from 'node:dgram';
import { randomInt } from 'node:crypto';
import { isIPv6 } from 'node:net';
import type { DnsCheck, ProbeResult } from './checks.ts';
import { encodeQuery, judgeReply } from './dns-message.ts';
import { datagramErrorWords, runAttempt } from './probe-attempt.ts';

export function dnsProbe(check: DnsCheck, signal?: AbortSignal): Promise<ProbeResult> {
  const onTimeout = (a: { fail(e: string): void }) => a.fail(`no reply within ${check.timeoutMs} ms`);
  return runAttempt({ timeoutMs: check.timeoutMs, signal, onTimeout }, (a) => {
    const query = encodeQuery(randomInt(0, 0x10000), check.query, check.type);
    const socket = dgram.createSocket(isIPv6(check.host) ? 'udp6' : 'udp4');
    a.defer(() => socket.close());
    socket.on('error', (e: NodeJS.ErrnoException) => a.fail(datagramErrorWords(e)));
    socket.on('message', (msg) => {
      const v = judgeReply(query, msg);
      if (v.t === 'pass') a.pass();
      else if (v.t === 'fail') a.fail(v.error);
    });
    const send = () => {
      socket.connect(check.port, check.host, (err?: Error) => {
        if (a.ended()) return;
        if (err) return a.fail(datagramErrorWords(err));
        socket.send(query, (e) => {
          if (e && !a.ended()) a.fail(datagramErrorWords(e));
        });
      });
    };
    if (check.bindto !== undefined || check.bindPort !== undefined) socket.bind({ address: check.bindto, port: check.bindPort ?? 0 }, send);
    else send();
  });
}
