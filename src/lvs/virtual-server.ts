// One virtual server's pool, pure: which real servers are alive (all their checkers up), their
// weights (the configured one plus what dynamic checkers ask: misc_dynamic, FILE_CHECK, plugin
// checkers), the quorum with its hysteresis, the sorry server, and the backends the data plane
// gets. Changes
// come back as bus events, in keepalived's order (the real server's change, then the quorum's).
// LVS.md section 7.

import type { EventBody } from '../bus/events.ts';
import type { Backend } from './model.ts';
import type { ResolvedRealServer, ResolvedVirtualServer } from './resolve.ts';

const INT32_MAX = 2147483647;

interface RealServerState {
  rs: ResolvedRealServer;
  /** One per checker. */
  checks: boolean[];
  /** One per checker: what it adds to the configured weight (0 for most). */
  shares: number[];
  alive: boolean;
}

/** keepalived's real weight: configured + shares, clamped to 0..INT32_MAX. */
const effective = (s: RealServerState): number => Math.min(Math.max(s.rs.weight + s.shares.reduce((a, b) => a + b, 0), 0), INT32_MAX);

export class VirtualServerState {
  /** keepalived computes the quorum before any real server is alive: it starts lost. */
  quorumUp = false;
  private readonly servers: RealServerState[];

  constructor(readonly vs: ResolvedVirtualServer) {
    this.servers = vs.realServers.map((rs) => {
      // FILE_CHECK has no alpha: its first reading decides (the balancer reports it at once)
      const checks = rs.checks.map((c) => !('alpha' in c && c.alpha));
      return { rs, checks, shares: rs.checks.map(() => 0), alive: checks.every(Boolean) };
    });
  }

  /** At start: the quorum as the initial states give it (quorum_up at once when every real
   * server starts in the pool; with a sorry server, a quorum down to start with is said). */
  start(): EventBody[] {
    const w = this.weight();
    const up = w > 0 && w >= this.vs.quorum + this.vs.hysteresis;
    this.quorumUp = up;
    if (up || this.vs.sorry) return [this.quorumEvent(true)];
    return [];
  }

  /** A checker's verdict changed. */
  checkChanged(rsIndex: number, checkIndex: number, up: boolean, reason: string): EventBody[] {
    const s = this.servers[rsIndex];
    if (!s || s.checks[checkIndex] === undefined || s.checks[checkIndex] === up) return [];
    s.checks[checkIndex] = up;
    const alive = s.checks.every(Boolean);
    if (alive === s.alive) return [];
    s.alive = alive;
    const out: EventBody[] = [
      alive
        ? { type: 'realserver.up', virtualServer: this.vs.name, realServer: s.rs.name, weight: effective(s), reason }
        : { type: 'realserver.down', virtualServer: this.vs.name, realServer: s.rs.name, reason, inhibited: s.rs.inhibitOnFailure },
    ];
    const q = this.updateQuorum();
    if (q) out.push(q);
    return out;
  }

  /** A dynamic checker's share of its real server's weight (share = the weight it asks for
   * minus the configured one; 0 gives the configured weight back). A live server whose
   * effective weight changes says so, and the quorum may follow. */
  setShare(rsIndex: number, checkIndex: number, share: number, reason: string): EventBody[] {
    const s = this.servers[rsIndex];
    if (!s || s.shares[checkIndex] === undefined || s.shares[checkIndex] === share) return [];
    const previous = effective(s);
    s.shares[checkIndex] = share;
    const weight = effective(s);
    if (weight === previous || !s.alive) return [];
    const out: EventBody[] = [{ type: 'realserver.weight', virtualServer: this.vs.name, realServer: s.rs.name, previous, weight, reason }];
    const q = this.updateQuorum();
    if (q) out.push(q);
    return out;
  }

  /** The sum over live real servers of their effective weights. */
  weight(): number {
    let w = 0;
    for (const s of this.servers) if (s.alive) w += effective(s);
    return w;
  }

  /** The backends to balance over now. */
  backends(): Backend[] {
    const sorry = this.vs.sorry;
    if (sorry && !this.quorumUp) return [{ id: sorry.id, address: sorry.ip, ...(sorry.port !== undefined ? { port: sorry.port } : {}), weight: 1 }];
    let live = this.servers.filter((s) => s.alive && effective(s) > 0).map((s) => ({ rs: s.rs, weight: effective(s) }));
    if (this.vs.failover && live.length > 1) {
      // fo: the highest-weight live server alone (the first of equals, as IPVS picks)
      const top = live.reduce((a, b) => (b.weight > a.weight ? b : a));
      live = [top];
    }
    return live.map(({ rs, weight }) => ({ id: rs.id, address: rs.ip, ...(rs.port !== undefined ? { port: rs.port } : {}), weight }));
  }

  status(): Array<{ name: string; alive: boolean; weight: number; checks: boolean[] }> {
    return this.servers.map((s) => ({ name: s.rs.name, alive: s.alive, weight: effective(s), checks: [...s.checks] }));
  }

  /** For omega at shutdown: the real servers still up. */
  liveServers(): ResolvedRealServer[] {
    return this.servers.filter((s) => s.alive).map((s) => s.rs);
  }

  private updateQuorum(): EventBody | undefined {
    const w = this.weight();
    const { quorum, hysteresis } = this.vs;
    if (!this.quorumUp && w > 0 && w >= quorum + hysteresis) this.quorumUp = true;
    else if (this.quorumUp && (w === 0 || w < quorum - hysteresis)) this.quorumUp = false;
    else return undefined;
    return this.quorumEvent();
  }

  private quorumEvent(initial = false): EventBody {
    return {
      type: 'virtualserver.quorum',
      virtualServer: this.vs.name,
      up: this.quorumUp,
      weight: this.weight(),
      quorum: this.vs.quorum,
      hysteresis: this.vs.hysteresis,
      sorryServer: !!this.vs.sorry && !this.quorumUp,
      ...(initial ? { initial } : {}),
    };
  }
}
