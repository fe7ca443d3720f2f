// IP address text <-> bytes, for the codec (addresses on the wire, the v3 pseudo-header) and
// for the tie-break ordering. Text out is canonical: dotted quad for IPv4, RFC 5952 for IPv6
// (lower case, leading zeros dropped, the longest run of two or more zero groups as "::").

import { isIPv4, isIPv6 } from 'node:net';
import type { Family } from './types.ts';

export function familyOf(addr: string): Family | undefined {
  if (isIPv4(addr)) return 4;
  if (isIPv6(addr)) return 6;
  return undefined;
}

function ipv4ToBytes(addr: string): Buffer {
  return Buffer.from(addr.split('.').map(Number));
}

function ipv6ToBytes(addr: string): Buffer {
  let text = addr.toLowerCase().split('%')[0] ?? '';
  // An embedded dotted quad (::ffff:192.0.2.1) stands for the last two groups.
  const dotted = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (dotted?.[1]) {
    const b = ipv4ToBytes(dotted[1]);
    text = text.slice(0, -dotted[1].length) + `${b.readUInt16BE(0).toString(16)}:${b.readUInt16BE(2).toString(16)}`;
  }
  const [head = '', tail] = text.split('::');
  const headGroups = head ? head.split(':') : [];
  const tailGroups = tail ? tail.split(':') : [];
  const zeros = tail === undefined ? 0 : 8 - headGroups.length - tailGroups.length;
  const groups = [...headGroups, ...Array<string>(zeros).fill('0'), ...tailGroups];
  const out = Buffer.alloc(16);
  groups.forEach((g, i) => out.writeUInt16BE(parseInt(g, 16), i * 2));
  return out;
}

/** The address as network-order bytes (4 or 16). Throws on text that is not an address: callers
 * pass configured or decoded addresses, never raw input. */
export function ipToBytes(addr: string): Buffer {
  const family = familyOf(addr);
  if (family === 4) return ipv4ToBytes(addr);
  if (family === 6) return ipv6ToBytes(addr);
  throw new TypeError(`not an IP address: ${JSON.stringify(addr)}`);
}

/** Canonical text of 4 or 16 address bytes starting at `offset`. */
export function bytesToIp(buf: Uint8Array, offset: number, family: Family): string {
  if (family === 4) return `${buf[offset]}.${buf[offset + 1]}.${buf[offset + 2]}.${buf[offset + 3]}`;
  const groups: number[] = [];
  for (let i = 0; i < 8; i++) groups.push(((buf[offset + 2 * i] ?? 0) << 8) | (buf[offset + 2 * i + 1] ?? 0));
  // RFC 5952 4.2: compress the longest run of >= 2 zero groups (the first one on a tie).
  let bestStart = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart < 0) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLen).join(':')}`;
}

/** Canonical text of any address text. */
export function canonicalIp(addr: string): string {
  const family = familyOf(addr);
  if (!family) throw new TypeError(`not an IP address: ${JSON.stringify(addr)}`);
  return bytesToIp(ipToBytes(addr), 0, family);
}
