// The load balancer at run time: keepalived's check process in one object. For every virtual
// server it runs the real servers' checkers on keepalived's timeline (checker-state.ts), keeps
// the pool and the quorum (virtual-server.ts), publishes what changed on the bus
// (realserver.up / realserver.down / realserver.weight / virtualserver.quorum: notify scripts,
// FIFO lines, webhooks and user plugins follow them as they follow VRRP), and hands the data
// plane the whole desired state after every change, one transaction at a time (a burst of
// changes is one apply).
//
// The timeline of every checker (checker-state.ts) is timers on the engine's loop; each attempt
// runs off it, in the checker worker (probe-runner.ts), or, for a checker a plugin registered, in
// that plugin's worker (through the plugin host); FILE_CHECK is a file watch (file-check.ts).
// The daemon runs the data plane in the checker worker too (WorkerDataPlane: building the nft
// document for a large pool is tens of milliseconds). So no attempt, whatever its target does,
// and no change of a pool can delay an advert (DESIGN.md rule 2). A reload keeps every virtual
// server whose resolved config did not change (its checkers' states and timers too), re-creates
// the changed ones, and applies once.

import { networkInterfaces } from 'node:os';
import type { EventBus } from '../bus/bus.ts';
import type { EventBody } from '../bus/events.ts';
import type { Config } from '../config/schema.ts';
import type { Logger } from '../daemon/log.ts';
import { CheckerState, type CheckTiming } from './checker-state.ts';
import type { PluginCheck, ProbeResult, TimedCheck } from './checks.ts';
import { watchFileCheck } from './file-check.ts';
import type { Backend, DataPlane, DataPlaneCounters, DesiredState, Service } from './model.ts';
import { Neighbours } from './neighbours.ts';
import { allowPingSockets } from './ping-group.ts';
import { CheckerWorker, type ProbeRunner } from './probe-runner.ts';
import { resolveVirtualServers, type ResolvedVirtualServer } from './resolve.ts';
import { VirtualServerState } from './virtual-server.ts';

export interface BalancerOptions {
  bus: EventBus;
  log: Logger;
  dataPlane: DataPlane;
  /** Leave the data plane in place at stop (keepalived's -I). */
  keepOnStop?: boolean;
  /** 0..1, for the warmup spread (tests pin it). */
  random?: () => number;
  /** The addresses on local interfaces, for ha_suspend. */
  localAddresses?: () => Set<string>;
  /** DR: where the real servers are and their MACs (neighbours.ts); default: the kernel's. */
  neighbours?: (onChange: () => void) => Neighbours;
  /** Where attempts run; default: a worker thread of the balancer's own (probe-runner.ts). Given
   * one, the balancer leaves closing it to the caller (it may host the data plane too). */
  probes?: ProbeRunner;
  /** Runs the checkers plugins registered (the plugin host); without it a plugin_check fails. */
  pluginChecks?: PluginChecks;
}

export interface PluginChecks {
  runChecker(check: PluginCheck, ctx: { virtualServer: string; realServer: string }, signal?: AbortSignal): Promise<ProbeResult>;
}

export interface VirtualServerStatus {
  name: string;
  quorumUp: boolean;
  weight: number;
  quorum: number;
  sorryServerActive: boolean;
  realServers: Array<{ name: string; alive: boolean; weight: number; checks: Array<{ name: string; up: boolean }> }>;
}

interface Running {
  key: string;
  vs: ResolvedVirtualServer;
  state: VirtualServerState;
  abort: AbortController;
  timers: Set<NodeJS.Timeout>;
  /** FILE_CHECK watches, stopped with the virtual server. */
  watches: Array<{ stop(): void }>;
}

/** How each checker type tries again while down (checker-state.ts). */
const WHILE_DOWN: Record<TimedCheck['kind'], CheckTiming['whileDown']> = {
  tcp: 'retry',
  smtp: 'retry',
  http: 'longer',
  udp: 'loop',
  ping: 'loop',
  dns: 'loop',
  misc: 'loop',
  plugin: 'retry',
};

/** keepalived starts every checker 1 s after start, plus a random share of its warmup. */
const FIRST_CHECK_MS = 1000;
const APPLY_RETRY_MS = 1000;

function localAddressSet(): Set<string> {
  const out = new Set<string>();
  for (const list of Object.values(networkInterfaces())) for (const a of list ?? []) out.add(a.address);
  return out;
}

export class Balancer {
  private running = new Map<string, Running>();
  private applying = false;
  private dirty = false;
  private stopped = false;
  private retryTimer: NodeJS.Timeout | undefined;
  private applied: Promise<void> = Promise.resolve();
  private neighbours: Neighbours | undefined;
  private probes: ProbeRunner | undefined;
  private pingAllowed = false;
  /** Applies done and failed, for status and tests. */
  readonly applies = { done: 0, failed: 0, lastError: undefined as string | undefined };

  constructor(private readonly o: BalancerOptions) {}

  get active(): boolean {
    return this.running.size > 0;
  }

  /** Starts (or, on reload, reconciles to) the config's virtual servers; resolves once the data
   * plane holds the resulting state (or refused it: then the error is logged and retried). */
  async apply(config: Config): Promise<{ kept: string[]; started: string[]; removed: string[] }> {
    const wanted = new Map(resolveVirtualServers(config).map((vs) => [vs.name, vs]));
    const result = { kept: [] as string[], started: [] as string[], removed: [] as string[] };
    for (const [name, r] of this.running) {
      const next = wanted.get(name);
      if (next && JSON.stringify(next) === r.key) continue;
      this.halt(r);
      this.running.delete(name);
      if (!next) result.removed.push(name);
    }
    for (const [name, vs] of wanted) {
      if (this.running.has(name)) {
        result.kept.push(name);
        continue;
      }
      this.launch(vs);
      result.started.push(name);
    }
    await this.trackNeighbours();
    this.requestApply();
    await this.applied;
    return result;
  }

  /** Stops every checker; with omega, says which real servers and quorums go down (keepalived
   * runs those notifiers at shutdown); removes the data plane unless kept. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    this.neighbours?.stop();
    for (const r of this.running.values()) {
      this.halt(r);
      if (!r.vs.omega) continue;
      for (const rs of r.state.liveServers()) this.publish({ type: 'realserver.down', virtualServer: r.vs.name, realServer: rs.name, reason: 'shutdown', inhibited: false });
      if (r.state.quorumUp) this.publish({ type: 'virtualserver.quorum', virtualServer: r.vs.name, up: false, weight: 0, quorum: r.vs.quorum, hysteresis: r.vs.hysteresis, sorryServer: false });
    }
    const hadAny = this.running.size > 0;
    this.running.clear();
    try {
      await this.removeDataPlane(hadAny);
    } finally {
      // a worker the balancer started is its to end; one it was given (shared with the data
      // plane) its owner ends, after the data plane is gone
      if (!this.o.probes) await this.probes?.close();
    }
  }

  private async removeDataPlane(hadAny: boolean): Promise<void> {
    await this.applied.catch(() => undefined);
    if (!hadAny && this.applies.done === 0) return;
    if (this.o.keepOnStop) {
      this.o.log.info('LVS: leaving the data plane in place (keep_on_stop)');
      return;
    }
    await this.o.dataPlane.remove().catch((e: Error) => this.o.log.error(`LVS: removing the data plane: ${e.message}`));
  }

  status(): VirtualServerStatus[] {
    return [...this.running.values()].map((r) => ({
      name: r.vs.name,
      quorumUp: r.state.quorumUp,
      weight: r.state.weight(),
      quorum: r.vs.quorum,
      sorryServerActive: !!r.vs.sorry && !r.state.quorumUp,
      realServers: r.state.status().map((s, i) => ({
        name: s.name,
        alive: s.alive,
        weight: s.weight,
        checks: s.checks.map((up, j) => ({ name: r.vs.realServers[i]?.checks[j]?.name ?? '?', up })),
      })),
    }));
  }

  /** Each virtual server's data-plane services and the backend ids they may hold (the real
   * servers and the sorry server), to read the counters by. */
  serviceMap(): Array<{ virtualServer: string; id: string; backends: string[] }> {
    return [...this.running.values()].flatMap((r) =>
      r.vs.services.map((s) => ({ virtualServer: r.vs.name, id: s.id, backends: [...r.vs.realServers.map((rs) => rs.id), ...(r.vs.sorry ? [r.vs.sorry.id] : [])] })),
    );
  }

  counters(): Promise<DataPlaneCounters> {
    return this.o.dataPlane.counters();
  }

  /** The whole desired data-plane state now. */
  desired(): DesiredState {
    const services: Service[] = [];
    for (const r of this.running.values()) {
      const backends = r.state.backends();
      const dr = r.vs.forwarding === 'dr' ? this.drPlacement(backends) : undefined;
      for (const s of r.vs.services) {
        services.push({
          id: s.id,
          family: r.vs.family,
          match: s.match,
          algorithm: r.vs.algorithm,
          ...(r.vs.hashPort ? { hashPort: true } : {}),
          ...(r.vs.persistence ? { persistence: r.vs.persistence } : {}),
          ...(r.vs.snat ? { snat: true } : {}),
          ...(dr ? { forwarding: 'dr' as const, ifname: dr.ifname, ownMac: dr.ownMac, slotBase: r.vs.realServers.map((rs) => ({ id: rs.id, weight: rs.weight })) } : {}),
          backends: r.vs.forwarding !== 'dr' ? backends : (dr?.backends ?? []),
        });
      }
    }
    return { services };
  }

  // --- internals ----------------------------------------------------------------------------

  /** DR: follows the real and sorry servers' MACs (neighbours.ts); a change applies again. */
  private async trackNeighbours(): Promise<void> {
    const addresses = new Set<string>();
    for (const r of this.running.values()) {
      if (r.vs.forwarding !== 'dr') continue;
      for (const rs of r.vs.realServers) addresses.add(rs.ip);
      if (r.vs.sorry) addresses.add(r.vs.sorry.ip);
    }
    if (addresses.size === 0 && !this.neighbours) return;
    this.neighbours ??= (this.o.neighbours ?? ((onChange) => new Neighbours({ log: this.o.log, onChange })))(() => this.requestApply());
    await this.neighbours.track(addresses);
  }

  /** DR: the pool's backends whose MAC is known, on the interface of the first of them (vigil -t
   * checks that they share one); the others stay out (neighbours.ts logs why). With none known,
   * the service has no interface to be on yet and is left to NAT with an empty pool (it only
   * counts: nothing is balanced). */
  private drPlacement(backends: Backend[]): { ifname: string; ownMac: string; backends: Backend[] } | undefined {
    const placed = backends.map((b) => ({ b, p: this.neighbours?.placement(b.address) }));
    const first = placed.find((x) => x.p)?.p;
    if (!first) return undefined;
    // DR never changes the port: the frame goes as the client sent it
    const kept = placed.filter((x) => x.p && x.p.ifname === first.ifname).map(({ b: { port: _port, ...b }, p }) => ({ ...b, mac: (p as { mac: string }).mac }));
    return { ifname: first.ifname, ownMac: first.ownMac, backends: kept };
  }

  private launch(vs: ResolvedVirtualServer): void {
    const r: Running = { key: JSON.stringify(vs), vs, state: new VirtualServerState(vs), abort: new AbortController(), timers: new Set(), watches: [] };
    this.running.set(vs.name, r);
    for (const e of r.state.start()) this.publish(e);
    vs.realServers.forEach((rs, i) =>
      rs.checks.forEach((check, j) => {
        if (check.kind === 'file') {
          const watch = watchFileCheck(check, (s) => this.changed(r, i, j, s.up, s.reason, s.share));
          r.watches.push(watch);
          const now = watch.current();
          this.changed(r, i, j, now.up, `${check.name}: ${now.up ? 'up' : 'down'} at start`, now.share);
          return;
        }
        if (check.kind === 'ping') this.allowPing();
        const cs = new CheckerState({ ...check, whileDown: WHILE_DOWN[check.kind] });
        const warm = check.warmupMs > 0 ? (this.o.random ?? Math.random)() * check.warmupMs : 0;
        this.schedule(r, FIRST_CHECK_MS + warm, () => void this.attempt(r, i, j, check, cs));
      }),
    );
  }

  /** Once, before the first PING_CHECK: its ICMP sockets need ping_group_range to include us. */
  private allowPing(): void {
    if (this.pingAllowed) return;
    this.pingAllowed = true;
    const r = allowPingSockets();
    if (r.changed) this.o.log.info(`LVS: ${r.changed}`);
    if (r.error) this.o.log.warn(`LVS: ${r.error}; PING_CHECK attempts will fail`);
  }

  private halt(r: Running): void {
    r.abort.abort();
    for (const t of r.timers) clearTimeout(t);
    r.timers.clear();
    for (const w of r.watches.splice(0)) w.stop();
  }

  private schedule(r: Running, ms: number, fn: () => void): void {
    if (r.abort.signal.aborted) return;
    const t = setTimeout(() => {
      r.timers.delete(t);
      fn();
    }, ms);
    r.timers.add(t);
  }

  private async attempt(r: Running, i: number, j: number, check: TimedCheck, cs: CheckerState): Promise<void> {
    const again = (ms: number) => this.schedule(r, ms, () => void this.attempt(r, i, j, check, cs));
    if (r.abort.signal.aborted) return;
    if (r.vs.haSuspend && !this.hasLocalAddress(r.vs)) return again(check.delayLoopMs); // frozen
    const result = await this.run(r, i, check);
    if (r.abort.signal.aborted) return;
    const v = cs.result(result.ok);
    const rs = r.vs.realServers[i];
    // misc_dynamic and plugin checkers may ask for a weight; a pass without one gives it back
    const share = result.ok && result.weight !== undefined && rs ? result.weight - rs.weight : 0;
    const reason = result.ok ? `${check.name} passed` : `${check.name}: ${result.error}`;
    this.changed(r, i, j, v.up, reason, result.ok ? share : undefined);
    // MISC_CHECK's next run is timed from the start of the last one (check_misc.c)
    again(check.kind === 'misc' ? Math.max(0, v.nextInMs - result.ms) : v.nextInMs);
  }

  /** A checker's verdict (and, when given, its weight share): events, and the data plane. */
  private changed(r: Running, i: number, j: number, up: boolean, reason: string, share: number | undefined): void {
    // the share first: a server coming up with a new weight says so in its realserver.up
    const events = share !== undefined ? r.state.setShare(i, j, share, reason) : [];
    events.push(...r.state.checkChanged(i, j, up, reason));
    for (const e of events) this.publish(e);
    if (events.length > 0) this.requestApply();
  }

  private run(r: Running, i: number, check: TimedCheck): Promise<ProbeResult> {
    if (check.kind === 'plugin') {
      const ctx = { virtualServer: r.vs.name, realServer: r.vs.realServers[i]?.name ?? '?' };
      if (!this.o.pluginChecks) return Promise.resolve({ ok: false, error: 'no plugin host to run plugin checkers', ms: 0 });
      return this.o.pluginChecks.runChecker(check, ctx, r.abort.signal);
    }
    this.probes ??= this.o.probes ?? new CheckerWorker({ onError: (m) => this.o.log.error(`LVS: ${m}`) });
    return this.probes.run(check, r.abort.signal);
  }

  private hasLocalAddress(vs: ResolvedVirtualServer): boolean {
    const local = (this.o.localAddresses ?? localAddressSet)();
    return vs.addresses.some((a) => local.has(a));
  }

  private publish(e: EventBody): void {
    const log = this.o.log;
    switch (e.type) {
      case 'realserver.up':
        log.info(`LVS: ${e.virtualServer}: ${e.reason === 'start' ? 'adding' : 'enabling'} real server ${e.realServer} (${e.reason})`);
        break;
      case 'realserver.down':
        log.warn(`LVS: ${e.virtualServer}: ${e.inhibited ? 'disabling' : 'removing'} real server ${e.realServer} (${e.reason})`);
        break;
      case 'realserver.weight':
        log.info(`LVS: ${e.virtualServer}: Changing weight from ${e.previous} to ${e.weight} for ${e.realServer} (${e.reason})`);
        break;
      case 'virtualserver.quorum': {
        const vs = this.running.get(e.virtualServer)?.vs;
        const q = e.quorum;
        const h = e.hysteresis;
        if (e.up) log.info(`LVS: ${e.virtualServer}: Gained quorum ${q}+${h}=${q + h} <= ${e.weight}`);
        else log.warn(`LVS: ${e.virtualServer}: Lost quorum ${q}-${h}=${q - h} > ${e.weight}${vs?.sorry ? `; sorry server ${vs.sorry.name} serves` : ''}`);
        break;
      }
      default:
        break;
    }
    this.o.bus.publish(e);
  }

  private requestApply(): void {
    this.dirty = true;
    if (!this.applying) this.applied = this.flush();
  }

  /** Applies until the state stops changing underneath; a refused apply is retried. */
  private async flush(): Promise<void> {
    this.applying = true;
    try {
      while (this.dirty && !this.stopped) {
        this.dirty = false;
        try {
          const state = this.desired();
          await this.o.dataPlane.apply(state);
          this.applies.done++;
          this.applies.lastError = undefined;
          const summary = `LVS: data plane holds ${state.services.length} service(s), ${state.services.reduce((n, s) => n + s.backends.length, 0)} backend(s) in the pools`;
          if (this.applies.done === 1) this.o.log.info(summary);
          else this.o.log.debug(summary);
        } catch (e) {
          this.applies.failed++;
          this.applies.lastError = (e as Error).message;
          this.o.log.error(`LVS: the data plane refused the new state (retrying in ${APPLY_RETRY_MS} ms): ${(e as Error).message}`);
          clearTimeout(this.retryTimer);
          this.retryTimer = setTimeout(() => this.requestApply(), APPLY_RETRY_MS);
          this.retryTimer.unref();
        }
      }
    } finally {
      this.applying = false;
    }
  }
}
