// Numeric ordering of IP addresses, for RFC 5798's tie-break: between equal priorities the
// router with the higher primary address wins. Text comparison would get "192.0.2.9" vs
// "192.0.2.10" wrong, so addresses are compared as unsigned big-endian integers.

import { isIPv4, isIPv6 } from 'node:net';

function ipv4Bytes(addr: string): number[] {
  return addr.split('.').map(Number);
}

function ipv6Bytes(addr: string): number[] {
  // An embedded dotted quad (::ffff:192.0.2.1) is two groups.
  let text = addr.toLowerCase().split('%')[0] ?? '';
  const dotted = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (dotted?.[1]) {
    const [a = 0, b = 0, c = 0, d = 0] = ipv4Bytes(dotted[1]);
    text = text.slice(0, -dotted[1].length) + `${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head = '', tail] = text.split('::');
  const headGroups = head ? head.split(':') : [];
  const tailGroups = tail ? tail.split(':') : [];
  const zeros = tail === undefined ? 0 : 8 - headGroups.length - tailGroups.length;
  const groups = [...headGroups, ...Array<string>(zeros).fill('0'), ...tailGroups];
  return groups.flatMap((g) => {
    const v = parseInt(g, 16);
    return [v >> 8, v & 0xff];
  });
}

/** Negative, zero or positive as a < b, a == b, a > b. Addresses of different families order
 * IPv4 first (they never meet in one virtual router). Throws on text that is not an address. */
export function compareAddresses(a: string, b: string): number {
  const fa = isIPv4(a) ? 4 : isIPv6(a) ? 6 : 0;
  const fb = isIPv4(b) ? 4 : isIPv6(b) ? 6 : 0;
  if (!fa || !fb) throw new TypeError(`not an IP address: ${fa ? b : a}`);
  if (fa !== fb) return fa - fb;
  const ba = fa === 4 ? ipv4Bytes(a) : ipv6Bytes(a);
  const bb = fb === 4 ? ipv4Bytes(b) : ipv6Bytes(b);
  for (let i = 0; i < ba.length; i++) {
    const d = (ba[i] ?? 0) - (bb[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}
