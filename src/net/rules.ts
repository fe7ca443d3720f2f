// virtual_rules: keepalived's policy-routing rule lines, parsed into rtnetlink requests and
// applied idempotently, like routes (routes.ts).
//
// Supported: from P, to P, table N (or lookup N), priority/preference/pref N, iif/oif IF,
// fwmark N[/mask], and blackhole/unreachable/prohibit as the action. Other options that
// keepalived knows warn at -t (the rule is not installed); anything else is an error.

import { isIP } from 'node:net';
import type { RtNetlinkSocket } from 'netlink';
import { ipToBytes } from '../vrrp/ipaddr.ts';

const AF_INET = 2;
const AF_INET6 = 10;
const RTPROT_KEEPALIVED = 18;
const ACTIONS = { table: 1, blackhole: 6, unreachable: 7, prohibit: 8 } as const;
const NLM_F_EXCL = 0x200;
const NLM_F_CREATE = 0x400;
const UNSUPPORTED = new Set(['goto', 'realms', 'nat', 'map-to', 'no_track', 'tos', 'dsfield', 'uidrange', 'suppress_prefixlength', 'suppress_ifgroup', 'ipproto', 'sport', 'dport', 'l3mdev', 'protocol', 'not']);

export interface RuleSpec {
  family: 4 | 6;
  action: keyof typeof ACTIONS;
  from?: { addr: string; len: number };
  to?: { addr: string; len: number };
  table?: number;
  priority?: number;
  iif?: string;
  oif?: string;
  fwmark?: number;
  fwmask?: number;
}

export type RuleParse = { ok: true; rule: RuleSpec } | { ok: false; error: string; unsupported?: boolean };

function prefix(text: string | undefined): { addr: string; len: number; family: 4 | 6 } | null {
  const [addr = '', len] = (text ?? '').split('/');
  const fam = isIP(addr);
  if (fam === 0) return null;
  const n = len === undefined ? (fam === 4 ? 32 : 128) : Number(len);
  if (!Number.isInteger(n) || n < 0 || n > (fam === 4 ? 32 : 128)) return null;
  return { addr, len: n, family: fam as 4 | 6 };
}

export function parseRule(line: string): RuleParse {
  const w = line.trim().split(/\s+/).filter(Boolean);
  const rule: RuleSpec = { family: 4, action: 'table' };
  let family: 4 | 6 | undefined;
  for (let i = 0; i < w.length; ) {
    const key = w[i++] as string;
    if (key in ACTIONS && key !== 'table') {
      rule.action = key as RuleSpec['action'];
      continue;
    }
    if (UNSUPPORTED.has(key)) return { ok: false, error: `'${key}' is not supported in virtual_rules yet; this rule is not installed`, unsupported: true };
    const val = w[i++];
    switch (key) {
      case 'from':
      case 'to': {
        const p = prefix(val);
        if (!p) return { ok: false, error: `${key} needs an address or prefix, got '${val ?? ''}'` };
        if (family && family !== p.family) return { ok: false, error: 'a rule cannot mix IPv4 and IPv6' };
        family = p.family;
        rule[key] = { addr: p.addr, len: p.len };
        break;
      }
      case 'table':
      case 'lookup':
      case 'priority':
      case 'preference':
      case 'pref': {
        if (!/^\d+$/.test(val ?? '')) return { ok: false, error: `${key} needs a number, got '${val ?? ''}'` };
        if (key === 'table' || key === 'lookup') rule.table = Number(val);
        else rule.priority = Number(val);
        break;
      }
      case 'iif':
      case 'oif':
        if (!val) return { ok: false, error: `${key} needs an interface` };
        rule[key] = val;
        break;
      case 'fwmark': {
        const m = /^(0x[0-9a-f]+|\d+)(?:\/(0x[0-9a-f]+|\d+))?$/i.exec(val ?? '');
        if (!m?.[1]) return { ok: false, error: `fwmark needs N[/MASK], got '${val ?? ''}'` };
        rule.fwmark = Number(m[1]);
        if (m[2]) rule.fwmask = Number(m[2]);
        break;
      }
      default:
        return { ok: false, error: `unknown rule option '${key}'` };
    }
  }
  if (rule.action === 'table' && rule.table === undefined) return { ok: false, error: 'a rule needs a table (or blackhole, unreachable, prohibit)' };
  rule.family = family ?? 4;
  return { ok: true, rule };
}

function request(r: RuleSpec) {
  return {
    data: {
      family: r.family === 4 ? AF_INET : AF_INET6,
      srcLen: r.from?.len ?? 0,
      dstLen: r.to?.len ?? 0,
      table: r.table !== undefined && r.table < 256 ? r.table : 0,
      action: ACTIONS[r.action],
    },
    attrs: {
      ...(r.from ? { src: ipToBytes(r.from.addr) } : {}),
      ...(r.to ? { dst: ipToBytes(r.to.addr) } : {}),
      ...(r.table !== undefined ? { table: r.table } : {}),
      ...(r.priority !== undefined ? { priority: r.priority } : {}),
      ...(r.iif ? { iifname: r.iif } : {}),
      ...(r.oif ? { oifname: r.oif } : {}),
      ...(r.fwmark !== undefined ? { fwmark: r.fwmark } : {}),
      ...(r.fwmask !== undefined ? { fwmask: r.fwmask } : {}),
      protocol: RTPROT_KEEPALIVED,
    },
  };
}

export async function addRule(rt: RtNetlinkSocket, r: RuleSpec, opts: { timeout?: number } = {}): Promise<'added' | 'present'> {
  const { data, attrs } = request(r);
  try {
    await rt.newRule(data, attrs, { flags: NLM_F_CREATE | NLM_F_EXCL, ...opts });
    return 'added';
  } catch (e) {
    if (/EEXIST/.test((e as Error).message)) return 'present';
    throw new Error(`adding rule: ${(e as Error).message}`);
  }
}

export async function removeRule(rt: RtNetlinkSocket, r: RuleSpec, opts: { timeout?: number } = {}): Promise<'removed' | 'absent'> {
  const { data, attrs } = request(r);
  try {
    await rt.delRule(data, attrs, opts);
    return 'removed';
  } catch (e) {
    if (/ENOENT|ESRCH/.test((e as Error).message)) return 'absent';
    throw new Error(`removing rule: ${(e as Error).message}`);
  }
}
