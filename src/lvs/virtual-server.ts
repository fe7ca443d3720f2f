// One virtual server's pool, pure: which real servers are alive (all their checkers up), the
// quorum with its hysteresis, the sorry server, and the backends the data plane gets. Changes
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
  alive: boolean;
}

export class VirtualServerState {
  /** keepalived computes the quorum before any real server is alive: it starts lost. */
  quorumUp = false;
  private readonly servers: RealServerState[];

  constructor(readonly vs: ResolvedVirtualServer) {
    this.servers = vs.realServers.map((rs) => {
      const checks = rs.checks.map((c) => !c.alpha);
      return { rs, checks, alive: checks.every(Boolean) };
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
        ? { type: 'realserver.up', virtualServer: this.vs.name, realServer: s.rs.name, weight: s.rs.weight, reason }
        : { type: 'realserver.down', virtualServer: this.vs.name, realServer: s.rs.name, reason, inhibited: s.rs.inhibitOnFailure },
    ];
    const q = this.updateQuorum();
    if (q) out.push(q);
    return out;
  }

  /** The sum over live real servers of their weights (clamped as keepalived's real_weight). */
  weight(): number {
    let w = 0;
    for (const s of this.servers) if (s.alive) w += Math.min(Math.max(s.rs.weight, 0), INT32_MAX);
    return w;
  }

  /** The backends to balance over now. */
  backends(): Backend[] {
    const sorry = this.vs.sorry;
    if (sorry && !this.quorumUp) return [{ id: sorry.id, address: sorry.ip, ...(sorry.port !== undefined ? { port: sorry.port } : {}), weight: 1 }];
    let live = this.servers.filter((s) => s.alive && s.rs.weight > 0).map((s) => s.rs);
    if (this.vs.failover && live.length > 1) {
      // fo: the highest-weight live server alone (the first of equals, as IPVS picks)
      const top = live.reduce((a, b) => (b.weight > a.weight ? b : a));
      live = [top];
    }
    return live.map((rs) => ({ id: rs.id, address: rs.ip, ...(rs.port !== undefined ? { port: rs.port } : {}), weight: rs.weight }));
  }

  status(): Array<{ name: string; alive: boolean; weight: number; checks: boolean[] }> {
    return this.servers.map((s) => ({ name: s.rs.name, alive: s.alive, weight: s.rs.weight, checks: [...s.checks] }));
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
