// Types shared by the pure protocol core: the packet codec (packet.ts), the state machine
// (fsm.ts) and the instance driver (instance.ts). No I/O here.

/** VRRP protocol version: 2 is RFC 3768, 3 is RFC 5798. */
export type VrrpVersion = 2 | 3;

/** Address family of a virtual router: IPv4 or IPv6 (IPv6 needs version 3). */
export type Family = 4 | 6;

/** Durations in the core are integer microseconds, as keepalived keeps them, so timer
 * arithmetic (skew time divides by 256) is exact and repeatable in the simulator. */
export type Micros = number;

export const MICROS_PER_CENTISECOND = 10_000;
export const MICROS_PER_SECOND = 1_000_000;

/** IP protocol number of VRRP. */
export const IPPROTO_VRRP = 112;
/** Multicast groups adverts go to unless unicast peers are configured. */
export const VRRP_GROUP_V4 = '224.0.0.18';
export const VRRP_GROUP_V6 = 'ff02::12';
/** A receiver drops any advert whose TTL / hop limit is not this. */
export const VRRP_TTL = 255;
/** IPv4 TOS / IPv6 traffic class of adverts: 0xc0, precedence 6 "internetwork control" (DSCP
 * CS6), as keepalived and FRRouting's vrrpd send them. */
export const VRRP_TOS = 0xc0;

/** Priority 255: the router owns the virtual addresses. Priority 0: the Master is leaving. */
export const PRIORITY_OWNER = 255;
export const PRIORITY_STOP = 0;

/** VRRPv2 authentication. keepalived still offers simple passwords; AH is recognised only to
 * be rejected with its own reason. */
export type AuthType = 'none' | 'simple' | 'ah';

/** A decoded (or to-be-encoded) advertisement. Addresses are textual IPs in the family's
 * canonical form (dotted quad; RFC 5952 lower-case compressed IPv6). */
export interface Advert {
  version: VrrpVersion;
  family: Family;
  vrid: number;
  priority: number;
  /** The advert interval in centiseconds. v2 carries whole seconds on the wire, so a v2
   * interval is always a multiple of 100 here. */
  intervalCs: number;
  addresses: string[];
  /** v2 only; 'none' for v3. */
  authType: AuthType;
  /** v2 simple password as configured (at most 8 bytes on the wire), '' otherwise. */
  authPassword: string;
}
