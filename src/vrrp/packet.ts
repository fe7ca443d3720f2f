// The VRRP advertisement codec: RFC 3768 (v2) and RFC 5798 (v3), IPv4 and IPv6.
//
// encodeAdvert() builds the VRRP message (the kernel writes the IP header) and throws on an
// advert that cannot exist on the wire: that is a configuration or programming error.
// decodeAdvert() takes untrusted bytes and never throws: every problem becomes a typed
// rejection the caller counts (DESIGN.md rule 5).
//
//  v2: | ver=2 type=1 | vrid | priority | count | auth type | adver int (s) | checksum |
//      | count x IPv4 address | 8 bytes auth data |           checksum over the message
//  v3: | ver=3 type=1 | vrid | priority | count | rsvd(4) max adver int (12, cs) | checksum |
//      | count x IPv4 or IPv6 address |          checksum over pseudo-header + message

import { bytesToIp, familyOf, ipToBytes } from './ipaddr.ts';
import { IPPROTO_VRRP, VRRP_TTL, type Advert, type AuthType, type Family } from './types.ts';

export type RejectReason =
  /** Fewer bytes than the fixed header. */
  | 'too-short'
  /** Version nibble is neither 2 nor 3. */
  | 'bad-version'
  /** Type nibble is not 1 (ADVERTISEMENT). */
  | 'bad-type'
  | 'vrid-zero'
  | 'address-count-zero'
  /** The length does not match the address count (and auth data, v2). */
  | 'length-mismatch'
  | 'bad-checksum'
  | 'interval-zero'
  /** A v2 advert received over IPv6: v2 is IPv4 only. */
  | 'v6-needs-v3'
  /** v2 auth type 2 (IP Authentication Header): removed from VRRP by RFC 3768, not supported. */
  | 'auth-ah-unsupported'
  /** v2 auth type is not 0, 1 or 2. */
  | 'bad-auth-type'
  /** v2 auth type differs from the one configured. */
  | 'auth-type-mismatch'
  /** v2 simple password differs from the one configured. */
  | 'auth-password-mismatch'
  /** TTL / hop limit is not 255: the packet crossed a router. */
  | 'bad-ttl'
  | 'bad-ip-header'
  /** An IP packet whose protocol is not 112. */
  | 'not-vrrp';

export interface Endpoints {
  src: string;
  dst: string;
}

export interface DecodeOptions {
  family: Family;
  src: string;
  dst: string;
  /** When given, anything but 255 is rejected ('bad-ttl'). */
  ttl?: number;
  /** Also accept the v3-over-IPv4 checksum of keepalived before 1.2.20ish, computed without the
   * pseudo-header. */
  legacyV3Ipv4Checksum?: boolean;
  /** v2: the authentication this instance expects. */
  auth?: { type: AuthType; password: string };
}

export type DecodeResult =
  | { ok: true; advert: Advert; legacyChecksum: boolean }
  | { ok: false; reason: RejectReason; detail: string };

export type Ipv4Parse =
  | { ok: true; src: string; dst: string; ttl: number; protocol: number; payload: Buffer }
  | { ok: false; reason: RejectReason; detail: string };

const HEADER_LEN = 8;
const AUTH_DATA_LEN = 8;
const TYPE_ADVERTISEMENT = 1;
const AUTH_CODES: Record<AuthType, number> = { none: 0, simple: 1, ah: 2 };

// --- checksum ---------------------------------------------------------------------------------

/** One's complement sum of 16-bit words, not yet folded or inverted. An odd trailing byte is
 * padded with zero, as RFC 1071 says. */
function sum16(buf: Uint8Array, start = 0, end = buf.length, acc = 0): number {
  let i = start;
  for (; i + 1 < end; i += 2) acc += ((buf[i] ?? 0) << 8) | (buf[i + 1] ?? 0);
  if (i < end) acc += (buf[i] ?? 0) << 8;
  return acc;
}

function fold(acc: number): number {
  while (acc > 0xffff) acc = (acc & 0xffff) + Math.floor(acc / 0x10000);
  return ~acc & 0xffff;
}

/** Sum of the v3 pseudo-header: source, destination, protocol and upper-layer length
 * (RFC 768-style for IPv4, RFC 8200 8.1 for IPv6). */
function pseudoHeaderSum(family: Family, src: string, dst: string, length: number): number {
  const s = ipToBytes(src);
  const d = ipToBytes(dst);
  let acc = sum16(s) + sum16(d);
  if (family === 4) acc += IPPROTO_VRRP + length;
  else acc += Math.floor(length / 0x10000) + (length & 0xffff) + IPPROTO_VRRP;
  return acc;
}

/** The checksum the message should carry (computed with its checksum field as zero). */
export function vrrpChecksum(msg: Uint8Array, version: 2 | 3, family: Family, ep: Endpoints | null): number {
  let acc = sum16(msg, 0, 6) + sum16(msg, 8);
  if (version === 3 && ep) acc += pseudoHeaderSum(family, ep.src, ep.dst, msg.length);
  return fold(acc);
}

// --- encode -----------------------------------------------------------------------------------

/** The password as the 8 bytes on the wire: zero-padded, and truncated past 8 bytes as
 * keepalived truncates it (the config check warns about that). */
function passwordBytes(password: string): Buffer {
  const b = Buffer.alloc(AUTH_DATA_LEN);
  Buffer.from(password, 'utf8').copy(b, 0, 0, AUTH_DATA_LEN);
  return b;
}

export function encodeAdvert(a: Advert, ep: Endpoints): Buffer {
  if (a.version !== 2 && a.version !== 3) throw new RangeError(`VRRP version must be 2 or 3`);
  if (!Number.isInteger(a.vrid) || a.vrid < 1 || a.vrid > 255) throw new RangeError(`VRID must be 1..255, got ${a.vrid}`);
  if (!Number.isInteger(a.priority) || a.priority < 0 || a.priority > 255) {
    throw new RangeError(`priority must be 0..255, got ${a.priority}`);
  }
  if (a.addresses.length < 1 || a.addresses.length > 255) {
    throw new RangeError(`an advert carries 1..255 addresses, got ${a.addresses.length}`);
  }
  if (a.version === 2 && a.family !== 4) throw new RangeError('VRRPv2 is IPv4 only; use version 3 for IPv6');
  for (const addr of a.addresses) {
    if (familyOf(addr) !== a.family) throw new RangeError(`${addr} is not an IPv${a.family} address`);
  }
  let intervalField: number;
  if (a.version === 2) {
    if (a.intervalCs % 100 !== 0 || a.intervalCs < 100 || a.intervalCs > 255 * 100) {
      throw new RangeError(`a VRRPv2 advert interval is 1..255 whole seconds, got ${a.intervalCs / 100} s`);
    }
    intervalField = a.intervalCs / 100;
  } else {
    if (!Number.isInteger(a.intervalCs) || a.intervalCs < 1 || a.intervalCs > 0xfff) {
      throw new RangeError(`a VRRPv3 advert interval is 1..4095 centiseconds, got ${a.intervalCs}`);
    }
    intervalField = a.intervalCs;
  }
  const alen = a.family === 4 ? 4 : 16;
  const authLen = a.version === 2 ? AUTH_DATA_LEN : 0;
  const msg = Buffer.alloc(HEADER_LEN + alen * a.addresses.length + authLen);
  msg[0] = (a.version << 4) | TYPE_ADVERTISEMENT;
  msg[1] = a.vrid;
  msg[2] = a.priority;
  msg[3] = a.addresses.length;
  if (a.version === 2) {
    if (a.authType === 'ah') throw new RangeError('IP AH authentication is not supported');
    msg[4] = AUTH_CODES[a.authType];
    msg[5] = intervalField;
  } else {
    msg.writeUInt16BE(intervalField, 4);
  }
  a.addresses.forEach((addr, i) => ipToBytes(addr).copy(msg, HEADER_LEN + i * alen));
  if (a.version === 2 && a.authType === 'simple') passwordBytes(a.authPassword).copy(msg, msg.length - AUTH_DATA_LEN);
  msg.writeUInt16BE(vrrpChecksum(msg, a.version, a.family, ep), 6);
  return msg;
}

// --- decode -----------------------------------------------------------------------------------

function reject(reason: RejectReason, detail: string): DecodeResult {
  return { ok: false, reason, detail };
}

export function decodeAdvert(buf: Uint8Array, opts: DecodeOptions): DecodeResult {
  if (opts.ttl !== undefined && opts.ttl !== VRRP_TTL) return reject('bad-ttl', `TTL/hop limit ${opts.ttl}, want 255`);
  if (buf.length < HEADER_LEN) return reject('too-short', `${buf.length} bytes`);
  const b0 = buf[0] ?? 0;
  const version = b0 >> 4;
  if (version !== 2 && version !== 3) return reject('bad-version', `version ${version}`);
  if ((b0 & 0x0f) !== TYPE_ADVERTISEMENT) return reject('bad-type', `type ${b0 & 0x0f}`);
  if (version === 2 && opts.family === 6) return reject('v6-needs-v3', 'VRRPv2 advert over IPv6');
  const vrid = buf[1] ?? 0;
  const priority = buf[2] ?? 0;
  const count = buf[3] ?? 0;
  if (vrid === 0) return reject('vrid-zero', 'VRID 0');
  if (count === 0) return reject('address-count-zero', 'no addresses');
  const alen = opts.family === 4 ? 4 : 16;
  const body = HEADER_LEN + count * alen;
  // v2 always carries 8 bytes of auth data (RFC 3768 5.3.10); tolerate its absence only when
  // there is no authentication, since some old implementations leave it off.
  const lengthOk = version === 3 ? buf.length === body : buf.length === body + AUTH_DATA_LEN || (buf.length === body && buf[4] === 0);
  if (!lengthOk) return reject('length-mismatch', `${buf.length} bytes for ${count} IPv${opts.family} addresses (v${version})`);

  const wire = ((buf[6] ?? 0) << 8) | (buf[7] ?? 0);
  let legacyChecksum = false;
  if (vrrpChecksum(buf, version, opts.family, opts) !== wire) {
    const legacyOk =
      version === 3 && opts.family === 4 && opts.legacyV3Ipv4Checksum === true && vrrpChecksum(buf, 3, 4, null) === wire;
    if (!legacyOk) return reject('bad-checksum', `checksum 0x${wire.toString(16).padStart(4, '0')}`);
    legacyChecksum = true;
  }

  let intervalCs: number;
  let authType: AuthType = 'none';
  let authPassword = '';
  if (version === 2) {
    intervalCs = (buf[5] ?? 0) * 100;
    const code = buf[4] ?? 0;
    if (code === AUTH_CODES.ah) return reject('auth-ah-unsupported', 'auth type 2 (IP AH)');
    if (code !== AUTH_CODES.none && code !== AUTH_CODES.simple) return reject('bad-auth-type', `auth type ${code}`);
    authType = code === AUTH_CODES.simple ? 'simple' : 'none';
    if (authType === 'simple') {
      const data = buf.subarray(buf.length - AUTH_DATA_LEN);
      const nul = data.indexOf(0);
      authPassword = Buffer.from(data.subarray(0, nul < 0 ? AUTH_DATA_LEN : nul)).toString('utf8');
    }
    if (opts.auth) {
      if (opts.auth.type !== authType) return reject('auth-type-mismatch', `got ${authType}, want ${opts.auth.type}`);
      if (authType === 'simple') {
        if (!passwordBytes(opts.auth.password).equals(buf.subarray(buf.length - AUTH_DATA_LEN))) {
          return reject('auth-password-mismatch', 'simple password differs');
        }
      }
    }
  } else {
    intervalCs = (((buf[4] ?? 0) << 8) | (buf[5] ?? 0)) & 0x0fff; // the 4 reserved bits are ignored
  }
  if (intervalCs === 0) return reject('interval-zero', 'advert interval 0');

  const addresses: string[] = [];
  for (let i = 0; i < count; i++) addresses.push(bytesToIp(buf, HEADER_LEN + i * alen, opts.family));
  return {
    ok: true,
    legacyChecksum,
    advert: { version, family: opts.family, vrid, priority, intervalCs, addresses, authType, authPassword },
  };
}

// --- IPv4 header (raw IPv4 sockets deliver it) -----------------------------------------------

/** The IPv4 header of a raw socket's packet; the payload is a view of `buf`, not a copy. */
export function parseIpv4Packet(buf: Uint8Array): Ipv4Parse {
  if (buf.length < 20) return { ok: false, reason: 'bad-ip-header', detail: `${buf.length} bytes` };
  const b0 = buf[0] ?? 0;
  if (b0 >> 4 !== 4) return { ok: false, reason: 'bad-ip-header', detail: `IP version ${b0 >> 4}` };
  const ihl = (b0 & 0x0f) * 4;
  const total = ((buf[2] ?? 0) << 8) | (buf[3] ?? 0);
  if (ihl < 20 || total < ihl || total > buf.length) {
    return { ok: false, reason: 'bad-ip-header', detail: `header ${ihl} bytes, total ${total} of ${buf.length}` };
  }
  const protocol = buf[9] ?? 0;
  if (protocol !== IPPROTO_VRRP) return { ok: false, reason: 'not-vrrp', detail: `protocol ${protocol}` };
  return {
    ok: true,
    ttl: buf[8] ?? 0,
    protocol,
    src: bytesToIp(buf, 12, 4),
    dst: bytesToIp(buf, 16, 4),
    payload: Buffer.from(buf.buffer, buf.byteOffset + ihl, total - ihl), // a view: no copy per packet
  };
}
