// Virtual addresses on interfaces via rtnetlink (the netlink package). Idempotent, as DESIGN.md
// rule 3 asks: adding an address that is there and removing one that is gone are no-ops.

import { familyOf, ipToBytes } from '../vrrp/ipaddr.ts';
import { GuardedRtNetlink } from './rtnetlink.ts';
import { interfaceIndex } from './socket.ts';

const AF_INET = 2;
const AF_INET6 = 10;
const SCOPES: Record<string, number> = { global: 0, site: 200, link: 253, host: 254, nowhere: 255 };

export interface AddressSpec {
  /** Address with optional prefix (defaults: /32 for IPv4, /128 for IPv6, as keepalived). */
  address: string;
  dev: string;
  scope?: string | undefined;
  label?: string | undefined;
  brd?: string | undefined;
  /** IPv6: run duplicate address detection. Off unless asked (keepalived's `-nodad`): a VIP
   * must answer the moment its Master takes over, not a DAD round (1 s or more) later, and a
   * VIP briefly held by both nodes in a split brain must not end up "dadfailed" for good; VRRP
   * is the duplicate detection here. */
  dad?: boolean | undefined;
  /** Seconds until the kernel removes the address by itself (valid_lft = preferred_lft), set
   * or reset on every add: an etcd-elected VIP outlives its lease by no more than this, even if
   * the daemon is killed or frozen. Absent: forever, as keepalived adds them. */
  lifetime?: number | undefined;
}

/** NLM_F_REPLACE | NLM_F_CREATE: `ip addr replace`, which resets the lifetime of one present. */
const REPLACE_OR_CREATE = 0x100 | 0x400;

function split(spec: AddressSpec) {
  const [addr = '', prefix] = spec.address.split('/');
  const family = familyOf(addr);
  if (!family) throw new TypeError(`not an IP address: ${spec.address}`);
  const prefixlen = prefix === undefined ? (family === 4 ? 32 : 128) : Number(prefix);
  return { addr, family, prefixlen };
}

export class AddressManager {
  private readonly nl: GuardedRtNetlink;

  constructor(onError?: (e: Error) => void) {
    this.nl = new GuardedRtNetlink(onError);
  }

  async add(spec: AddressSpec): Promise<'added' | 'present'> {
    const { addr, family, prefixlen } = split(spec);
    const bytes = ipToBytes(addr);
    try {
      const index = interfaceIndex(spec.dev);
      await this.nl.request((rt, opts) =>
        rt.newAddress(
          { family: family === 4 ? AF_INET : AF_INET6, prefixlen, index, scope: SCOPES[spec.scope ?? 'global'] ?? 0 },
          {
            local: bytes,
            address: bytes,
            ...(spec.label ? { label: spec.label } : {}),
            ...(spec.brd ? { broadcast: ipToBytes(spec.brd) } : {}),
            ...(family === 6 && !spec.dad ? { flags: { nodad: true as const } } : {}),
            ...(spec.lifetime !== undefined ? { cacheInfo: { ifaPrefered: spec.lifetime, ifaValid: spec.lifetime } } : {}),
          },
          spec.lifetime !== undefined ? { ...opts, flags: REPLACE_OR_CREATE } : opts,
        ),
      );
      return 'added';
    } catch (e) {
      if (/EEXIST/.test((e as Error).message)) return 'present';
      throw new Error(`adding ${spec.address} to ${spec.dev}: ${(e as Error).message}`);
    }
  }

  async remove(spec: AddressSpec): Promise<'removed' | 'absent'> {
    const { addr, family, prefixlen } = split(spec);
    const bytes = ipToBytes(addr);
    let index: number;
    try {
      index = interfaceIndex(spec.dev);
    } catch {
      return 'absent'; // the interface is gone, and its addresses with it
    }
    try {
      await this.nl.request((rt, opts) => rt.delAddress({ family: family === 4 ? AF_INET : AF_INET6, prefixlen, index }, { local: bytes, address: bytes }, opts));
      return 'removed';
    } catch (e) {
      if (/EADDRNOTAVAIL|ENOENT|ENODEV/.test((e as Error).message)) return 'absent';
      throw new Error(`removing ${spec.address} from ${spec.dev}: ${(e as Error).message}`);
    }
  }

  close(): void {
    this.nl.close();
  }
}
