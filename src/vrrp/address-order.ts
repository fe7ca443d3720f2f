// Numeric ordering of IP addresses, for RFC 5798's tie-break: between equal priorities the
// router with the higher primary address wins. Text comparison would get "192.0.2.9" vs
// "192.0.2.10" wrong, so addresses are compared as unsigned big-endian integers.

import { familyOf, ipToBytes } from './ipaddr.ts';

/** Negative, zero or positive as a < b, a == b, a > b. Addresses of different families order
 * IPv4 first (they never meet in one virtual router). Throws on text that is not an address. */
export function compareAddresses(a: string, b: string): number {
  const fa = familyOf(a);
  const fb = familyOf(b);
  if (!fa || !fb) throw new TypeError(`not an IP address: ${fa ? b : a}`);
  if (fa !== fb) return fa - fb;
  return Buffer.compare(ipToBytes(a), ipToBytes(b));
}
