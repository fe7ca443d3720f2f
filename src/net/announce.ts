// Announcing virtual addresses after a takeover, so switches and neighbours learn at once where
// they live: gratuitous ARP for IPv4 (sender = target = VIP, broadcast, from the interface MAC)
// and unsolicited Neighbor Advertisements for IPv6 (override flag, to ff02::1, hop limit 255;
// the router flag too while IPv6 forwarding is on for the interface, as keepalived does).
//
// ARP frames need an AF_PACKET socket, which raw-socket cannot open; koffi (a maintained FFI
// with prebuilt binaries) calls libc's socket/sendto/close for it, with no native code of ours.
// Neighbor Advertisements go through an ICMPv6 raw socket (raw-socket), where the kernel fills
// in the checksum.

import { readFileSync } from 'node:fs';
import koffi from 'koffi';
import raw from 'raw-socket';
import { ipToBytes } from '../vrrp/ipaddr.ts';
import { interfaceIndex, nativeOf } from './socket.ts';

const AF_PACKET = 17;
const SOCK_RAW = 3;
const ETH_P_ARP = 0x0806;
const IPPROTO_ICMPV6 = 58;
const IPPROTO_IPV6 = 41;
const IPV6_MULTICAST_IF = 17;
const IPV6_MULTICAST_HOPS = 18;
const SOL_SOCKET = 1;
const SO_BINDTODEVICE = 25;

let libc: { socket: (a: number, b: number, c: number) => number; sendto: (...a: unknown[]) => number; close: (fd: number) => number } | undefined;

function c() {
  if (!libc) {
    const lib = koffi.load('libc.so.6');
    libc = {
      socket: lib.func('int socket(int, int, int)') as (a: number, b: number, c: number) => number,
      sendto: lib.func('long sendto(int, const uint8_t *buf, size_t, int, const uint8_t *addr, uint32_t)') as (...a: unknown[]) => number,
      close: lib.func('int close(int)') as (fd: number) => number,
    };
  }
  return libc;
}

/** One AF_PACKET socket for every gratuitous ARP the process sends. Opened with protocol 0,
 * so it receives nothing, and never closed: closing a packet socket waits for an RCU grace
 * period (synchronize_net, milliseconds), and a socket per announcement made a thousand
 * instances taking over at once block the engine for seconds. The frame's interface is given
 * per send (sockaddr_ll). */
let arpFd: number | undefined;

function packetSocket(): number {
  if (arpFd !== undefined) return arpFd;
  const fd = c().socket(AF_PACKET, SOCK_RAW, 0);
  if (fd < 0) throw new Error('cannot open an AF_PACKET socket for gratuitous ARP');
  arpFd = fd;
  return fd;
}

export function interfaceMac(ifname: string): Buffer {
  const text = readFileSync(`/sys/class/net/${ifname}/address`, 'utf8').trim();
  return Buffer.from(text.split(':').map((h) => parseInt(h, 16)));
}

/** The Ethernet frame of a gratuitous ARP request for `vip`. */
export function garpFrame(mac: Buffer, vip: string): Buffer {
  const f = Buffer.alloc(42);
  f.fill(0xff, 0, 6); // broadcast
  mac.copy(f, 6);
  f.writeUInt16BE(ETH_P_ARP, 12);
  f.writeUInt16BE(1, 14); // Ethernet
  f.writeUInt16BE(0x0800, 16); // IPv4
  f[18] = 6;
  f[19] = 4;
  f.writeUInt16BE(1, 20); // request, as keepalived sends it
  mac.copy(f, 22);
  ipToBytes(vip).copy(f, 28);
  f.fill(0xff, 32, 38);
  ipToBytes(vip).copy(f, 38);
  return f;
}

const NA_ROUTER = 0x80000000;
const NA_OVERRIDE = 0x20000000;

/** Whether the interface forwards IPv6, read now: keepalived sets the NA router flag from
 * net.ipv6.conf.IFNAME.forwarding (which net.ipv6.conf.all.forwarding also writes). If the
 * interface has no entry of its own, `all` decides. */
export function ipv6Forwarding(ifname: string): boolean {
  for (const conf of [ifname, 'all']) {
    try {
      return readFileSync(`/proc/sys/net/ipv6/conf/${conf}/forwarding`, 'utf8').trim() !== '0';
    } catch {
      // no such entry: try the next
    }
  }
  return false;
}

/** The ICMPv6 body of an unsolicited Neighbor Advertisement for `vip` (checksum left to the
 * kernel): Override set, Solicited clear, Router set when `router` (the sender forwards). */
export function unsolicitedNa(mac: Buffer, vip: string, router = false): Buffer {
  const m = Buffer.alloc(32);
  m[0] = 136; // Neighbor Advertisement
  m.writeUInt32BE((router ? NA_ROUTER : 0) + NA_OVERRIDE, 4);
  ipToBytes(vip).copy(m, 8);
  m[24] = 2; // option: target link-layer address
  m[25] = 1; // 8 octets
  mac.copy(m, 26);
  return m;
}

/** Sends one gratuitous ARP per IPv4 VIP and one unsolicited NA per IPv6 VIP on `ifname`.
 * Throws with the interface named if the kernel refuses. */
export async function announce(ifname: string, vips: string[]): Promise<void> {
  const mac = interfaceMac(ifname);
  const v4 = vips.filter((v) => !v.includes(':'));
  const v6 = vips.filter((v) => v.includes(':'));
  if (v4.length > 0) {
    const lc = c();
    const fd = packetSocket();
    const sll = Buffer.alloc(20); // struct sockaddr_ll
    sll.writeUInt16LE(AF_PACKET, 0);
    sll.writeUInt16BE(ETH_P_ARP, 2);
    sll.writeInt32LE(interfaceIndex(ifname), 4);
    sll[11] = 6;
    sll.fill(0xff, 12, 18);
    for (const vip of v4) {
      const frame = garpFrame(mac, vip);
      if (lc.sendto(fd, frame, frame.length, 0, sll, sll.length) < 0) throw new Error(`${ifname}: gratuitous ARP for ${vip} failed`);
    }
  }
  if (v6.length > 0) {
    const sock = raw.createSocket({ addressFamily: raw.AddressFamily.IPv6, protocol: IPPROTO_ICMPV6 });
    try {
      const dev = Buffer.from(`${ifname}\0`);
      sock.setOption(SOL_SOCKET, SO_BINDTODEVICE, dev, dev.length);
      sock.setOption(IPPROTO_IPV6, IPV6_MULTICAST_HOPS, 255);
      sock.setOption(IPPROTO_IPV6, IPV6_MULTICAST_IF, interfaceIndex(ifname));
      const router = ipv6Forwarding(ifname);
      // sent in the call, as the gratuitous ARPs are: raw-socket's own send() queues each message
      // until a writable poll event, and a socket closed meanwhile (or a poll event that never
      // came) lost the NAs without an error (seen as a Master's NAs missing from the wire in 1 of
      // ~6 starts of four instances at once)
      const native = nativeOf(sock);
      for (const vip of v6) {
        const na = unsolicitedNa(mac, vip, router);
        if (native) {
          try {
            native.send(na, 0, na.length, 'ff02::1', () => undefined);
            continue;
          } catch (e) {
            throw new Error(`${ifname}: neighbor advertisement for ${vip}: ${(e as Error).message}`);
          }
        }
        await new Promise<void>((resolve, reject) =>
          sock.send(na, 0, na.length, 'ff02::1', null, (err) => (err ? reject(new Error(`${ifname}: neighbor advertisement for ${vip}: ${err.message}`)) : resolve())),
        );
      }
    } finally {
      sock.close();
    }
  }
}
