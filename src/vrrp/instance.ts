// One VRRP instance: the pure state machine (fsm.ts) joined to the packet codec and to three
// injected ports: a scheduler (clock + one-shot timers), a transport (sends encoded adverts) and
// an effects port (virtual addresses and announcements). The daemon gives it real sockets,
// netlink and a monotonic clock; the simulated LAN gives it memory and a virtual clock. The
// instance itself does no I/O of its own and never reads the wall clock.
//
// Receive path: the parsing and checks are receive.ts's (one place for the socket, the engine
// and the simulated LAN); the instance takes the decoded advert (accept) or counts the drop by
// reason (rejected; DESIGN.md rule 5).

import { VrrpFsm, type Action, type DiscardReason, type FsmConfig, type Input, type TimerName, type Transition } from './fsm.ts';
import { encodeAdvert } from './packet.ts';
import { acceptAdvert, type DropReason, type ReceiveMeta, type ReceiveProfile } from './receive.ts';
import type { Advert, AuthType, Family, Micros } from './types.ts';

export interface Scheduler {
  /** Monotonic microseconds. */
  now(): Micros;
  setTimer(after: Micros, fire: () => void): unknown;
  clearTimer(handle: unknown): void;
}

export interface Transport {
  /** Send one encoded advert to `dst` (the VRRP group or a unicast peer). */
  send(dst: string, bytes: Buffer): void;
}

/** Address and announcement effects. `generation` fences them: it grows with every state
 * transition, so an executor that finishes work late can tell the request is stale
 * (DESIGN.md rule 3). Implementations must be idempotent. */
export interface Effects {
  addAddresses(generation: number): void;
  removeAddresses(generation: number): void;
  announce(generation: number, cause?: 'lower-priority'): void;
}

/** The state machine's settings plus what the instance needs for the wire. */
export interface InstanceConfig extends FsmConfig {
  name: string;
  family: Family;
  /** The virtual addresses, as carried in adverts. */
  addresses: string[];
  /** Where adverts go: the VRRP multicast group, or the unicast peers. */
  destinations: string[];
  /** With unicast peers, adverts from anyone else are dropped. Empty = accept any sender. */
  acceptFrom?: string[];
  authType?: AuthType;
  authPassword?: string;
  /** Accept the pre-2.x keepalived v3 IPv4 checksum (no pseudo-header). */
  legacyV3Ipv4Checksum?: boolean;
}

export type { DropReason, ReceiveMeta } from './receive.ts';

export interface InstanceCounters {
  advertsSent: number;
  advertsReceived: number;
  priorityZeroSent: number;
  priorityZeroReceived: number;
  transitions: number;
  /** Times this Master reasserted itself against a lower-priority Master. */
  reassertions: number;
  /** Adverts whose address list differs from ours (RFC 5798 7.1: logged, still processed). */
  addressMismatches: number;
  dropped: Partial<Record<DropReason, number>>;
  discarded: Partial<Record<DiscardReason, number>>;
}

/** Counters of an instance that has counted nothing yet. */
export function zeroCounters(): InstanceCounters {
  return { advertsSent: 0, advertsReceived: 0, priorityZeroSent: 0, priorityZeroReceived: 0, transitions: 0, reassertions: 0, addressMismatches: 0, dropped: {}, discarded: {} };
}

export interface InstanceHooks {
  onTransition?(t: Transition, instance: VrrpInstance): void;
  onDrop?(reason: DropReason, detail: string, instance: VrrpInstance): void;
  /** This Master answered a lower-priority Master's advert (see VrrpFsm.reassert). */
  onReasserted?(peer: string, peerPriority: number, instance: VrrpInstance): void;
}

export class VrrpInstance {
  private settings: InstanceConfig;
  readonly fsm: VrrpFsm;
  readonly counters: InstanceCounters = zeroCounters();
  private generation = 0;
  private readonly timers = new Map<TimerName, unknown>();
  private sortedAddresses: string;
  /** The adverts last sent, one per destination, and the priority they carry. A Master sends
   * the same bytes every interval: they are encoded once (the checksum covers the priority, so
   * a new priority encodes anew) and dropped when the addresses change. A transport must not
   * modify the bytes it is given (the socket and the simulated LAN copy or send them as is). */
  private encoded: { priority: number; bytes: Buffer[] } | undefined;
  /** What receive.ts checks adverts against, built when the settings change, not per packet. */
  private profile: ReceiveProfile;

  constructor(
    config: InstanceConfig,
    private readonly scheduler: Scheduler,
    private readonly transport: Transport,
    private readonly effects: Effects,
    private readonly hooks: InstanceHooks = {},
  ) {
    this.settings = { ...config };
    this.sortedAddresses = [...config.addresses].sort().join(',');
    this.fsm = new VrrpFsm(config, scheduler);
    this.profile = receiveProfile(this.settings, this.fsm.isOwner);
  }

  get config(): Readonly<InstanceConfig> {
    return this.settings;
  }

  get state() {
    return this.fsm.state;
  }

  /** A reload changed what the RFC lets a running router change: preemption, and the
   * addresses its adverts carry (the executor moves the addresses themselves). */
  update(live: Partial<Pick<InstanceConfig, 'preempt' | 'preemptDelay' | 'addresses'>>): void {
    this.settings = { ...this.settings, ...live };
    if (live.addresses) {
      this.sortedAddresses = [...live.addresses].sort().join(',');
      this.encoded = undefined;
    }
    this.profile = receiveProfile(this.settings, this.fsm.isOwner);
    const { preempt, preemptDelay } = live;
    this.fsm.update({ ...(preempt !== undefined ? { preempt } : {}), ...(preemptDelay !== undefined ? { preemptDelay } : {}) });
  }

  /** Grows with every transition; effects carry the generation they were requested in. */
  get currentGeneration(): number {
    return this.generation;
  }

  start(elapsed?: Micros): void {
    this.handle({ type: 'startup', elapsed });
  }

  /** Clean stop: a Master sends its priority-0 advert and gives its addresses up. */
  stop(): void {
    this.handle({ type: 'shutdown' });
  }

  /** Abandon the instance without a word on the wire, as a crash would (used by the simulator
   * and by tests; the daemon never calls this). */
  halt(): void {
    for (const handle of this.timers.values()) this.scheduler.clearTimer(handle);
    this.timers.clear();
  }

  setPriority(priority: number): void {
    this.handle({ type: 'priority', priority });
  }

  /** Its sync group moved: follow it (see VrrpFsm's 'sync' input). */
  sync(to: 'master' | 'backup', detail?: string): void {
    this.handle({ type: 'sync', to, ...(detail !== undefined ? { detail } : {}) });
  }

  setFault(source: string, active: boolean): void {
    this.handle({ type: 'fault', source, active });
  }

  /** What receive.ts checks this instance's adverts against. */
  get receiveProfile(): ReceiveProfile {
    return this.profile;
  }

  /** One received VRRP message without IP header (the simulated LAN's entry; the daemon's
   * sockets go through receive.ts's receiveFrame). Never throws on bad bytes; the bytes are
   * read during this call only. */
  receive(bytes: Uint8Array, meta: ReceiveMeta): void {
    const r = acceptAdvert(bytes, meta, this.profile);
    if (r.ok) this.accept(r.advert, r.from);
    else this.rejected(r.reason, r.detail);
  }

  /** A decoded advert that passed receive.ts's checks for this instance. */
  accept(advert: Advert, from: string): void {
    this.counters.advertsReceived++;
    if (advert.priority === 0) this.counters.priorityZeroReceived++;
    if (!sameAddresses(advert.addresses, this.settings.addresses, this.sortedAddresses)) this.counters.addressMismatches++;
    this.handle({ type: 'advert', advert, from });
  }

  /** A packet for this instance that receive.ts dropped: counted by reason. */
  rejected(reason: DropReason, detail: string): void {
    this.counters.dropped[reason] = (this.counters.dropped[reason] ?? 0) + 1;
    this.hooks.onDrop?.(reason, detail, this);
  }

  private handle(input: Input): void {
    const { actions, transitions } = this.fsm.step(input);
    // Transitions first: effects of this step belong to the new generation.
    for (const t of transitions) {
      this.generation++;
      this.counters.transitions++;
      this.hooks.onTransition?.(t, this);
    }
    for (const action of actions) this.apply(action);
  }

  private apply(action: Action): void {
    switch (action.type) {
      case 'send-advert':
        return this.sendAdvert(action.priority);
      case 'add-addresses':
        return this.effects.addAddresses(this.generation);
      case 'remove-addresses':
        return this.effects.removeAddresses(this.generation);
      case 'announce':
        return this.effects.announce(this.generation, action.cause);
      case 'reasserted':
        this.counters.reassertions++;
        this.hooks.onReasserted?.(action.peer, action.peerPriority, this);
        return;
      case 'start-timer': {
        this.clearTimer(action.timer);
        const timer = action.timer;
        const handle = this.scheduler.setTimer(action.after, () => {
          this.timers.delete(timer);
          this.handle({ type: 'timer', timer });
        });
        this.timers.set(timer, handle);
        return;
      }
      case 'stop-timer':
        return this.clearTimer(action.timer);
      case 'discard':
        this.counters.discarded[action.reason] = (this.counters.discarded[action.reason] ?? 0) + 1;
        return;
    }
  }

  private clearTimer(name: TimerName): void {
    const handle = this.timers.get(name);
    if (handle === undefined) return;
    this.scheduler.clearTimer(handle);
    this.timers.delete(name);
  }

  private sendAdvert(priority: number): void {
    const c = this.config;
    if (this.encoded?.priority !== priority) {
      const advert: Advert = {
        version: c.version,
        family: c.family,
        vrid: c.vrid,
        priority,
        intervalCs: c.advertIntervalCs,
        addresses: c.addresses,
        authType: c.version === 2 ? (c.authType ?? 'none') : 'none',
        authPassword: c.version === 2 ? (c.authPassword ?? '') : '',
      };
      this.encoded = { priority, bytes: c.destinations.map((dst) => encodeAdvert(advert, { src: c.primaryAddress, dst })) };
    }
    const { bytes } = this.encoded;
    for (let i = 0; i < bytes.length; i++) this.transport.send(c.destinations[i] ?? '', bytes[i] as Buffer);
    this.counters.advertsSent++;
    if (priority === 0) this.counters.priorityZeroSent++;
  }
}

function receiveProfile(c: InstanceConfig, owner: boolean): ReceiveProfile {
  return {
    vrid: c.vrid,
    family: c.family,
    version: c.version,
    primaryAddress: c.primaryAddress,
    acceptFrom: c.acceptFrom,
    owner,
    decode: {
      family: c.family,
      ...(c.legacyV3Ipv4Checksum ? { legacyV3Ipv4Checksum: true } : {}),
      ...(c.version === 2 ? { auth: { type: c.authType ?? 'none', password: c.authPassword ?? '' } } : {}),
    },
  };
}

/** The advert carries our addresses (in any order). Adverts nearly always list them as we do,
 * so that is checked first, without sorting or joining anything. */
function sameAddresses(theirs: string[], ours: readonly string[], oursSorted: string): boolean {
  if (theirs.length === ours.length && theirs.every((a, i) => a === ours[i])) return true;
  return [...theirs].sort().join(',') === oursSorted;
}
