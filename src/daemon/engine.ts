// The engine: every configured instance in one process, on real sockets, real netlink and a
// monotonic clock. It owns the sockets (one per interface and family, shared by the instances
// on it, packets dispatched by VRID), the address effects (serialized per instance, fenced by
// generation) and the clean stop.

import { EventBus } from '../bus/bus.ts';
import type { Config, VrrpInstanceConfig } from '../config/schema.ts';
import { instanceFamily } from '../config/semantic.ts';
import { AddressManager, type AddressSpec } from '../net/addresses.ts';
import { announce } from '../net/announce.ts';
import { RouteManager, type RouteSpec } from '../net/routes.ts';
import type { RuleSpec } from '../net/rules.ts';
import { VrrpSocket, type ReceivedPacket } from '../net/socket.ts';
import { defaultVmacName, ensureVmac, removeVmac, virtualMac } from '../net/vmac.ts';
import type { Transition } from '../vrrp/fsm.ts';
import { VrrpInstance, type InstanceCounters } from '../vrrp/instance.ts';
import { Schedule } from './schedule.ts';
import { SyncGroupDriver, syncGroupMembers } from './sync-group-driver.ts';
import type { Family } from '../vrrp/types.ts';
import { primaryAddress, toInstanceConfig, virtualAddresses, virtualRoutes, virtualRules } from './instances.ts';
import type { Logger } from './log.ts';

const STATE_NAMES = { initialize: 'INIT', backup: 'BACKUP', master: 'MASTER', fault: 'FAULT' } as const;

interface Running {
  name: string;
  instance: VrrpInstance;
  vips: AddressSpec[];
  routes: RouteSpec[];
  rules: RuleSpec[];
  /** The macvlan of use_vmac, and the socket adverts leave from when it has one. */
  vmac: string | undefined;
  ownSocket: VrrpSocket | undefined;
  dev: string;
  socketKey: string;
  /** Address effects run one after another, in the order the state machine asked for them. */
  effects: Promise<void>;
  garp: GarpSchedule;
}

/** keepalived's announcement settings: on becoming Master, and on reasserting against a
 * lower-priority Master (`lower`). */
interface GarpSchedule {
  delay: number;
  repeat: number;
  refresh: number;
  lowerDelay: number;
  lowerRepeat: number;
}

function garpSchedule(inst: VrrpInstanceConfig, g: Config['global_defs']): GarpSchedule {
  const delay = inst.garp_master_delay ?? g.vrrp_garp_master_delay;
  const repeat = inst.garp_master_repeat ?? g.vrrp_garp_master_repeat;
  return {
    delay,
    repeat,
    refresh: inst.garp_master_refresh ?? g.vrrp_garp_master_refresh,
    lowerDelay: inst.garp_lower_prio_delay ?? g.vrrp_garp_lower_prio_delay ?? delay,
    lowerRepeat: inst.garp_lower_prio_repeat ?? g.vrrp_garp_lower_prio_repeat ?? repeat,
  };
}

export class Engine {
  private readonly running = new Map<string, Running>();
  /** Every instance's timers, behind one Node timer (see schedule.ts). */
  private readonly schedule = new Schedule();
  private readonly sockets = new Map<string, { socket: VrrpSocket; byVrid: Map<number, Running> }>();
  private readonly addresses: AddressManager;
  private readonly routes: RouteManager;
  private waitTimer: NodeJS.Timeout | undefined;
  readonly waiting = new Set<string>();
  unknownVridPackets = 0;

  /** Priority adjustments in force, per instance, by `plugin:source`. Kept across restarts of
   * an instance (reload, interface coming back), applied at its launch. */
  private readonly adjustments = new Map<string, Map<string, number>>();
  /** Fault sources in force, per instance, as `plugin:source`. */
  private readonly faults = new Map<string, Set<string>>();
  /** Dropped packets since the last summary, by scope and reason (DESIGN.md rule 5). */
  private drops = new Map<string, Record<string, number>>();
  /** Every drop since start, by scope and reason (status, metrics). */
  private readonly dropTotals = new Map<string, Record<string, number>>();
  /** The last transitions of each instance, newest last (status). */
  private readonly history = new Map<string, TransitionRecord[]>();
  /** Reload outcomes (status, metrics). */
  readonly reloads = { applied: 0, rejected: 0 };
  private readonly sync: SyncGroupDriver;
  private readonly dropTimer: NodeJS.Timeout;

  constructor(
    private config: Config,
    private readonly log: Logger,
    readonly bus: EventBus = new EventBus(),
    private readonly dropSummaryMs = 10_000,
  ) {
    this.dropTimer = setInterval(() => this.flushDrops(), dropSummaryMs);
    this.dropTimer.unref();
    // a netlink socket error (an overflowed receive buffer) is reported, never thrown: thrown
    // from the native callback it would abort the daemon (see net/rtnetlink.ts)
    const netlinkError = (e: Error) => this.log.warn(`rtnetlink: ${e.message}; requests time out and are retried`);
    this.addresses = new AddressManager(netlinkError);
    this.routes = new RouteManager(netlinkError);
    this.sync = new SyncGroupDriver(syncGroupMembers(config), {
      bus,
      instance: (name) => this.running.get(name)?.instance,
      waiting: (name) => this.waiting.has(name),
      reassert: (name, peer, peerPriority) => this.reassertMember(name, peer, peerPriority),
    });
  }

  /** Removes addresses a crashed earlier run may have left, then starts every instance. */
  async start(): Promise<void> {
    for (const inst of Object.values(this.config.vrrp_instance)) {
      for (const r of virtualRules(inst.virtual_rules)) await this.routes.removeRule(r).catch(() => undefined);
      for (const r of virtualRoutes(inst.virtual_routes)) await this.routes.remove(r, inst.interface).catch(() => undefined);
      // a VMAC left by a crash is reused, so its addresses must go too
      const vmac = inst.use_vmac === false ? undefined : typeof inst.use_vmac === 'string' ? inst.use_vmac : defaultVmacName(inst.virtual_router_id, instanceFamily(inst));
      for (const vip of [...virtualAddresses(inst), ...(vmac ? virtualAddresses(inst, vmac) : [])]) {
        const r = await this.addresses.remove(vip).catch((e: Error) => this.log.warn(e.message));
        if (r === 'removed') this.log.info(`removed stale address ${vip.address} from ${vip.dev}`);
      }
    }
    for (const name of Object.keys(this.config.vrrp_instance)) this.startInstance(name);
  }

  private startInstance(name: string): void {
    this.launch(name).catch((e: Error) => this.log.error(`(${name}) cannot start: ${e.message}`));
  }

  private readonly starting = new Set<string>();

  private async launch(name: string): Promise<void> {
    const inst = this.config.vrrp_instance[name];
    if (!inst || this.starting.has(name)) return;
    const cfg0 = toInstanceConfig(this.config, name, inst, '');
    const primary = primaryAddress(inst.interface, cfg0.family);
    if (!primary) {
      // keepalived keeps such an instance in FAULT until the interface appears
      if (!this.waiting.has(name)) this.log.warn(`(${name}) interface ${inst.interface} has no IPv${cfg0.family} address yet; waiting`);
      this.waiting.add(name);
      this.sync.faultsChanged(name);
      this.waitTimer ??= setInterval(() => this.retryWaiting(), 1000);
      return;
    }
    this.waiting.delete(name);
    const cfg = toInstanceConfig(this.config, name, inst, primary);
    // a sync group member waits for its siblings before taking over on its own timer
    if (this.sync.group(name)) cfg.canBecomeMaster = () => this.sync.canBecomeMaster(name);
    const key = `${inst.interface}/${cfg.family}`;
    const entry = this.socketFor(key, inst.interface, cfg.family);
    // use_vmac: VIPs live on a macvlan with the virtual MAC, and adverts leave from it (unless
    // vmac_xmit_base) so their source MAC is the virtual one; adverts are received on the base
    // interface's shared socket. An IPv6 advert's source must stay the link-local address the
    // checksum was computed with: the VMAC carries that very address (see ensureVmac). A
    // non-link-local source (unicast_src_ip) stays on the base interface.
    let vmac: string | undefined;
    let ownSocket: VrrpSocket | undefined;
    let vmacRun: Running | undefined; // set below, before any packet can arrive
    if (inst.use_vmac !== false) {
      vmac = typeof inst.use_vmac === 'string' ? inst.use_vmac : defaultVmacName(cfg.vrid, cfg.family);
      const xmit = !inst.vmac_xmit_base && (cfg.family === 4 || /^fe[89ab]/i.test(cfg.primaryAddress));
      const linkLocal = xmit && cfg.family === 6 ? cfg.primaryAddress : undefined;
      this.starting.add(name);
      try {
        if (await ensureVmac(inst.interface, vmac, virtualMac(cfg.vrid, cfg.family), linkLocal)) this.log.info(`(${name}) created ${vmac} on ${inst.interface}`);
      } finally {
        this.starting.delete(name);
      }
      if (xmit) {
        // This socket also listens. A multicast frame whose source MAC is the MAC of a local
        // macvlan is taken for that macvlan's own and handed to it alone, not to the base
        // interface: the peers' adverts, sent from this same VMAC, arrive here. (Adverts of a
        // peer without a VMAC still arrive on the base interface's socket.)
        // IPv4: the VMAC's only addresses are the VIPs (none at all before the first takeover),
        // so the kernel would pick one of them as the source; the advert's source must be the
        // base interface's address, which peers know and a v3 checksum covers: this socket
        // writes its own IP header.
        ownSocket = new VrrpSocket({
          family: cfg.family,
          interface: vmac,
          ...(cfg.family === 4 ? { source: cfg.primaryAddress } : {}),
          ...this.receiving(vmac, (vrid) => (vrid === cfg.vrid ? vmacRun : undefined)),
        });
      }
    }
    // unicast_src_ip / mcast_src_ip other than the address the kernel would choose: a send
    // socket that writes its own IP header
    if (!ownSocket && cfg.family === 4 && cfg.primaryAddress !== primary) {
      const source = cfg.primaryAddress;
      ownSocket = new VrrpSocket({ family: 4, interface: inst.interface, group: null, source, onPacket: () => undefined, onError: (e) => this.log.warn(`${inst.interface} (from ${source}): ${e.message}`) });
    }
    const sender = ownSocket ?? entry.socket;
    const g = this.config.global_defs;
    const run: Running = {
      name,
      instance: undefined as unknown as VrrpInstance,
      vips: virtualAddresses(inst, vmac),
      vmac,
      ownSocket,
      routes: virtualRoutes(inst.virtual_routes),
      rules: virtualRules(inst.virtual_rules),
      dev: inst.interface,
      socketKey: key,
      effects: Promise.resolve(),
      garp: garpSchedule(inst, g),
    };
    run.instance = new VrrpInstance(
      cfg,
      this.schedule,
      { send: (dst, bytes) => sender.send(dst, bytes) },
      {
        addAddresses: (gen) => this.effect(run, gen, 'add'),
        removeAddresses: (gen) => this.effect(run, gen, 'remove'),
        announce: (gen, cause) => this.announceAll(run, gen, cause),
      },
      {
        onTransition: (t) => this.onTransition(name, inst, t),
        onReasserted: (peer, peerPriority, instance) => {
          this.log.info(`(${name}) Master received advert from ${peer} with lower priority ${peerPriority}, ours ${instance.fsm.priority}: reasserting`);
          this.bus.publish({ type: 'instance.reasserted', instance: name, vrid: inst.virtual_router_id, interface: inst.interface, peer, peerPriority, priority: instance.fsm.priority });
          this.sync.reasserted(name, peer, peerPriority);
        },
        onDrop: (reason, detail) => {
          this.countDrop(name, reason);
          this.log.debug(`(${name}) dropped advert: ${reason} (${detail})`);
        },
      },
    );
    entry.byVrid.set(cfg.vrid, run);
    if (ownSocket && vmac) vmacRun = run;
    this.running.set(name, run);
    // trackers may have spoken before the instance could start: it starts as they say
    for (const source of this.faults.get(name) ?? []) run.instance.setFault(source, true);
    const effective = this.effectivePriority(name);
    if (effective !== inst.priority) run.instance.setPriority(effective);
    run.instance.start();
    // a member that was missing held its group in FAULT; it is here now
    this.sync.faultsChanged(name);
  }

  /** A sync group sibling reasserted: this Master member re-announces its addresses too. */
  private reassertMember(name: string, peer: string, peerPriority: number): void {
    const run = this.running.get(name);
    if (!run || run.instance.state !== 'master') return;
    const inst = this.config.vrrp_instance[name];
    this.log.info(`(${name}) reasserting with its sync group ${this.sync.group(name) ?? ''}`);
    this.announceAll(run, run.instance.currentGeneration, 'lower-priority');
    if (inst) this.bus.publish({ type: 'instance.reasserted', instance: name, vrid: inst.virtual_router_id, interface: inst.interface, peer, peerPriority, priority: run.instance.fsm.priority });
  }

  private retryWaiting(): void {
    for (const name of [...this.waiting]) this.startInstance(name);
    if (this.waiting.size === 0 && this.waitTimer) {
      clearInterval(this.waitTimer);
      this.waitTimer = undefined;
    }
  }

  private socketFor(key: string, ifname: string, family: Family) {
    let entry = this.sockets.get(key);
    if (entry) return entry;
    const byVrid = new Map<number, Running>();
    const socket = new VrrpSocket({
      family,
      interface: ifname,
      ...this.receiving(ifname, (vrid) => byVrid.get(vrid)),
    });
    entry = { socket, byVrid };
    this.sockets.set(key, entry);
    return entry;
  }

  /** A receiving socket's handlers: a valid advert goes to the instance of its VRID; anything
   * else is counted under the interface, by reason. */
  private receiving(ifname: string, instanceFor: (vrid: number) => Running | undefined) {
    return {
      onPacket: (p: ReceivedPacket) => {
        const vrid = p.bytes[1] ?? 0;
        const run = instanceFor(vrid);
        if (!run) {
          this.unknownVridPackets++;
          this.countDrop(`interface:${ifname}`, 'vrid-mismatch');
          this.log.debug(`${ifname}: dropped advert: vrid-mismatch (VRID ${vrid} from ${p.src})`);
          return;
        }
        run.instance.receive(p.bytes, p);
      },
      onInvalid: (reason: string, detail: string) => {
        this.countDrop(`interface:${ifname}`, reason);
        this.log.debug(`${ifname}: dropped packet: ${reason} (${detail})`);
      },
      onError: (e: Error) => this.log.warn(`${ifname}: ${e.message}`),
    };
  }

  /** Queue an address effect; it is dropped if the instance has moved on by the time it runs
   * (DESIGN.md rule 3), except removals, which are always safe to apply. */
  private effect(run: Running, generation: number, op: 'add' | 'remove'): void {
    run.effects = run.effects.then(async () => {
      if (op === 'add' && run.instance.currentGeneration !== generation) return;
      // routes need their addresses, rules their routes: added in that order, removed in reverse
      const steps: Array<() => Promise<unknown>> =
        op === 'add'
          ? [
              ...run.vips.map((v) => () => this.addresses.add(v)),
              ...run.routes.map((r) => () => this.routes.add(r, run.dev)),
              ...run.rules.map((r) => () => this.routes.addRule(r)),
            ]
          : [
              ...run.rules.map((r) => () => this.routes.removeRule(r)),
              ...run.routes.map((r) => () => this.routes.remove(r, run.dev)),
              ...run.vips.map((v) => () => this.addresses.remove(v)),
            ];
      for (const step of steps) {
        try {
          await step();
        } catch (e) {
          this.log.error(`(${run.name}) ${(e as Error).message}`);
        }
      }
    });
  }

  /** keepalived's schedule: garp_master_repeat announcements at once, the same again after
   * garp_master_delay, then every garp_master_refresh seconds (0 = never) while still Master.
   * A reassertion against a lower-priority Master uses garp_lower_prio_repeat / _delay and no
   * refresh. Each round is skipped once the instance has moved on. */
  private announceAll(run: Running, generation: number, cause?: 'lower-priority'): void {
    const lower = cause === 'lower-priority';
    const repeat = lower ? run.garp.lowerRepeat : run.garp.repeat;
    const delay = lower ? run.garp.lowerDelay : run.garp.delay;
    const round = () => {
      if (run.instance.currentGeneration !== generation || run.instance.state !== 'master') return false;
      const byDev = new Map<string, string[]>();
      for (const v of run.vips) byDev.set(v.dev, [...(byDev.get(v.dev) ?? []), v.address.split('/')[0] ?? '']);
      // One call per device with the list `repeat` times over: the same packets in the same
      // order as `repeat` calls, but the interface's MAC and index are read from /sys once
      // (1,000 Masters' delayed round was 10,000 sysfs reads in one go).
      for (const [dev, addrs] of byDev) {
        const all: string[] = [];
        for (let i = 0; i < repeat; i++) all.push(...addrs);
        announce(dev, all).catch((e: Error) => this.log.warn(`(${run.name}) ${e.message}`));
      }
      return true;
    };
    if (repeat === 0) return;
    // after the addresses are in place
    run.effects = run.effects.then(() => {
      if (!round()) return;
      if (delay > 0) this.later(delay, () => round());
      if (!lower && run.garp.refresh > 0) {
        const refresh = () => {
          if (round()) this.later(run.garp.refresh, refresh);
        };
        this.later(run.garp.refresh, refresh);
      }
    });
  }

  private readonly pendingTimers = new Set<NodeJS.Timeout>();

  private later(seconds: number, fn: () => void): void {
    const t = setTimeout(() => {
      this.pendingTimers.delete(t);
      fn();
    }, seconds * 1000);
    this.pendingTimers.add(t);
  }

  private onTransition(name: string, inst: VrrpInstanceConfig, t: Transition): void {
    const h = this.history.get(name) ?? [];
    h.push({ from: t.from, to: t.to, reason: t.reason, priority: t.priority, time: new Date().toISOString(), ...(t.detail !== undefined ? { detail: t.detail } : {}) });
    if (h.length > HISTORY) h.splice(0, h.length - HISTORY);
    this.history.set(name, h);
    // keepalived's wording, so existing log alerts keep matching
    this.log.info(`(${name}) Entering ${STATE_NAMES[t.to]} STATE`, { from: t.from, reason: t.reason, priority: t.priority, ...(t.detail ? { detail: t.detail } : {}) });
    const group = this.sync.group(name);
    this.bus.publish({
      type: 'instance.transition',
      instance: name,
      vrid: inst.virtual_router_id,
      interface: inst.interface,
      from: t.from,
      to: t.to,
      reason: t.reason,
      priority: t.priority,
      ...(t.detail !== undefined ? { detail: t.detail } : {}),
      ...(group ? { group } : {}),
    });
    this.sync.moved(name, t);
  }

  // --- trackers: the only way plugins reach the engine ---------------------------------------

  /** Base priority plus every adjustment; the state machine keeps it in 1..254 and never
   * adjusts an address owner (255). */
  private effectivePriority(name: string): number {
    return this.effectivePriorityWith(name, this.config.vrrp_instance[name]?.priority ?? 100);
  }

  /** A plugin's adjustment for an instance from one source (weight 0 removes it). */
  adjust(plugin: string, instance: string, source: string, weight: number): void {
    if (!this.config.vrrp_instance[instance]) {
      this.log.warn(`plugin ${plugin}: adjustment for unknown instance ${instance} ignored`);
      return;
    }
    const key = `${plugin}:${source}`;
    const map = this.adjustments.get(instance) ?? new Map<string, number>();
    this.adjustments.set(instance, map);
    if ((map.get(key) ?? 0) === weight) return;
    const previous = this.effectivePriority(instance);
    if (weight === 0) map.delete(key);
    else map.set(key, weight);
    this.applyPriority(instance, previous, key);
  }

  private applyPriority(instance: string, previous: number, cause: string): void {
    const effective = this.effectivePriority(instance);
    if (effective === previous) return;
    this.running.get(instance)?.instance.setPriority(effective);
    this.log.info(`(${instance}) priority ${previous} -> ${effective} (${cause})`);
    this.bus.publish({
      type: 'instance.priority',
      instance,
      base: this.config.vrrp_instance[instance]?.priority ?? effective,
      previous,
      effective,
      cause,
      adjustments: Object.fromEntries(this.adjustments.get(instance) ?? []),
    });
  }

  /** A plugin holds (or releases) an instance in FAULT on behalf of one source. */
  setFault(plugin: string, instance: string, source: string, active: boolean): void {
    if (!this.config.vrrp_instance[instance]) {
      this.log.warn(`plugin ${plugin}: fault for unknown instance ${instance} ignored`);
      return;
    }
    const key = `${plugin}:${source}`;
    const set = this.faults.get(instance) ?? new Set<string>();
    this.faults.set(instance, set);
    if (set.has(key) === active) return;
    if (active) set.add(key);
    else set.delete(key);
    this.log.info(`(${instance}) fault ${active ? 'set' : 'cleared'} by ${key}`);
    this.bus.publish({ type: 'instance.fault', instance, source: key, active, faults: [...set].sort() });
    this.running.get(instance)?.instance.setFault(key, active);
    this.sync.faultsChanged(instance);
  }

  /** A plugin went away (reload): whatever it held no longer holds. */
  forgetPlugin(plugin: string): void {
    const prefix = `${plugin}:`;
    for (const [instance, set] of this.faults) for (const key of [...set]) if (key.startsWith(prefix)) this.setFault(plugin, instance, key.slice(prefix.length), false);
    for (const [instance, map] of this.adjustments) for (const key of [...map.keys()]) if (key.startsWith(prefix)) this.adjust(plugin, instance, key.slice(prefix.length), 0);
  }

  /** Adjustments and faults in force, per instance (status). */
  trackers(instance: string): { adjustments: Record<string, number>; faults: string[]; effective: number } {
    return { adjustments: Object.fromEntries(this.adjustments.get(instance) ?? []), faults: [...(this.faults.get(instance) ?? [])].sort(), effective: this.effectivePriority(instance) };
  }

  private countDrop(scope: string, reason: string): void {
    for (const map of [this.drops, this.dropTotals]) {
      const counts = map.get(scope) ?? {};
      counts[reason] = (counts[reason] ?? 0) + 1;
      map.set(scope, counts);
    }
  }

  /** One summary per scope per window, however many packets: a flood cannot flood the bus. */
  flushDrops(): void {
    const drops = this.drops;
    this.drops = new Map();
    for (const [scope, counts] of drops) this.bus.publish({ type: 'packets.dropped', scope, counts, windowMs: this.dropSummaryMs });
  }

  /** A snapshot of everything an operator asks about (status socket, dumps, metrics). Plain
   * data, safe to serialize: no secrets (the auth password is not in it). */
  status(): EngineStatus {
    const instances: InstanceStatus[] = Object.entries(this.config.vrrp_instance).map(([name, inst]) => {
      const run = this.running.get(name);
      const trackers = this.trackers(name);
      return {
        name,
        state: run ? run.instance.state : this.waiting.has(name) ? 'fault' : 'initialize',
        waitingForInterface: this.waiting.has(name),
        vrid: inst.virtual_router_id,
        interface: inst.interface,
        family: instanceFamily(inst),
        version: run?.instance.config.version ?? (inst.version ?? this.config.global_defs.vrrp_version),
        basePriority: inst.priority,
        effectivePriority: run ? run.instance.fsm.priority : trackers.effective,
        adjustments: trackers.adjustments,
        faults: run ? run.instance.fsm.activeFaults : trackers.faults,
        masterAddress: run?.instance.fsm.masterAddress,
        advertIntervalCs: run?.instance.config.advertIntervalCs ?? Math.round(inst.advert_int * 100),
        virtualAddresses: inst.virtual_ipaddress.map((v) => v.address),
        transitions: [...(this.history.get(name) ?? [])],
        counters: run ? structuredClone(run.instance.counters) : undefined,
      };
    });
    return {
      instances,
      drops: Object.fromEntries([...this.dropTotals].map(([k, v]) => [k, { ...v }])),
      unknownVridPackets: this.unknownVridPackets,
      reloads: { ...this.reloads },
    };
  }

  /** State of every instance, for status and tests. */
  states(): Record<string, string> {
    const out: Record<string, string> = {};
    for (const [name, r] of this.running) out[name] = r.instance.state;
    for (const name of this.waiting) out[name] = 'fault';
    return out;
  }

  /** Clean stop: Masters send priority 0 and remove their addresses; then sockets close. */
  async stop(): Promise<void> {
    if (this.waitTimer) clearInterval(this.waitTimer);
    clearInterval(this.dropTimer);
    for (const t of this.pendingTimers) clearTimeout(t);
    for (const run of this.running.values()) run.instance.stop();
    await Promise.all([...this.running.values()].map((r) => this.retire(r)));
    await Promise.all([...this.sockets.values()].map((s) => s.socket.close()));
    this.running.clear();
    this.sockets.clear();
    this.addresses.close();
    this.routes.close();
  }

  /** After a stop: wait for its address effects, close its own socket, remove its VMAC. */
  private async retire(run: Running): Promise<void> {
    await run.effects;
    await run.ownSocket?.close();
    if (run.vmac) await removeVmac(run.vmac).catch((e: Error) => this.log.warn(`(${run.name}) ${e.message}`));
  }

  /** A reload, applied as a diff (DESIGN.md rule 4): an instance whose settings did not change
   * keeps running untouched (no transition, no advert gap); one whose changes the RFC allows
   * on a running router (priority, preemption, addresses, routes, rules, trackers, notify
   * scripts, garp timing) is updated in place; only a change to what it is on the wire
   * (interface, VRID, version, authentication, peers, interval, VMAC) re-creates it. */
  async reload(next: Config): Promise<ReloadDiff> {
    const old = this.config;
    const diff: ReloadDiff = { unchanged: [], updated: [], recreated: [], added: [], removed: [] };
    this.config = next;
    this.sync.configure(syncGroupMembers(next));
    for (const [name, run] of [...this.running]) {
      const before = old.vrrp_instance[name];
      const after = next.vrrp_instance[name];
      if (!after || !before) {
        await this.retireInstance(name, run);
        diff.removed.push(name);
        continue;
      }
      const kind = classifyChange(old, before, next, after);
      if (kind === 'unchanged') {
        diff.unchanged.push(name);
      } else if (kind === 'in-place') {
        this.updateInPlace(name, run, before, after);
        diff.updated.push(name);
      } else {
        await this.retireInstance(name, run);
        diff.recreated.push(name);
      }
    }
    for (const name of [...this.waiting]) {
      if (!next.vrrp_instance[name]) {
        this.waiting.delete(name);
        diff.removed.push(name);
      }
    }
    for (const name of Object.keys(old.vrrp_instance)) {
      if (!next.vrrp_instance[name] && !diff.removed.includes(name)) diff.removed.push(name);
    }
    for (const name of diff.removed) {
      this.adjustments.delete(name);
      this.faults.delete(name);
    }
    for (const name of Object.keys(next.vrrp_instance)) {
      if (this.running.has(name)) continue;
      if (!old.vrrp_instance[name]) diff.added.push(name);
      else if (!diff.recreated.includes(name) && !diff.unchanged.includes(name)) diff.recreated.push(name);
      this.startInstance(name);
    }
    return diff;
  }

  private async retireInstance(name: string, run: Running): Promise<void> {
    run.instance.stop();
    await this.retire(run);
    this.sockets.get(run.socketKey)?.byVrid.delete(run.instance.config.vrid);
    this.running.delete(name);
  }

  private updateInPlace(name: string, run: Running, before: VrrpInstanceConfig, after: VrrpInstanceConfig): void {
    const cfg = toInstanceConfig(this.config, name, after, run.instance.config.primaryAddress);
    run.instance.update({ preempt: cfg.preempt, preemptDelay: cfg.preemptDelay, addresses: cfg.addresses });
    const g = this.config.global_defs;
    run.garp = garpSchedule(after, g);
    const vips = virtualAddresses(after, run.vmac);
    const routes = virtualRoutes(after.virtual_routes);
    const rules = virtualRules(after.virtual_rules);
    const key = (x: unknown) => JSON.stringify(x);
    const gone = {
      vips: run.vips.filter((v) => !vips.some((n) => key(n) === key(v))),
      routes: run.routes.filter((r) => !routes.some((n) => key(n) === key(r))),
      rules: run.rules.filter((r) => !rules.some((n) => key(n) === key(r))),
    };
    run.vips = vips;
    run.routes = routes;
    run.rules = rules;
    // A Master moves its addresses at once: the new set in place (idempotent for the ones it
    // already holds) and announced, the dropped ones removed.
    if (run.instance.state === 'master') {
      const gen = run.instance.currentGeneration;
      run.effects = run.effects.then(async () => {
        for (const r of gone.rules) await this.routes.removeRule(r).catch((e: Error) => this.log.warn(`(${name}) ${e.message}`));
        for (const r of gone.routes) await this.routes.remove(r, run.dev).catch((e: Error) => this.log.warn(`(${name}) ${e.message}`));
        for (const v of gone.vips) await this.addresses.remove(v).catch((e: Error) => this.log.warn(`(${name}) ${e.message}`));
      });
      this.effect(run, gen, 'add');
      if (key(before.virtual_ipaddress) !== key(after.virtual_ipaddress)) this.announceAll(run, gen);
    }
    const previous = this.effectivePriorityWith(name, before.priority);
    this.applyPriority(name, previous, 'config');
  }

  private effectivePriorityWith(name: string, base: number): number {
    if (base === 255) return base;
    let sum = base;
    for (const w of this.adjustments.get(name)?.values() ?? []) sum += w;
    return Math.min(254, Math.max(1, sum));
  }
}

const HISTORY = 20;

export interface TransitionRecord {
  from: string;
  to: string;
  reason: string;
  priority: number;
  /** Wall clock, ISO 8601. */
  time: string;
  detail?: string;
}

export interface InstanceStatus {
  name: string;
  state: string;
  /** Its interface is missing or has no address yet: held in FAULT until it appears. */
  waitingForInterface: boolean;
  vrid: number;
  interface: string;
  family: Family;
  version: number;
  basePriority: number;
  effectivePriority: number;
  /** Tracker adjustments in force, by `plugin:source`. */
  adjustments: Record<string, number>;
  faults: string[];
  /** The Master's address as last seen (ours when Master). */
  masterAddress: string | undefined;
  advertIntervalCs: number;
  virtualAddresses: string[];
  /** The last transitions, oldest first. */
  transitions: TransitionRecord[];
  /** Adverts sent and received, drops by reason, discards, transitions, reassertions. */
  counters: InstanceCounters | undefined;
}

export interface EngineStatus {
  instances: InstanceStatus[];
  /** Packets dropped before any instance (or by an instance), by scope and reason, since start. */
  drops: Record<string, Record<string, number>>;
  unknownVridPackets: number;
  reloads: { applied: number; rejected: number };
}

export interface ReloadDiff {
  unchanged: string[];
  updated: string[];
  recreated: string[];
  added: string[];
  removed: string[];
}

/** Fields a running instance can take in place; anything else changes what the instance is on
 * the wire, and it is re-created. Trackers and notify scripts belong to the plugins, which the
 * reload reconciles on their own. */
const IN_PLACE_FIELDS: ReadonlySet<keyof VrrpInstanceConfig> = new Set<keyof VrrpInstanceConfig>([
  'state',
  'priority',
  'nopreempt',
  'preempt_delay',
  'virtual_ipaddress',
  'virtual_ipaddress_excluded',
  'virtual_routes',
  'virtual_rules',
  'track_interface',
  'track_script',
  'track_file',
  'track_process',
  'dont_track_primary',
  'garp_master_delay',
  'garp_master_repeat',
  'garp_master_refresh',
  'garp_master_refresh_repeat',
  'garp_lower_prio_delay',
  'garp_lower_prio_repeat',
  'notify',
  'notify_master_rx_lower_pri',
  'notify_master',
  'notify_backup',
  'notify_fault',
  'notify_stop',
  'smtp_alert',
  'accept',
]);

/** Global settings that change what instances put on the wire. */
const WIRE_GLOBALS = ['vrrp_mcast_group4', 'vrrp_mcast_group6', 'vrrp_version', 'vrrp_strict'] as const;

export function classifyChange(oldCfg: Config, before: VrrpInstanceConfig, newCfg: Config, after: VrrpInstanceConfig): 'unchanged' | 'in-place' | 'recreate' {
  const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);
  if (WIRE_GLOBALS.some((k) => !same(oldCfg.global_defs[k], newCfg.global_defs[k]))) return 'recreate';
  // the address owner is another kind of router (never adjusted, starts as Master)
  if ((before.priority === 255) !== (after.priority === 255)) return 'recreate';
  if (instanceFamily(before) !== instanceFamily(after)) return 'recreate';
  const keys = new Set([...Object.keys(before), ...Object.keys(after)] as Array<keyof VrrpInstanceConfig>);
  let changed = false;
  for (const k of keys) {
    if (same(before[k], after[k])) continue;
    if (!IN_PLACE_FIELDS.has(k)) return 'recreate';
    changed = true;
  }
  const garpGlobals = ['vrrp_garp_master_delay', 'vrrp_garp_master_repeat', 'vrrp_garp_master_refresh'] as const;
  if (garpGlobals.some((k) => !same(oldCfg.global_defs[k], newCfg.global_defs[k]))) changed = true;
  return changed ? 'in-place' : 'unchanged';
}
