// A VRRP socket for one interface and one address family: IP protocol 112 over raw-socket.
//
// Sending: the kernel writes the IP header (or, for IPv4 from a chosen source, we do); we set
// the multicast interface, TTL / hop limit 255 and TOS / traffic class 0xc0 (internetwork
// control, as keepalived and FRR send), and the socket is bound to the device so several
// instances on several interfaces never hear each other's traffic.
// Receiving: the socket hands over what it read, unparsed (vrrp/receive.ts parses it, in one
// place). IPv4 raw sockets deliver the IP header, so the TTL is checked there and a packet that
// is not 255 counted (RFC 5798 7.1). raw-socket cannot hand us the IPv6 hop limit (it has no
// recvmsg ancillary data), so for IPv6 IPV6_MINHOPCOUNT makes the kernel drop such packets.

import { readFileSync } from 'node:fs';
import raw, { type RawSocket } from 'raw-socket';
import { ipToBytes } from '../vrrp/ipaddr.ts';
import type { Frame } from '../vrrp/receive.ts';
import { IPPROTO_VRRP, VRRP_GROUP_V4, VRRP_GROUP_V6, VRRP_TOS, VRRP_TTL, type Family } from '../vrrp/types.ts';

// Linux socket option numbers (include/uapi/linux/in.h, in6.h, asm-generic/socket.h).
const SOL_SOCKET = 1;
const SO_BINDTODEVICE = 25;
const IPPROTO_IP = 0;
const IP_MULTICAST_IF = 32;
const IP_MULTICAST_TTL = 33;
const IP_MULTICAST_LOOP = 34;
const IP_ADD_MEMBERSHIP = 35;
const IP_TOS = 1;
const IP_TTL = 2;
const IP_HDRINCL = 3;
const IPPROTO_IPV6 = 41;
const IPV6_UNICAST_HOPS = 16;
const IPV6_MULTICAST_IF = 17;
const IPV6_MULTICAST_HOPS = 18;
const IPV6_MULTICAST_LOOP = 19;
const IPV6_JOIN_GROUP = 20;
const IPV6_TCLASS = 67;
const IPV6_MINHOPCOUNT = 73;

export interface VrrpSocketOptions {
  family: Family;
  interface: string;
  /** The multicast group to join (default 224.0.0.18 / ff02::12); none with unicast only. */
  group?: string | null;
  /** Every packet read, unparsed (see vrrp/receive.ts). `frame.bytes` is raw-socket's receive
   * buffer, which the next packet overwrites: valid during this call only. */
  onFrame(frame: Frame): void;
  onError?(e: Error): void;
  /** IPv4: send from this address (keepalived's unicast_src_ip) rather than the one the kernel
   * would pick. raw-socket cannot bind(), so the socket writes the IP header itself. */
  source?: string | undefined;
}

export function interfaceIndex(name: string): number {
  const text = readFileSync(`/sys/class/net/${name}/ifindex`, 'utf8');
  return Number(text.trim());
}

export class VrrpSocket {
  private readonly sock: RawSocket;
  private closed = false;
  private pending = 0;
  private drained: Array<() => void> = [];
  /** raw-socket's native socket, for synchronous sends (see send()). */
  private readonly native: NativeSocket | undefined;

  constructor(private readonly opts: VrrpSocketOptions) {
    const ifindex = interfaceIndex(opts.interface);
    const v6 = opts.family === 6;
    this.sock = raw.createSocket({
      addressFamily: v6 ? raw.AddressFamily.IPv6 : raw.AddressFamily.IPv4,
      protocol: IPPROTO_VRRP,
    });
    const dev = Buffer.from(`${opts.interface}\0`);
    this.sock.setOption(SOL_SOCKET, SO_BINDTODEVICE, dev, dev.length);
    const group = opts.group === undefined ? (v6 ? VRRP_GROUP_V6 : VRRP_GROUP_V4) : opts.group;
    if (v6) {
      this.sock.setOption(IPPROTO_IPV6, IPV6_MULTICAST_HOPS, VRRP_TTL);
      this.sock.setOption(IPPROTO_IPV6, IPV6_UNICAST_HOPS, VRRP_TTL);
      this.sock.setOption(IPPROTO_IPV6, IPV6_MULTICAST_IF, ifindex);
      this.sock.setOption(IPPROTO_IPV6, IPV6_MULTICAST_LOOP, 0);
      this.sock.setOption(IPPROTO_IPV6, IPV6_MINHOPCOUNT, VRRP_TTL);
      this.sock.setOption(IPPROTO_IPV6, IPV6_TCLASS, VRRP_TOS);
      if (group) {
        const mreq = Buffer.alloc(20);
        ipToBytes(group).copy(mreq, 0);
        mreq.writeUInt32LE(ifindex, 16);
        this.sock.setOption(IPPROTO_IPV6, IPV6_JOIN_GROUP, mreq, mreq.length);
      }
    } else {
      this.sock.setOption(IPPROTO_IP, IP_MULTICAST_TTL, VRRP_TTL);
      this.sock.setOption(IPPROTO_IP, IP_TTL, VRRP_TTL);
      this.sock.setOption(IPPROTO_IP, IP_TOS, VRRP_TOS); // with IP_HDRINCL our header's TOS byte counts
      if (opts.source) this.sock.setOption(IPPROTO_IP, IP_HDRINCL, 1);
      this.sock.setOption(IPPROTO_IP, IP_MULTICAST_LOOP, 0);
      const mreqn = Buffer.alloc(12); // struct ip_mreqn: group, local address (any), ifindex
      mreqn.writeInt32LE(ifindex, 8);
      this.sock.setOption(IPPROTO_IP, IP_MULTICAST_IF, mreqn, mreqn.length);
      if (group) {
        ipToBytes(group).copy(mreqn, 0);
        this.sock.setOption(IPPROTO_IP, IP_ADD_MEMBERSHIP, mreqn, mreqn.length);
      }
    }
    this.native = nativeOf(this.sock);
    const family = opts.family;
    const joined = group ?? '';
    this.sock.on('message', (bytes, source) => opts.onFrame({ family, bytes, source, group: joined }));
    this.sock.on('error', (e) => opts.onError?.(e));
  }

  /** Sends one VRRP message; errors are reported, never thrown (the next advert will retry).
   * The message goes out now, in this very call: raw-socket's own send() queues it and writes
   * one queued message per writable poll event (two epoll_ctl and two wake-ups per advert, and
   * a burst of N adverts on one socket drains over N turns of the event loop, each later than
   * its timer). Its native sendto is synchronous, so it is called directly; only when that
   * fails (a full socket buffer) or earlier sends still wait does the message take the queued
   * path, which retries on writability and reports a lasting error through onError. */
  send(dst: string, payload: Buffer): void {
    if (this.closed) return;
    const bytes = this.opts.source ? ipv4Header(this.opts.source, dst, payload) : payload;
    if (this.pending === 0 && this.native) {
      try {
        this.native.send(bytes, 0, bytes.length, dst, noop);
        return;
      } catch {
        // queued below: raw-socket's path reports the error if it persists
      }
    }
    this.pending++;
    this.sock.send(bytes, 0, bytes.length, dst, null, (err) => {
      if (err) this.opts.onError?.(err);
      if (--this.pending === 0) for (const done of this.drained.splice(0)) done();
    });
  }

  /** Closes once every queued send has gone out (a stopping Master's priority-0 advert must
   * leave before its socket closes). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.pending > 0) await new Promise<void>((resolve) => this.drained.push(resolve));
    this.sock.close();
  }
}

/** The native half of a raw-socket socket (raw-socket 1.x: `socket.wrap`, whose send() calls
 * sendto at once and throws on failure). Not part of raw-socket's documented API, so checked:
 * without it every send takes the documented queued path. */
export interface NativeSocket {
  send(buffer: Buffer, offset: number, length: number, address: string, done: (bytes: number) => void): void;
}

export function nativeOf(sock: RawSocket): NativeSocket | undefined {
  const wrap = (sock as unknown as { wrap?: { send?: unknown } }).wrap;
  return wrap && typeof wrap.send === 'function' ? (wrap as NativeSocket) : undefined;
}

const noop = () => undefined;

/** An IPv4 header for IP_HDRINCL sends: TOS 0xc0, TTL 255, protocol 112; the kernel fills in
 * the total length's byte order, the id and the header checksum. */
function ipv4Header(src: string, dst: string, payload: Buffer): Buffer {
  const ip = Buffer.alloc(20 + payload.length);
  ip[0] = 0x45;
  ip[1] = VRRP_TOS;
  ip.writeUInt16BE(ip.length, 2);
  ip[8] = VRRP_TTL;
  ip[9] = IPPROTO_VRRP;
  ipToBytes(src).copy(ip, 12);
  ipToBytes(dst).copy(ip, 16);
  payload.copy(ip, 20);
  return ip;
}
