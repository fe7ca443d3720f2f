// keepalived's static route lines (virtual_routes, static_routes), parsed without touching the
// kernel: `vigil -t` checks them with no netlink loaded, and routes.ts installs what this gives.

import { isIP } from 'node:net';

/** Route types vigil installs, with their rtnetlink numbers. */
export const TYPES = { unicast: 1, blackhole: 6, unreachable: 7, prohibit: 8 } as const;
const SCOPES: Record<string, number> = { global: 0, universe: 0, site: 200, link: 253, host: 254, nowhere: 255 };
const MAIN_TABLE = 254;

export interface RouteSpec {
  type: keyof typeof TYPES;
  family: 4 | 6;
  dst: string;
  dstLen: number;
  gateway?: string;
  dev?: string;
  src?: string;
  scope?: number;
  table: number;
  metric?: number;
}

/** `unsupported`: valid for keepalived, but vigil cannot install it yet (e.g. multipath `or`). */
export type RouteParse = { ok: true; route: RouteSpec } | { ok: false; error: string; unsupported?: boolean };

class Unsupported extends Error {}

/** Parses one keepalived route line; `defaultDev` is the instance's interface. */
export function parseRoute(line: string): RouteParse {
  const w = line.trim().split(/\s+/);
  let i = 0;
  let type: RouteSpec['type'] = 'unicast';
  const first = w[0] as keyof typeof TYPES;
  if (first in TYPES && first !== 'unicast') {
    type = first;
    i++;
  }
  // keepalived also allows `src IP` before the destination
  let leadingSrc: string | undefined;
  if (w[i] === 'src') {
    leadingSrc = w[i + 1];
    i += 2;
  }
  if (w[i] === 'to') i++;
  const dstText = w[i++];
  if (!dstText) return { ok: false, error: 'no destination' };
  let dst: string;
  let dstLen: number;
  let family: 4 | 6;
  if (dstText === 'default') {
    family = line.includes(':') ? 6 : 4;
    dst = family === 4 ? '0.0.0.0' : '::';
    dstLen = 0;
  } else {
    const [addr = '', len] = dstText.split('/');
    const fam = isIP(addr);
    if (fam === 0) return { ok: false, error: `'${dstText}' is not a destination` };
    family = fam as 4 | 6;
    dst = addr;
    dstLen = len === undefined ? (fam === 4 ? 32 : 128) : Number(len);
    if (!Number.isInteger(dstLen) || dstLen < 0 || dstLen > (fam === 4 ? 32 : 128)) return { ok: false, error: `bad prefix length in '${dstText}'` };
  }
  const route: RouteSpec = { type, family, dst, dstLen, table: MAIN_TABLE };
  const ip = (v: string | undefined, what: string): string => {
    if (!v || isIP(v) !== (family === 4 ? 4 : 6)) throw new Error(`${what} needs an IPv${family} address, got '${v ?? ''}'`);
    return v;
  };
  try {
    if (leadingSrc !== undefined) route.src = ip(leadingSrc, 'src');
    while (i < w.length) {
      const key = w[i++];
      const val = w[i++];
      switch (key) {
        case 'via':
        case 'gw':
          route.gateway = ip(val, key);
          break;
        case 'src':
          route.src = ip(val, key);
          break;
        case 'dev':
          if (!val) throw new Error('dev needs an interface');
          route.dev = val;
          break;
        case 'scope':
          if (val === undefined || SCOPES[val] === undefined) throw new Error(`unknown scope '${val ?? ''}'`);
          route.scope = SCOPES[val];
          break;
        case 'table':
          if (!/^\d+$/.test(val ?? '')) throw new Error(`table must be a number, got '${val ?? ''}'`);
          route.table = Number(val);
          break;
        case 'metric':
        case 'preference':
          if (!/^\d+$/.test(val ?? '')) throw new Error(`${key} must be a number`);
          route.metric = Number(val);
          break;
        case 'or':
        case 'onlink':
        case 'realms':
        case 'mtu':
        case 'advmss':
        case 'rtt':
        case 'rttvar':
        case 'reordering':
        case 'window':
        case 'cwnd':
        case 'ssthresh':
        case 'initcwnd':
        case 'initrwnd':
        case 'features':
        case 'quickack':
        case 'congctl':
        case 'pref':
        case 'protocol':
        case 'nexthop':
        case 'encap':
        case 'expires':
        case 'fastopen_no_cookie':
        case 'tos':
        case 'no_track':
          throw new Unsupported(`'${key}' is not supported in virtual_routes yet; this route is not installed`);
        default:
          throw new Error(`unknown route option '${key ?? ''}'`);
      }
    }
  } catch (e) {
    return { ok: false, error: (e as Error).message, ...(e instanceof Unsupported ? { unsupported: true } : {}) };
  }
  return { ok: true, route };
}
