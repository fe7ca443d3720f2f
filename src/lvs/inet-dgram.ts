// Datagram sockets Node cannot open by itself, for UDP_CHECK and PING_CHECK: the socket is
// made through libc (koffi, the binding in src/net/unix-datagram.ts) with the options
// keepalived sets, then handed to node:dgram (`bind({ fd })`), which polls it on the event loop
// like any UDP socket. Pure JavaScript plus koffi, so it works inside the probe worker thread;
// the raw-socket addon does not (it is not context-aware and crashes a worker).
//
// - UDP with IP_RECVERR / IPV6_RECVERR (keepalived's udp_bind_connect): every ICMP error for
//   the connected peer (host unreachable after an ARP timeout too, not just port unreachable)
//   comes back as a receive error, which node:dgram emits as 'error'.
// - ICMP "ping" sockets (SOCK_DGRAM, IPPROTO_ICMP / IPPROTO_ICMPV6), keepalived's choice in
//   check_ping.c: the kernel sets the echo identifier to the socket's own and hands back only
//   the echo replies carrying it; no privilege needed beyond net.ipv4.ping_group_range (which
//   also governs ICMPv6). libuv takes it for a UDP socket (SO_TYPE is SOCK_DGRAM).

import dgram from 'node:dgram';
import { constants, endianness } from 'node:os';
import koffi from 'koffi';
import { libcCalls, SOCK_CLOEXEC, SOCK_DGRAM, SOCK_NONBLOCK } from '../net/unix-datagram.ts';
import { familyOf, ipToBytes } from '../vrrp/ipaddr.ts';

const AF_INET = 2;
const AF_INET6 = 10;
const IPPROTO_ICMP = 1;
const IPPROTO_UDP = 17;
const IPPROTO_ICMPV6 = 58;
const SOL_IP = 0;
const SOL_IPV6 = 41;
const IP_RECVERR = 11;
const IPV6_RECVERR = 25;

const ERRNO_NAMES = new Map(Object.entries(constants.errno).map(([name, n]) => [n, name]));

/** The last libc call's errno, by name (`EACCES`). */
function lastError(): string {
  const n = koffi.errno();
  return ERRNO_NAMES.get(n) ?? `errno ${n}`;
}

/** struct sockaddr_in / sockaddr_in6 for an address and port. */
function sockaddr(address: string, port: number): Buffer {
  const bytes = ipToBytes(address);
  const v6 = bytes.length === 16;
  const sa = Buffer.alloc(v6 ? 28 : 16);
  // sa_family is host order, the port network order
  if (endianness() === 'LE') sa.writeUInt16LE(v6 ? AF_INET6 : AF_INET, 0);
  else sa.writeUInt16BE(v6 ? AF_INET6 : AF_INET, 0);
  sa.writeUInt16BE(port, 2);
  bytes.copy(sa, v6 ? 8 : 4);
  return sa;
}

export interface DgramOptions {
  /** The peer; its family picks the socket's. */
  host: string;
  protocol: 'udp' | 'icmp';
  /** Local address (and, for UDP, port) to bind before connecting (bindto / bind_port). */
  bindto?: string | undefined;
  bindPort?: number | undefined;
}

/** A node:dgram socket over a libc socket made as above, bound as asked, not yet connected.
 * Throws with a short reason ("ICMP socket: EACCES") when the kernel refuses; nothing stays
 * open then. */
export function openDgram(o: DgramOptions): dgram.Socket {
  const family = familyOf(o.host);
  if (family === undefined) throw new Error(`'${o.host}' is not an IP address`);
  const v6 = family === 6;
  const proto = o.protocol === 'udp' ? IPPROTO_UDP : v6 ? IPPROTO_ICMPV6 : IPPROTO_ICMP;
  const c = libcCalls();
  const fd = c.socket(v6 ? AF_INET6 : AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, proto);
  if (fd < 0) {
    const why = lastError();
    throw new Error(o.protocol === 'icmp' && why === 'EACCES' ? 'ICMP socket: EACCES (see net.ipv4.ping_group_range)' : `${o.protocol.toUpperCase()} socket: ${why}`);
  }
  try {
    const on = Buffer.from(new Int32Array([1]).buffer); // an int 1, host order
    if (c.setsockopt(fd, v6 ? SOL_IPV6 : SOL_IP, v6 ? IPV6_RECVERR : IP_RECVERR, on, 4) < 0) throw new Error(`RECVERR: ${lastError()}`);
    if (o.bindto !== undefined || o.bindPort !== undefined) {
      const local = o.bindto ?? (v6 ? '::' : '0.0.0.0');
      if (familyOf(local) !== family) throw new Error(`bindto ${local} is not of the target's family`);
      // a ping socket's "port" is its echo identifier: let the kernel pick one
      const sa = sockaddr(local, o.protocol === 'udp' ? (o.bindPort ?? 0) : 0);
      if (c.bind(fd, sa, sa.length) < 0) throw new Error(`bind ${local}: ${lastError()}`);
    }
  } catch (e) {
    c.close(fd);
    throw e;
  }
  const socket = dgram.createSocket(v6 ? 'udp6' : 'udp4');
  try {
    socket.bind({ fd });
  } catch (e) {
    // bind({ fd }) throws before the handle takes the fd (not a datagram socket, open failed)
    c.close(fd);
    socket.close();
    throw e;
  }
  return socket;
}
