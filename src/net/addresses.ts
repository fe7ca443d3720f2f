// Virtual addresses on interfaces via rtnetlink (the netlink package). Idempotent, as DESIGN.md
// rule 3 asks: adding an address that is there and removing one that is gone are no-ops.

import { createRtNetlink, type RtNetlinkSocket } from 'netlink';
import { familyOf, ipToBytes } from '../vrrp/ipaddr.ts';
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
}

function split(spec: AddressSpec) {
  const [addr = '', prefix] = spec.address.split('/');
  const family = familyOf(addr);
  if (!family) throw new TypeError(`not an IP address: ${spec.address}`);
  const prefixlen = prefix === undefined ? (family === 4 ? 32 : 128) : Number(prefix);
  return { addr, family, prefixlen };
}

export class AddressManager {
  private rt: RtNetlinkSocket | undefined;

  private socket(): RtNetlinkSocket {
    this.rt ??= createRtNetlink();
    return this.rt;
  }

  async add(spec: AddressSpec): Promise<'added' | 'present'> {
    const { addr, family, prefixlen } = split(spec);
    const bytes = ipToBytes(addr);
    try {
      await this.socket().newAddress(
        { family: family === 4 ? AF_INET : AF_INET6, prefixlen, index: interfaceIndex(spec.dev), scope: SCOPES[spec.scope ?? 'global'] ?? 0 },
        {
          local: bytes,
          address: bytes,
          ...(spec.label ? { label: spec.label } : {}),
          ...(spec.brd ? { broadcast: ipToBytes(spec.brd) } : {}),
        },
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
      await this.socket().delAddress({ family: family === 4 ? AF_INET : AF_INET6, prefixlen, index }, { local: bytes, address: bytes });
      return 'removed';
    } catch (e) {
      if (/EADDRNOTAVAIL|ENOENT|ENODEV/.test((e as Error).message)) return 'absent';
      throw new Error(`removing ${spec.address} from ${spec.dev}: ${(e as Error).message}`);
    }
  }

  close(): void {
    this.rt?.socket.close();
    this.rt = undefined;
  }
}
