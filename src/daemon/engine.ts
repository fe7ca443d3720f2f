// The engine: every configured instance in one process, on real sockets, real netlink and a
// monotonic clock. It owns the sockets (one per interface and family, shared by the instances
// on it, packets dispatched by VRID), the address effects (serialized per instance, fenced by
// generation) and the clean stop.

import type { Config, VrrpInstanceConfig } from '../config/schema.ts';
import { instanceFamily } from '../config/semantic.ts';
import { AddressManager, type AddressSpec } from '../net/addresses.ts';
import { announce } from '../net/announce.ts';
import { RouteManager, type RouteSpec } from '../net/routes.ts';
import type { RuleSpec } from '../net/rules.ts';
import { VrrpSocket, type ReceivedPacket } from '../net/socket.ts';
import { defaultVmacName, ensureVmac, removeVmac, virtualMac } from '../net/vmac.ts';
import type { Transition } from '../vrrp/fsm.ts';
import { VrrpInstance, type Scheduler } from '../vrrp/instance.ts';
import type { Family, Micros } from '../vrrp/types.ts';
import { primaryAddress, toInstanceConfig, virtualAddresses, virtualRoutes, virtualRules } from './instances.ts';
import type { Logger } from './log.ts';

/** Monotonic microseconds and Node timers. */
export const realScheduler: Scheduler = {
  now: (): Micros => Number(process.hrtime.bigint() / 1000n),
  setTimer: (after, fire) => setTimeout(fire, after / 1000),
  clearTimer: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

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
  garp: { delay: number; repeat: number; refresh: number };
}

export class Engine {
  private readonly running = new Map<string, Running>();
  private readonly sockets = new Map<string, { socket: VrrpSocket; byVrid: Map<number, Running> }>();
  private readonly addresses = new AddressManager();
  private readonly routes = new RouteManager();
  private waitTimer: NodeJS.Timeout | undefined;
  readonly waiting = new Set<string>();
  unknownVridPackets = 0;

  constructor(
    private config: Config,
    private readonly log: Logger,
  ) {}

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
    this.warnNotImplemented();
    for (const name of Object.keys(this.config.vrrp_instance)) this.startInstance(name);
  }

  /** Configured features the engine does not act on yet are said out loud, once, at start:
   * an operator must not believe a health check steers priority when nothing runs it. */
  private warnNotImplemented(): void {
    const later: Array<[keyof VrrpInstanceConfig, string]> = [
      ['track_script', 'track_script'],
      ['track_interface', 'track_interface'],
      ['track_file', 'track_file'],
    ];
    for (const [name, inst] of Object.entries(this.config.vrrp_instance)) {
      const unused = later.filter(([k]) => (inst[k] as unknown[]).length > 0).map(([, label]) => label);
      for (const k of ['notify', 'notify_master', 'notify_backup', 'notify_fault', 'notify_stop'] as const) if (inst[k]) unused.push(k);
      if (unused.length > 0) this.log.warn(`(${name}) not implemented yet, ignored: ${unused.join(', ')}`);
    }
    if (Object.keys(this.config.vrrp_sync_group).length > 0) this.log.warn('vrrp_sync_group is not implemented yet; instances run independently');
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
      this.waitTimer ??= setInterval(() => this.retryWaiting(), 1000);
      return;
    }
    this.waiting.delete(name);
    const cfg = toInstanceConfig(this.config, name, inst, primary);
    const key = `${inst.interface}/${cfg.family}`;
    const entry = this.socketFor(key, inst.interface, cfg.family);
    // use_vmac: VIPs live on a macvlan with the virtual MAC, and adverts leave from it (unless
    // vmac_xmit_base) so their source MAC is the virtual one; adverts are received on the base
    // interface's shared socket. IPv6 adverts leave from the base: their source must be the
    // link-local address the checksum was computed with.
    let vmac: string | undefined;
    let ownSocket: VrrpSocket | undefined;
    if (inst.use_vmac !== false) {
      vmac = typeof inst.use_vmac === 'string' ? inst.use_vmac : defaultVmacName(cfg.vrid, cfg.family);
      this.starting.add(name);
      try {
        if (await ensureVmac(inst.interface, vmac, virtualMac(cfg.vrid, cfg.family))) this.log.info(`(${name}) created ${vmac} on ${inst.interface}`);
      } finally {
        this.starting.delete(name);
      }
      if (!inst.vmac_xmit_base && cfg.family === 4) {
        ownSocket = new VrrpSocket({ family: 4, interface: vmac, group: null, onPacket: () => undefined, onError: (e) => this.log.warn(`${vmac}: ${e.message}`) });
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
      garp: {
        delay: inst.garp_master_delay ?? g.vrrp_garp_master_delay,
        repeat: inst.garp_master_repeat ?? g.vrrp_garp_master_repeat,
        refresh: inst.garp_master_refresh ?? g.vrrp_garp_master_refresh,
      },
    };
    run.instance = new VrrpInstance(
      cfg,
      realScheduler,
      { send: (dst, bytes) => sender.send(dst, bytes) },
      {
        addAddresses: (gen) => this.effect(run, gen, 'add'),
        removeAddresses: (gen) => this.effect(run, gen, 'remove'),
        announce: (gen) => this.announceAll(run, gen),
      },
      {
        onTransition: (t) => this.logTransition(name, t),
        onDrop: (reason, detail) => this.log.debug(`(${name}) dropped advert: ${reason} (${detail})`),
      },
    );
    entry.byVrid.set(cfg.vrid, run);
    this.running.set(name, run);
    run.instance.start();
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
      onPacket: (p: ReceivedPacket) => {
        const run = byVrid.get(p.bytes[1] ?? 0);
        if (!run) {
          this.unknownVridPackets++;
          this.log.debug(`${ifname}: dropped advert: vrid-mismatch (VRID ${p.bytes[1] ?? 0} from ${p.src})`);
          return;
        }
        run.instance.receive(p.bytes, p);
      },
      onInvalid: (reason, detail) => this.log.debug(`${ifname}: dropped packet: ${reason} (${detail})`),
      onError: (e) => this.log.warn(`${ifname}: ${e.message}`),
    });
    entry = { socket, byVrid };
    this.sockets.set(key, entry);
    return entry;
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
   * Each round is skipped once the instance has moved on. */
  private announceAll(run: Running, generation: number): void {
    const round = () => {
      if (run.instance.currentGeneration !== generation || run.instance.state !== 'master') return false;
      const byDev = new Map<string, string[]>();
      for (const v of run.vips) byDev.set(v.dev, [...(byDev.get(v.dev) ?? []), v.address.split('/')[0] ?? '']);
      for (let i = 0; i < run.garp.repeat; i++) {
        for (const [dev, addrs] of byDev) announce(dev, addrs).catch((e: Error) => this.log.warn(`(${run.name}) ${e.message}`));
      }
      return true;
    };
    // after the addresses are in place
    run.effects = run.effects.then(() => {
      if (!round()) return;
      if (run.garp.delay > 0) this.later(run.garp.delay, () => round());
      if (run.garp.refresh > 0) {
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

  private logTransition(name: string, t: Transition): void {
    // keepalived's wording, so existing log alerts keep matching
    this.log.info(`(${name}) Entering ${STATE_NAMES[t.to]} STATE`, { from: t.from, reason: t.reason, priority: t.priority, ...(t.detail ? { detail: t.detail } : {}) });
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

  /** SIGHUP: instances whose settings changed are restarted, removed ones stopped, new ones
   * started; unchanged instances keep their state (the flap-free in-place update comes with
   * the plugin work). */
  async reload(next: Config): Promise<string[]> {
    const changed: string[] = [];
    const old = this.config;
    this.config = next;
    for (const [name, run] of [...this.running]) {
      const before = JSON.stringify(old.vrrp_instance[name]);
      const after = JSON.stringify(next.vrrp_instance[name]);
      if (before === after && JSON.stringify(old.global_defs) === JSON.stringify(next.global_defs)) continue;
      changed.push(name);
      run.instance.stop();
      await this.retire(run);
      this.sockets.get(run.socketKey)?.byVrid.delete(run.instance.config.vrid);
      this.running.delete(name);
    }
    for (const name of Object.keys(next.vrrp_instance)) {
      if (!this.running.has(name) && !this.waiting.has(name)) {
        if (!changed.includes(name)) changed.push(name);
        this.startInstance(name);
      }
    }
    return changed;
  }
}
