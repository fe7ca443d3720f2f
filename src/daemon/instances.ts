// From the typed config to the settings of each VRRP instance: the one place where keepalived's
// keywords become protocol values (seconds to centiseconds, nopreempt to preempt, ...).

import { networkInterfaces } from 'node:os';
import type { Config, VrrpInstanceConfig } from '../config/schema.ts';
import { instanceFamily, instanceVersion } from '../config/semantic.ts';
import type { AddressSpec } from '../net/addresses.ts';
import { parseRoute, type RouteSpec } from '../net/routes.ts';
import { parseRule, type RuleSpec } from '../net/rules.ts';
import type { InstanceConfig } from '../vrrp/instance.ts';
import { canonicalIp } from '../vrrp/ipaddr.ts';
import { MICROS_PER_SECOND, type Family } from '../vrrp/types.ts';

/** The address an instance sends from on its interface: the first IPv4 address, or the IPv6
 * link-local address (RFC 5798 5.1.2.2). Undefined while the interface is missing. */
export function primaryAddress(ifname: string, family: Family): string | undefined {
  const addrs = networkInterfaces()[ifname] ?? [];
  const found = family === 4 ? addrs.find((a) => a.family === 'IPv4') : addrs.find((a) => a.family === 'IPv6' && a.address.startsWith('fe80:'));
  return found?.address.split('%')[0];
}

/** The addresses to hold as Master; without a `dev` they go on the VMAC if there is one. */
export function virtualAddresses(inst: VrrpInstanceConfig, vmac?: string): AddressSpec[] {
  return [...inst.virtual_ipaddress, ...inst.virtual_ipaddress_excluded].map((v) => ({
    address: v.address,
    dev: v.dev ?? vmac ?? inst.interface,
    scope: v.scope,
    label: v.label,
    brd: v.brd,
    dad: v.dad,
  }));
}

/** The instance's virtual_routes, parsed (the config check has already refused bad lines). */
export function virtualRoutes(lines: string[]): RouteSpec[] {
  return lines.flatMap((l) => {
    const r = parseRoute(l);
    return r.ok ? [r.route] : [];
  });
}

export function virtualRules(lines: string[]): RuleSpec[] {
  return lines.flatMap((l) => {
    const r = parseRule(l);
    return r.ok ? [r.rule] : [];
  });
}

export function toInstanceConfig(config: Config, name: string, inst: VrrpInstanceConfig, primary: string): InstanceConfig {
  const family = instanceFamily(inst);
  const version = instanceVersion(config, inst);
  const group = family === 4 ? config.global_defs.vrrp_mcast_group4 : config.global_defs.vrrp_mcast_group6;
  const auth = version === 2 && inst.authentication?.auth_type === 'PASS' ? inst.authentication : undefined;
  return {
    name,
    version,
    family,
    vrid: inst.virtual_router_id,
    priority: inst.priority,
    advertIntervalCs: Math.round(inst.advert_int * 100),
    preempt: !inst.nopreempt,
    preemptDelay: Math.round(inst.preempt_delay * MICROS_PER_SECOND),
    lowerPrioNoAdvert: inst.lower_prio_no_advert ?? config.global_defs.vrrp_lower_prio_no_advert,
    higherPrioSendAdvert: inst.higher_prio_send_advert ?? config.global_defs.vrrp_higher_prio_send_advert ?? true,
    primaryAddress: inst.unicast_src_ip ?? inst.mcast_src_ip ?? primary,
    addresses: inst.virtual_ipaddress.map((v) => canonicalIp(v.address.split('/')[0] ?? '')),
    destinations: inst.unicast_peer.length > 0 ? inst.unicast_peer : [group],
    acceptFrom: inst.unicast_peer,
    ...(auth ? { authType: 'simple' as const, authPassword: auth.auth_pass } : { authType: 'none' as const }),
  };
}
