// The engine: every configured instance in one process, on real sockets, real netlink and a
// monotonic clock. It wires the parts, each in a file of its own:
//   sockets.ts        shared receive sockets per interface and family, VMACs, send sockets
//                     (frames parsed by vrrp/receive.ts)
//   effects.ts        address effects, serialized per instance, fenced by generation
//   garp-schedule.ts  gratuitous ARP / unsolicited NA on keepalived's schedule
//   trackers.ts       what plugins hold: priority adjustments and faults
//   drops.ts          drop accounting and summaries
//   status.ts         the status snapshot and transition history
//   reload-diff.ts    what a reload changes for each instance
//   sync-group-driver.ts  the sync group coordinator (vrrp/sync-group.ts) applied
// and owns the instances' lives: start, waiting for an interface, reload, clean stop.

import { EventBus } from '../bus/bus.ts';
import { monoMicros } from '../clock.ts';
import type { Config, VrrpInstanceConfig } from '../config/schema.ts';
import { instanceFamily } from '../config/semantic.ts';
import { defaultVmacName, removeVmac } from '../net/vmac.ts';
import type { Transition } from '../vrrp/fsm.ts';
import { VrrpInstance } from '../vrrp/instance.ts';
import { candidateName, type EtcdElectionConfig } from '../config/election-schema.ts';
import { ElectedInstance } from '../election/etcd-instance.ts';
import { ElectionMetrics } from './election-metrics.ts';
import type { DropReason } from '../vrrp/receive.ts';
import { AddressEffects } from './effects.ts';
import { Announcer, garpSchedule } from './garp-schedule.ts';
import { primaryAddress, toInstanceConfig, virtualAddresses, virtualRoutes, virtualRules } from './instances.ts';
import type { Logger } from './log.ts';
import { classifyChange, dropped, type ReloadDiff } from './reload-diff.ts';
import type { Running, RunningInstance } from './running.ts';
import { Schedule } from './schedule.ts';
import { SocketRegistry } from './sockets.ts';
import { DropCounter } from './drops.ts';
import { instanceStatus, TransitionHistory, type EngineStatus } from './status.ts';
import { SyncGroupDriver, syncGroupMembers } from './sync-group-driver.ts';
import { TrackerRegistry, type TrackerState } from './trackers.ts';

/** What Engine.reload() returns. */
export type { ReloadDiff } from './reload-diff.ts';

const STATE_NAMES = { initialize: 'INIT', backup: 'BACKUP', master: 'MASTER', fault: 'FAULT' } as const;

export class Engine {
  private readonly running = new Map<string, Running>();
  /** Every instance's timers, behind one Node timer (see schedule.ts). */
  private readonly schedule = new Schedule();
  private readonly sockets: SocketRegistry;
  private readonly effects: AddressEffects;
  private readonly announcer: Announcer;
  /** What plugins hold over instances (adjustments, faults). */
  private readonly tracked = new TrackerRegistry();
  private readonly drops: DropCounter;
  private readonly history = new TransitionHistory();
  private readonly sync: SyncGroupDriver;
  /** Renewal outcomes of etcd-elected instances (metrics). */
  readonly elections = new ElectionMetrics();
  private waitTimer: NodeJS.Timeout | undefined;
  /** Instances whose interface is missing or has no address yet (held in FAULT). */
  readonly waiting = new Set<string>();
  /** Instances between their launch and their state machine (creating a VMAC). */
  private readonly starting = new Set<string>();
  unknownVridPackets = 0;
  /** Reload outcomes (status, metrics). */
  readonly reloads = { applied: 0, rejected: 0 };

  constructor(
    private config: Config,
    private readonly log: Logger,
    readonly bus: EventBus = new EventBus(),
    dropSummaryMs = 10_000,
  ) {
    this.drops = new DropCounter(bus, dropSummaryMs);
    this.effects = new AddressEffects(log);
    this.announcer = new Announcer(log);
    this.sockets = new SocketRegistry({ log, interfaceDrop: (ifname, reason, detail) => this.interfaceDrop(ifname, reason, detail) });
    this.sync = new SyncGroupDriver(syncGroupMembers(config), {
      bus,
      instance: (name) => this.vrrpInstance(name),
      waiting: (name) => this.waiting.has(name),
      reassert: (name, peer, peerPriority) => this.reassertMember(name, peer, peerPriority),
    });
  }

  /** Removes addresses a crashed earlier run may have left, then starts every instance.
   * `execAt`: the daemon's exec on the monotonic clock (µs); the instances started now count
   * their first Master_Down_Timer from it (fsm.ts onStartup), later ones (an interface that
   * appears, a reload) from their own start. */
  async start(execAt?: number): Promise<void> {
    for (const inst of Object.values(this.config.vrrp_instance)) {
      // a VMAC left by a crash is reused, so its addresses must go too
      const vmac = inst.use_vmac === false ? undefined : typeof inst.use_vmac === 'string' ? inst.use_vmac : defaultVmacName(inst.virtual_router_id, instanceFamily(inst));
      const vips = [...virtualAddresses(inst), ...(vmac ? virtualAddresses(inst, vmac) : [])];
      await this.effects.removeStale(inst.interface, vips, virtualRoutes(inst.virtual_routes), virtualRules(inst.virtual_rules));
    }
    for (const name of Object.keys(this.config.vrrp_instance)) this.startInstance(name, execAt);
  }

  private startInstance(name: string, execAt?: number): void {
    this.launch(name, execAt).catch((e: Error) => this.log.error(`(${name}) cannot start: ${e.message}`));
  }

  private async launch(name: string, execAt?: number): Promise<void> {
    const inst = this.config.vrrp_instance[name];
    if (!inst || this.starting.has(name)) return;
    if (inst.election?.etcd) return this.launchElected(name, inst, inst.election.etcd);
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
    const shared = this.sockets.socketFor(key, inst.interface, cfg.family);
    let vmac: string | undefined;
    if (inst.use_vmac !== false) {
      this.starting.add(name);
      try {
        vmac = await this.sockets.ensureVmac(name, inst, cfg);
      } finally {
        this.starting.delete(name);
      }
    }
    const wiring = this.sockets.instanceSockets(inst, cfg, primary, vmac);
    const sender = wiring.ownSocket ?? shared;
    const run: Running = {
      name,
      instance: undefined as unknown as RunningInstance,
      vips: virtualAddresses(inst, vmac),
      vmac,
      ownSocket: wiring.ownSocket,
      routes: virtualRoutes(inst.virtual_routes),
      rules: virtualRules(inst.virtual_rules),
      dev: inst.interface,
      socketKey: key,
      effects: Promise.resolve(),
      garp: garpSchedule(inst, this.config.global_defs),
    };
    const instance = new VrrpInstance(
      cfg,
      this.schedule,
      { send: (dst, bytes) => sender.send(dst, bytes) },
      {
        addAddresses: (gen) => this.effects.queue(run, gen, 'add'),
        removeAddresses: (gen) => this.effects.queue(run, gen, 'remove'),
        announce: (gen, cause) => this.announcer.announce(run, gen, cause),
      },
      {
        onTransition: (t) => this.onTransition(name, inst, t),
        onReasserted: (peer, peerPriority, instance) => {
          this.log.info(`(${name}) Master received advert from ${peer} with lower priority ${peerPriority}, ours ${instance.fsm.priority}: reasserting`);
          this.bus.publish({ type: 'instance.reasserted', instance: name, vrid: inst.virtual_router_id, interface: inst.interface, peer, peerPriority, priority: instance.fsm.priority });
          this.sync.reasserted(name, peer, peerPriority);
        },
        onDrop: (reason, detail) => {
          this.drops.count(name, reason);
          this.log.debug(`(${name}) dropped advert: ${reason} (${detail})`);
        },
      },
    );
    run.instance = instance;
    this.sockets.register(key, cfg.vrid, instance);
    wiring.attach(instance);
    this.running.set(name, run);
    this.startRunning(name, inst, run, execAt);
  }

  /** Trackers may have spoken before the instance could start: it starts as they say. */
  private startRunning(name: string, inst: VrrpInstanceConfig, run: Running, execAt?: number): void {
    for (const source of this.tracked.faultsOf(name)) run.instance.setFault(source, true);
    const effective = this.effectivePriority(name);
    if (effective !== inst.priority) run.instance.setPriority(effective);
    run.instance.start(execAt === undefined ? undefined : monoMicros() - execAt);
    // a member that was missing held its group in FAULT; it is here now
    this.sync.faultsChanged(name);
  }

  /** An instance elected on etcd: no sockets; a lease decides (election/etcd-instance.ts). */
  private launchElected(name: string, inst: VrrpInstanceConfig, etcd: EtcdElectionConfig): void {
    const run: Running = {
      name,
      instance: undefined as unknown as RunningInstance,
      vips: virtualAddresses(inst),
      vmac: undefined,
      ownSocket: undefined,
      routes: virtualRoutes(inst.virtual_routes),
      rules: virtualRules(inst.virtual_rules),
      dev: inst.interface,
      socketKey: '',
      effects: Promise.resolve(),
      garp: garpSchedule(inst, this.config.global_defs),
    };
    const node = candidateName(etcd, this.config.global_defs.router_id);
    const elected = new ElectedInstance(
      { name, node, priority: inst.priority, preempt: !inst.nopreempt, preemptDelay: Math.round(inst.preempt_delay * 1e6), vrid: inst.virtual_router_id, etcd },
      {
        addAddresses: (gen) => this.effects.queue(run, gen, 'add'),
        removeAddresses: (gen) => this.effects.queue(run, gen, 'remove'),
        announce: (gen) => this.announcer.announce(run, gen),
      },
      {
        onTransition: (t) => this.onTransition(name, inst, t),
        onLeader: (leader, previous, lease) => this.bus.publish({ type: 'election.leader', instance: name, backend: 'etcd', node, leader: leader ?? null, previous: previous ?? null, lease }),
        onRenewal: (result, ms) => this.elections.renewal(name, result, ms),
        log: (level, message) => this.log[level](message),
      },
    );
    run.instance = elected;
    run.lifetime = () => elected.addressLifetime();
    this.running.set(name, run);
    this.startRunning(name, inst, run);
  }

  /** The VRRP instance of that name, if it runs (sync groups have only those). */
  private vrrpInstance(name: string): VrrpInstance | undefined {
    const i = this.running.get(name)?.instance;
    return i instanceof VrrpInstance ? i : undefined;
  }

  /** A frame dropped before any instance: counted under its interface. */
  private interfaceDrop(ifname: string, reason: DropReason, detail: string): void {
    this.drops.count(`interface:${ifname}`, reason);
    if (reason === 'vrid-mismatch') {
      this.unknownVridPackets++;
      this.log.debug(`${ifname}: dropped advert: vrid-mismatch (${detail})`);
    } else {
      this.log.debug(`${ifname}: dropped packet: ${reason} (${detail})`);
    }
  }

  /** A sync group sibling reasserted: this Master member re-announces its addresses too. */
  private reassertMember(name: string, peer: string, peerPriority: number): void {
    const run = this.running.get(name);
    if (!run || run.instance.state !== 'master') return;
    const inst = this.config.vrrp_instance[name];
    this.log.info(`(${name}) reasserting with its sync group ${this.sync.group(name) ?? ''}`);
    this.announcer.announce(run, run.instance.currentGeneration, 'lower-priority');
    if (inst) this.bus.publish({ type: 'instance.reasserted', instance: name, vrid: inst.virtual_router_id, interface: inst.interface, peer, peerPriority, priority: run.instance.fsm.priority });
  }

  private retryWaiting(): void {
    for (const name of [...this.waiting]) this.startInstance(name);
    if (this.waiting.size === 0 && this.waitTimer) {
      clearInterval(this.waitTimer);
      this.waitTimer = undefined;
    }
  }

  private onTransition(name: string, inst: VrrpInstanceConfig, t: Transition): void {
    this.history.record(name, t);
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

  /** Base priority plus every adjustment (see TrackerRegistry.effective). */
  private effectivePriority(name: string, base = this.config.vrrp_instance[name]?.priority ?? 100): number {
    return this.tracked.effective(name, base);
  }

  /** A plugin's adjustment for an instance from one source (weight 0 removes it). */
  adjust(plugin: string, instance: string, source: string, weight: number): void {
    if (!this.config.vrrp_instance[instance]) {
      this.log.warn(`plugin ${plugin}: adjustment for unknown instance ${instance} ignored`);
      return;
    }
    const key = `${plugin}:${source}`;
    const previous = this.effectivePriority(instance);
    if (this.tracked.adjust(instance, key, weight)) this.applyPriority(instance, previous, key);
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
      adjustments: this.tracked.adjustmentsOf(instance),
    });
  }

  /** A plugin holds (or releases) an instance in FAULT on behalf of one source. */
  setFault(plugin: string, instance: string, source: string, active: boolean): void {
    if (!this.config.vrrp_instance[instance]) {
      this.log.warn(`plugin ${plugin}: fault for unknown instance ${instance} ignored`);
      return;
    }
    const key = `${plugin}:${source}`;
    if (!this.tracked.setFault(instance, key, active)) return;
    this.log.info(`(${instance}) fault ${active ? 'set' : 'cleared'} by ${key}`);
    this.bus.publish({ type: 'instance.fault', instance, source: key, active, faults: this.tracked.faultsOf(instance) });
    this.running.get(instance)?.instance.setFault(key, active);
    this.sync.faultsChanged(instance);
  }

  /** A plugin went away (reload): whatever it held no longer holds. */
  forgetPlugin(plugin: string): void {
    const held = this.tracked.heldBy(plugin);
    for (const [instance, source] of held.faults) this.setFault(plugin, instance, source, false);
    for (const [instance, source] of held.adjustments) this.adjust(plugin, instance, source, 0);
  }

  /** Adjustments and faults in force, per instance (status). */
  trackers(instance: string): TrackerState {
    return { adjustments: this.tracked.adjustmentsOf(instance), faults: this.tracked.faultsOf(instance), effective: this.effectivePriority(instance) };
  }

  /** One summary per scope per window, however many packets: a flood cannot flood the bus. */
  flushDrops(): void {
    this.drops.flush();
  }

  /** A snapshot of everything an operator asks about (status socket, dumps, metrics). */
  status(): EngineStatus {
    return {
      instances: Object.entries(this.config.vrrp_instance).map(([name, inst]) =>
        instanceStatus(this.config, name, inst, this.running.get(name)?.instance, this.waiting.has(name), this.trackers(name), this.history.of(name), this.elections.of(name)),
      ),
      drops: this.drops.snapshot(),
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
    this.drops.stop();
    this.announcer.stop();
    // every stop is asked for before any is waited on: VRRP's priority-0 adverts go out at once
    const stops = [...this.running.values()].map((r) => ({ r, stopping: r.instance.stop() }));
    await Promise.all(stops.map(async ({ r, stopping }) => {
      await stopping;
      await this.retire(r);
    }));
    await this.sockets.close();
    this.running.clear();
    this.effects.close();
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
    for (const name of diff.removed) this.tracked.forget(name);
    for (const name of Object.keys(next.vrrp_instance)) {
      if (this.running.has(name)) continue;
      if (!old.vrrp_instance[name]) diff.added.push(name);
      else if (!diff.recreated.includes(name) && !diff.unchanged.includes(name)) diff.recreated.push(name);
      this.startInstance(name);
    }
    return diff;
  }

  private async retireInstance(name: string, run: Running): Promise<void> {
    await run.instance.stop();
    await this.retire(run);
    this.sockets.unregister(run.socketKey, run.instance.config.vrid);
    this.running.delete(name);
  }

  private updateInPlace(name: string, run: Running, before: VrrpInstanceConfig, after: VrrpInstanceConfig): void {
    const cfg = toInstanceConfig(this.config, name, after, run.instance.config.primaryAddress);
    run.instance.update({ preempt: cfg.preempt, preemptDelay: cfg.preemptDelay, addresses: cfg.addresses });
    run.garp = garpSchedule(after, this.config.global_defs);
    const vips = virtualAddresses(after, run.vmac);
    const routes = virtualRoutes(after.virtual_routes);
    const rules = virtualRules(after.virtual_rules);
    const gone = { vips: dropped(run.vips, vips), routes: dropped(run.routes, routes), rules: dropped(run.rules, rules) };
    run.vips = vips;
    run.routes = routes;
    run.rules = rules;
    // A Master moves its addresses at once: the new set in place (idempotent for the ones it
    // already holds) and announced, the dropped ones removed.
    if (run.instance.state === 'master') {
      const gen = run.instance.currentGeneration;
      this.effects.queueRemoval(run, gone);
      void this.effects.queue(run, gen, 'add');
      if (JSON.stringify(before.virtual_ipaddress) !== JSON.stringify(after.virtual_ipaddress)) this.announcer.announce(run, gen);
    }
    const previous = this.effectivePriority(name, before.priority);
    this.applyPriority(name, previous, 'config');
  }
}
