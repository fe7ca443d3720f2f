// The receive path, in one place: what a VRRP socket read becomes, either a decoded advert for
// one instance or a drop with its reason (DESIGN.md rule 5: every drop is counted).
//
//   frame (IPv4: with its IP header)
//     -> IP layer: header checks, protocol 112, source, destination, TTL   ('interface' drops)
//     -> VRID: the instance it is for                                     ('interface' drop)
//     -> decodeAdvert with that instance's settings: TTL, version, type, length, checksum, auth
//     -> that instance's checks: family and version, its own advert, unicast peers, owner
//                                                                          ('instance' drops)
//
// The socket does no parsing (it hands over the bytes it read), the instance no decoding (it
// takes the decoded advert); the simulated LAN, which has no IP header, enters at acceptAdvert.
// Pure: no I/O, no clock. The bytes are read during the call only (a socket's receive buffer is
// lent, not given), and nothing here copies them.

import { decodeAdvert, parseIpv4Packet, type DecodeOptions, type RejectReason } from './packet.ts';
import type { Advert, Family, VrrpVersion } from './types.ts';

/** Why a received packet was dropped before a state machine saw it. */
export type DropReason = RejectReason | 'vrid-mismatch' | 'family-mismatch' | 'own-advert' | 'address-owner' | 'not-a-peer';

/** What a socket read: the bytes as the kernel gave them (a raw IPv4 socket includes the IP
 * header; IPv6 does not) and what the socket knows of where they came from. */
export interface Frame {
  family: Family;
  bytes: Uint8Array;
  /** IPv6: the sender as the socket reports it (may carry a `%scope`). IPv4 reads the header. */
  source: string;
  /** IPv6: the group the socket joined ('' without one). IPv4 reads the header. */
  group: string;
}

/** Addressing of a VRRP message, as the IP layer carried it. */
export interface ReceiveMeta {
  src: string;
  dst: string;
  /** TTL / hop limit of the received packet, when the socket reports it (IPv4). */
  ttl?: number;
}

/** What a receiving instance expects of adverts; built when its settings change, not per packet. */
export interface ReceiveProfile {
  vrid: number;
  family: Family;
  version: VrrpVersion;
  /** Its own address: adverts from it are its own, looped back. */
  primaryAddress: string;
  /** With unicast peers, adverts from anyone else are dropped. Empty = accept any sender. */
  acceptFrom: readonly string[] | undefined;
  /** RFC 5798 7.1: the address owner discards adverts for its VRID. */
  owner: boolean;
  decode: Omit<DecodeOptions, 'src' | 'dst' | 'ttl'>;
}

export type Accepted = { ok: true; advert: Advert; from: string } | { ok: false; reason: DropReason; detail: string };

/** A frame's fate. A drop with no `target` happened before any instance (counted under the
 * interface); one with a `target` is that instance's to count. */
export type Received<T> =
  | { ok: true; target: T; advert: Advert; from: string }
  | { ok: false; target: T | undefined; reason: DropReason; detail: string };

/** One VRRP message (no IP header) checked against one instance's profile. */
export function acceptAdvert(bytes: Uint8Array, meta: ReceiveMeta, p: ReceiveProfile): Accepted {
  const decoded = decodeAdvert(bytes, { ...p.decode, src: meta.src, dst: meta.dst, ...(meta.ttl !== undefined ? { ttl: meta.ttl } : {}) });
  if (!decoded.ok) return decoded;
  const advert = decoded.advert;
  if (advert.vrid !== p.vrid) return drop('vrid-mismatch', `vrid ${advert.vrid}`);
  if (advert.family !== p.family || advert.version !== p.version) return drop('family-mismatch', `v${advert.version} IPv${advert.family}`);
  if (meta.src === p.primaryAddress) return drop('own-advert', meta.src);
  if (p.acceptFrom && p.acceptFrom.length > 0 && !p.acceptFrom.includes(meta.src)) return drop('not-a-peer', meta.src);
  if (p.owner) return drop('address-owner', meta.src);
  return { ok: true, advert, from: meta.src };
}

/** A VRRP message with its addressing, IP layer done. */
export interface Packet extends ReceiveMeta {
  /** The VRRP message: a view of the frame's bytes, not a copy. */
  bytes: Uint8Array;
}

/** The IP layer of a frame: IPv4's header checked (protocol 112) and read; IPv6's sender without
 * its scope (the kernel enforced hop limit 255 with IPV6_MINHOPCOUNT, see net/socket.ts; the
 * destination is the group joined, or us). */
export function readIpLayer(frame: Frame): ({ ok: true } & Packet) | { ok: false; reason: DropReason; detail: string } {
  if (frame.family === 4) {
    const ip = parseIpv4Packet(frame.bytes);
    if (!ip.ok) return ip;
    return { ok: true, bytes: ip.payload, src: ip.src, dst: ip.dst, ttl: ip.ttl };
  }
  const scope = frame.source.indexOf('%');
  return { ok: true, bytes: frame.bytes, src: scope < 0 ? frame.source : frame.source.slice(0, scope), dst: frame.group };
}

/** A socket's frame: IP layer, then the instance of its VRID (`lookup`), then acceptAdvert. */
export function receiveFrame<T extends { readonly receiveProfile: ReceiveProfile }>(frame: Frame, lookup: (vrid: number) => T | undefined): Received<T> {
  const p = readIpLayer(frame);
  if (!p.ok) return { ok: false, target: undefined, reason: p.reason, detail: p.detail };
  const vrid = p.bytes[1] ?? 0;
  const target = lookup(vrid);
  if (!target) return { ok: false, target: undefined, reason: 'vrid-mismatch', detail: `VRID ${vrid} from ${p.src}` };
  const r = acceptAdvert(p.bytes, p, target.receiveProfile);
  return r.ok ? { ok: true, target, advert: r.advert, from: r.from } : { ok: false, target, reason: r.reason, detail: r.detail };
}

function drop(reason: DropReason, detail: string): Accepted {
  return { ok: false, reason, detail };
}
