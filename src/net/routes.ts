// virtual_routes: keepalived's route lines (and, through rules.ts, virtual_rules on the same
// rtnetlink socket), parsed into rtnetlink requests and applied
// idempotently (an existing route on add, a missing one on remove, are no-ops).
//
// Supported: [blackhole|unreachable|prohibit] [to] DEST[/len] | default, via/gw GW, dev IF,
// src IP, scope S, table N, metric/preference N. Anything else is a config error at -t.

import { GuardedRtNetlink } from './rtnetlink.ts';
import { ipToBytes } from '../vrrp/ipaddr.ts';
import { addRule, removeRule, type RuleSpec } from './rules.ts';
import { interfaceIndex } from './socket.ts';
import { TYPES, type RouteSpec } from './route-syntax.ts';

export { parseRoute, type RouteParse, type RouteSpec } from './route-syntax.ts';

const AF_INET = 2;
const AF_INET6 = 10;
const RTPROT_KEEPALIVED = 18; // the protocol number iproute2 names "keepalived"
// the library always adds NLM_F_REQUEST | NLM_F_ACK; a new route also needs these
const NLM_F_EXCL = 0x200;
const NLM_F_CREATE = 0x400;

export class RouteManager {
  private readonly nl: GuardedRtNetlink;

  constructor(onError?: (e: Error) => void) {
    this.nl = new GuardedRtNetlink(onError);
  }

  private request(r: RouteSpec, defaultDev: string) {
    const dev = r.dev ?? (r.type === 'unicast' ? defaultDev : undefined);
    return {
      data: {
        family: r.family === 4 ? AF_INET : AF_INET6,
        dstLen: r.dstLen,
        table: r.table < 256 ? r.table : 0,
        protocol: RTPROT_KEEPALIVED,
        scope: r.scope ?? (r.gateway || r.type !== 'unicast' ? 0 : 253),
        type: TYPES[r.type],
      },
      attrs: {
        dst: ipToBytes(r.dst),
        ...(r.gateway ? { gateway: ipToBytes(r.gateway) } : {}),
        ...(r.src ? { prefsrc: ipToBytes(r.src) } : {}),
        ...(dev ? { oif: interfaceIndex(dev) } : {}),
        ...(r.metric !== undefined ? { priority: r.metric } : {}),
        ...(r.table >= 256 ? { table: r.table } : {}),
      },
    };
  }

  async add(r: RouteSpec, defaultDev: string): Promise<'added' | 'present'> {
    const { data, attrs } = this.request(r, defaultDev);
    try {
      await this.nl.request((rt, opts) => rt.newRoute(data, attrs, { flags: NLM_F_CREATE | NLM_F_EXCL, ...opts }));
      return 'added';
    } catch (e) {
      if (/EEXIST/.test((e as Error).message)) return 'present';
      throw new Error(`adding route ${r.dst}/${r.dstLen}: ${(e as Error).message}`);
    }
  }

  async remove(r: RouteSpec, defaultDev: string): Promise<'removed' | 'absent'> {
    let req;
    try {
      req = this.request(r, defaultDev);
    } catch {
      return 'absent'; // its interface is gone, and the route with it
    }
    try {
      const { data, attrs } = req;
      await this.nl.request((rt, opts) => rt.delRoute(data, attrs, opts));
      return 'removed';
    } catch (e) {
      if (/ESRCH|ENOENT|ENODEV/.test((e as Error).message)) return 'absent';
      throw new Error(`removing route ${r.dst}/${r.dstLen}: ${(e as Error).message}`);
    }
  }

  addRule(r: RuleSpec): Promise<'added' | 'present'> {
    return this.nl.request((rt, opts) => addRule(rt, r, opts));
  }

  removeRule(r: RuleSpec): Promise<'removed' | 'absent'> {
    return this.nl.request((rt, opts) => removeRule(rt, r, opts));
  }

  close(): void {
    this.nl.close();
  }
}
