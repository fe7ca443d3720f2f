// A minimal reader for the classic pcap files tcpdump writes (-w), Ethernet link type only:
// just enough to pull VRRP packets (IPv4 protocol 112, IPv6 next header 112) and unsolicited
// Neighbor Advertisements off a capture.

import { bytesToIp } from '../../src/vrrp/ipaddr.ts';
import { parseIpv4Packet } from '../../src/vrrp/packet.ts';
import type { Family } from '../../src/vrrp/types.ts';

export interface CapturedVrrp {
  family: Family;
  src: string;
  dst: string;
  /** TTL or hop limit as seen on the wire. */
  ttl: number;
  /** IPv4 TOS byte or IPv6 traffic class as seen on the wire. */
  tos: number;
  /** The VRRP message, without IP header. */
  vrrp: Buffer;
  srcMac: string;
  dstMac: string;
  /** Capture time in microseconds (the pcap record's seconds and fraction; tcpdump writes
   * microseconds unless asked for nanoseconds). */
  ts: number;
}

const LINKTYPE_ETHERNET = 1;

export function readPcapVrrp(file: Buffer): CapturedVrrp[] {
  const out: CapturedVrrp[] = [];
  for (const { ts, frame } of pcapFrames(file)) {
    const mac = (o: number) => macAt(frame, o);
    const ethertype = frame.readUInt16BE(12);
    const ip = frame.subarray(14);
    if (ethertype === 0x0800) {
      const p = parseIpv4Packet(ip);
      if (p.ok) out.push({ family: 4, src: p.src, dst: p.dst, ttl: p.ttl, tos: ip[1] ?? 0, vrrp: p.payload, srcMac: mac(6), dstMac: mac(0), ts });
    } else if (ethertype === 0x86dd && ip.length >= 40 && ip[6] === 112) {
      const len = ip.readUInt16BE(4);
      out.push({
        family: 6,
        src: bytesToIp(ip, 8, 6),
        dst: bytesToIp(ip, 24, 6),
        ttl: ip[7] ?? 0,
        tos: ipv6TrafficClass(ip),
        vrrp: Buffer.from(ip.subarray(40, 40 + len)),
        srcMac: mac(6),
        dstMac: mac(0),
        ts,
      });
    }
  }
  return out;
}

export interface CapturedNa {
  src: string;
  dst: string;
  hopLimit: number;
  trafficClass: number;
  target: string;
  router: boolean;
  solicited: boolean;
  override: boolean;
  srcMac: string;
  ts: number;
}

/** Neighbor Advertisements (ICMPv6 type 136 right after a fixed IPv6 header). */
export function readPcapNa(file: Buffer): CapturedNa[] {
  const out: CapturedNa[] = [];
  for (const { ts, frame } of pcapFrames(file)) {
    const ip = frame.subarray(14);
    if (frame.readUInt16BE(12) !== 0x86dd || ip.length < 40 + 24 || ip[6] !== 58 || ip[40] !== 136) continue;
    const flags = ip[44] ?? 0;
    out.push({
      src: bytesToIp(ip, 8, 6),
      dst: bytesToIp(ip, 24, 6),
      hopLimit: ip[7] ?? 0,
      trafficClass: ipv6TrafficClass(ip),
      target: bytesToIp(ip, 48, 6),
      router: (flags & 0x80) !== 0,
      solicited: (flags & 0x40) !== 0,
      override: (flags & 0x20) !== 0,
      srcMac: macAt(frame, 6),
      ts,
    });
  }
  return out;
}

function ipv6TrafficClass(ip: Buffer): number {
  return (((ip[0] ?? 0) & 0x0f) << 4) | ((ip[1] ?? 0) >> 4);
}

function macAt(frame: Buffer, o: number): string {
  return [...frame.subarray(o, o + 6)].map((b) => b.toString(16).padStart(2, '0')).join(':');
}

/** The Ethernet frames of a capture with their times in microseconds (the pcap record's
 * seconds and fraction; tcpdump writes microseconds unless asked for nanoseconds). */
function* pcapFrames(file: Buffer): Generator<{ ts: number; frame: Buffer }> {
  if (file.length < 24) return;
  const magic = file.readUInt32LE(0);
  const le = magic === 0xa1b2c3d4 || magic === 0xa1b23c4d;
  if (!le && file.readUInt32BE(0) !== 0xa1b2c3d4 && file.readUInt32BE(0) !== 0xa1b23c4d) {
    throw new Error('not a pcap file');
  }
  const u32 = (o: number) => (le ? file.readUInt32LE(o) : file.readUInt32BE(o));
  const nano = u32(0) === 0xa1b23c4d;
  if (u32(20) !== LINKTYPE_ETHERNET) throw new Error(`link type ${u32(20)} is not Ethernet`);
  for (let off = 24; off + 16 <= file.length; ) {
    const ts = u32(off) * 1_000_000 + (nano ? Math.floor(u32(off + 4) / 1000) : u32(off + 4));
    const caplen = u32(off + 8);
    const frame = file.subarray(off + 16, off + 16 + caplen);
    off += 16 + caplen;
    if (frame.length >= 14) yield { ts, frame };
  }
}
