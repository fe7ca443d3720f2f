// The VRRP state machine of RFC 5798 section 6 (and RFC 3768 for v2), pure and deterministic.
//
// Inputs go in through step(); actions (as data) and transitions come out. There are no
// sockets, timers or wall clock here: timers are actions the driver carries out (instance.ts)
// and feeds back as 'timer' inputs, and the only notion of time is the injected clock, read to
// stamp transitions. The same machine therefore runs on the wire, in the simulated LAN and
// under a fuzzer.
//
// Beyond the RFC's three states there is Fault (keepalived's FAULT): held while any fault
// source (a tracked interface, a track_script with weight 0, ...) says this node must not
// serve. Several sources can hold it at once; the instance leaves Fault when the last clears.

import { compareAddresses } from './address-order.ts';
import { centisToMicros, masterDownInterval, skewTime } from './timers.ts';
import { PRIORITY_OWNER, PRIORITY_STOP, type Advert, type Micros, type VrrpVersion } from './types.ts';

export type State = 'initialize' | 'backup' | 'master' | 'fault';

export type TimerName = 'adver' | 'master-down' | 'preempt-delay';

/** Why a transition happened; stable strings, since events, logs and notify scripts carry them. */
export type TransitionReason =
  /** Initialize -> Backup. */
  | 'startup'
  /** Initialize or Fault -> Master: priority 255, the router owns the addresses. */
  | 'address-owner'
  /** Backup -> Master: the Master went silent for Master_Down_Interval. */
  | 'master-down-timer'
  /** Backup -> Master: the Master resigned with a priority-0 advert; took over after Skew_Time. */
  | 'priority-zero'
  /** Backup -> Master: this router outranks the Master, whose adverts it discarded. */
  | 'preempted'
  /** Master -> Backup: an advert with a higher priority arrived. */
  | 'higher-priority-seen'
  /** Master -> Backup: an advert with equal priority from a higher primary address arrived. */
  | 'equal-priority-higher-address'
  /** Backup or Master -> Fault. */
  | 'fault'
  /** Fault -> Backup. */
  | 'fault-cleared'
  /** Any -> Initialize. */
  | 'shutdown'
  /** Backup -> Master or Master -> Backup: another member of its sync group moved. */
  | 'sync-group'
  /** etcd election (docs/election.md), Backup -> Master: this node created the leader key on its lease. */
  | 'etcd-elected'
  /** etcd election, Master -> Backup: a live candidate with a higher priority appeared (preempt). */
  | 'etcd-preempted'
  /** etcd election, Master -> Backup: no renewal was acknowledged in time; the addresses go
   * before the lease can expire on the server (the fencing deadline). */
  | 'etcd-lease-deadline'
  /** etcd election, Master -> Backup: etcd says the lease or the leader key is gone. */
  | 'etcd-lease-lost';

/** Why a valid advert was not acted on. These are counted, not errors. */
export type DiscardReason =
  /** v2 only: the advert interval differs from ours (RFC 3768 section 7.1). */
  | 'interval-mismatch'
  /** Backup preempting: the Master's priority is lower than ours, so its advert does not reset
   * the Master_Down_Timer. */
  | 'lower-priority'
  /** Master: an advert from a router that does not outrank us. */
  | 'not-outranked'
  /** Master: a lower-priority advert within one advert interval of the last reassertion. */
  | 'reassert-rate-limited'
  /** In Initialize or Fault, adverts are ignored. */
  | 'not-listening';

export type Action =
  | { type: 'send-advert'; priority: number }
  | { type: 'add-addresses' }
  | { type: 'remove-addresses' }
  /** Gratuitous ARP / unsolicited Neighbor Advertisement for every virtual address: on
   * becoming Master, or (`lower-priority`) when reasserting against a lower-priority Master. */
  | { type: 'announce'; cause?: 'lower-priority' }
  /** This Master heard another router claim mastership without outranking it (a partition
   * healing: both were Master) and reasserted itself on the wire. */
  | { type: 'reasserted'; peer: string; peerPriority: number }
  /** Start, or restart, the named timer; it fires once. */
  | { type: 'start-timer'; timer: TimerName; after: Micros }
  | { type: 'stop-timer'; timer: TimerName }
  | { type: 'discard'; reason: DiscardReason };

export interface Transition {
  from: State;
  to: State;
  reason: TransitionReason;
  /** Effective priority at the time of the transition. */
  priority: number;
  /** Clock reading at the transition. */
  at: Micros;
  /** Extra context for logs, e.g. the sender of the advert or the fault source. */
  detail?: string;
}

export interface StepResult {
  actions: Action[];
  transitions: Transition[];
}

export type Input =
  | { type: 'startup'; elapsed?: Micros | undefined }
  | { type: 'shutdown' }
  /** A received advert that already passed the receive checks of RFC 5798 section 7.1 that need
   * no state (TTL, checksum, VRID, auth); `from` is the sender's primary address. */
  | { type: 'advert'; advert: Advert; from: string }
  | { type: 'timer'; timer: TimerName }
  /** The effective priority as computed from the base priority and the trackers. */
  | { type: 'priority'; priority: number }
  /** Its sync group moved: follow (Backup -> Master, or Master -> Backup). */
  | { type: 'sync'; to: 'master' | 'backup'; detail?: string }
  | { type: 'fault'; source: string; active: boolean };

export interface Clock {
  /** Monotonic time in microseconds. */
  now(): Micros;
}

export interface FsmConfig {
  version: VrrpVersion;
  vrid: number;
  /** Configured (base) priority, 1..255. 255 makes this router the address owner. */
  priority: number;
  /** Our advert interval in centiseconds. */
  advertIntervalCs: number;
  /** false = keepalived's nopreempt. */
  preempt: boolean;
  /** keepalived's preempt_delay: a lower-priority Master is tolerated this long after startup, or
   * after it is first seen, before this router preempts it. 0 = preempt at once. */
  preemptDelay: Micros;
  /** This router's primary address on the interface: the source of its adverts, and the
   * tie-breaker between equal priorities. */
  primaryAddress: string;
  /** keepalived's lower_prio_no_advert: a Master that hears a lower-priority advert does not
   * answer it with an advert of its own (it still re-announces its addresses). */
  lowerPrioNoAdvert?: boolean;
  /** keepalived's higher_prio_send_advert: a Master stepping down for a higher-priority advert
   * first sends one advert of its own. The other Master then hears a lower priority and
   * reasserts with fresh announcements: after a split brain, whichever advert crosses first,
   * the clients are told where the addresses went. */
  higherPrioSendAdvert?: boolean;
  /** A sync group's gate: may this member become Master now that its Master_Down_Timer ran
   * out? keepalived's rule: only if every other member is Master or wants to be too (prefer
   * Backup to thrashing). Absent = no group. */
  canBecomeMaster?: () => boolean;
}

/** Where the preempt_delay window stands while in Backup. */
type PreemptHold = 'none' | 'holding' | 'elapsed';

/** Settings a running state machine may change without a restart (a config reload). */
export type LiveSettings = Pick<FsmConfig, 'preempt' | 'preemptDelay'>;

export class VrrpFsm {
  private settings: FsmConfig;
  private readonly clock: Clock;
  private current: State = 'initialize';
  private effectivePriority: number;
  /** The Master's advert interval as learned from its adverts (v3); ours until then. */
  private masterAdverIntervalCs: number;
  private readonly faults = new Set<string>();
  /** What the running Master_Down_Timer will mean when it fires. */
  private downCause: 'master-down-timer' | 'priority-zero' | 'preempted' = 'master-down-timer';
  private preemptHold: PreemptHold = 'none';
  /** The address of the last Master we heard (for status), if any. */
  private lastMaster: string | undefined;
  /** When this Master last reasserted itself against a lower-priority one. */
  private lastReassert: Micros | undefined;
  /** Backup whose Master_Down_Timer ran out while its sync group held it back. */
  private wantMaster = false;

  constructor(config: FsmConfig, clock: Clock) {
    if (!Number.isInteger(config.priority) || config.priority < 1 || config.priority > PRIORITY_OWNER) {
      throw new RangeError(`priority must be 1..255, got ${config.priority}`);
    }
    this.settings = { ...config };
    this.clock = clock;
    this.effectivePriority = config.priority;
    this.masterAdverIntervalCs = config.advertIntervalCs;
  }

  get config(): Readonly<FsmConfig> {
    return this.settings;
  }

  get state(): State {
    return this.current;
  }

  /** Applies reloaded settings in place. Preemption rules take effect with the next advert;
   * a preempt_delay window already running keeps its end. */
  update(live: Partial<LiveSettings>): void {
    this.settings = { ...this.settings, ...live };
  }

  get priority(): number {
    return this.effectivePriority;
  }

  get isOwner(): boolean {
    return this.config.priority === PRIORITY_OWNER;
  }

  get learnedMasterIntervalCs(): number {
    return this.masterAdverIntervalCs;
  }

  get masterAddress(): string | undefined {
    return this.current === 'master' ? this.config.primaryAddress : this.lastMaster;
  }

  /** A Backup ready to take over, held back only by its sync group (see canBecomeMaster). */
  get wantsMaster(): boolean {
    return this.current === 'backup' && this.wantMaster;
  }

  get activeFaults(): string[] {
    return [...this.faults].sort();
  }

  /** Master_Down_Interval with the current priority and learned interval. */
  get masterDownInterval(): Micros {
    return masterDownInterval(this.config.version, this.effectivePriority, this.masterAdverIntervalCs);
  }

  get skewTime(): Micros {
    return skewTime(this.config.version, this.effectivePriority, this.masterAdverIntervalCs);
  }

  step(input: Input): StepResult {
    const out: StepResult = { actions: [], transitions: [] };
    switch (input.type) {
      case 'startup':
        this.onStartup(out, input.elapsed ?? 0);
        break;
      case 'shutdown':
        this.onShutdown(out);
        break;
      case 'advert':
        this.onAdvert(input.advert, input.from, out);
        break;
      case 'timer':
        this.onTimer(input.timer, out);
        break;
      case 'priority':
        this.onPriority(input.priority);
        break;
      case 'fault':
        this.onFault(input.source, input.active, out);
        break;
      case 'sync':
        this.onSync(input.to, out, input.detail);
        break;
    }
    return out;
  }

  // --- inputs ---------------------------------------------------------------------------------

  /** `elapsed`: how long ago the router started (its daemon's exec), when that was before this
   * instance could listen. RFC 5798 starts the Master_Down_Timer at Startup; a slow start
   * (vigil listens ~0.4 s after exec, keepalived after ~15 ms) would otherwise lose the race
   * between two nodes started together to the lower priority. At most half an advert interval
   * is credited, so the Backup still listens for 2.5 intervals plus Skew_Time (two adverts of a
   * Master already there, whatever their phase) before it may take over. */
  private onStartup(out: StepResult, elapsed: Micros): void {
    if (this.current !== 'initialize') return;
    if (this.faults.size > 0) {
      this.enterFault(out, 'fault', this.activeFaults.join(','));
    } else if (this.isOwner) {
      this.enterMaster(out, 'address-owner');
    } else {
      const credit = Math.max(0, Math.min(elapsed, centisToMicros(this.config.advertIntervalCs) / 2));
      this.enterBackup(out, 'startup', { holdPreempt: true, credit });
    }
  }

  private onShutdown(out: StepResult): void {
    if (this.current === 'initialize') return;
    if (this.current === 'master') this.resign(out);
    this.stopAllTimers(out);
    this.transition(out, 'initialize', 'shutdown');
  }

  private onAdvert(advert: Advert, from: string, out: StepResult): void {
    if (this.current === 'initialize' || this.current === 'fault') {
      out.actions.push({ type: 'discard', reason: 'not-listening' });
      return;
    }
    if (this.config.version === 2 && advert.intervalCs !== this.config.advertIntervalCs) {
      out.actions.push({ type: 'discard', reason: 'interval-mismatch' });
      return;
    }
    if (this.current === 'backup') this.backupReceives(advert, from, out);
    else this.masterReceives(advert, from, out);
  }

  private backupReceives(advert: Advert, from: string, out: StepResult): void {
    if (advert.priority === PRIORITY_STOP) {
      // RFC 5798 6.4.2: the Master is leaving; take over after Skew_Time, not a full interval.
      this.lastMaster = from;
      this.downCause = 'priority-zero';
      out.actions.push({ type: 'start-timer', timer: 'master-down', after: this.skewTime });
      return;
    }
    if (advert.priority >= this.effectivePriority) {
      this.setPreemptHold(out, 'none');
    } else if (this.config.preempt && !this.preemptDelayed(out)) {
      // We outrank this Master: let its adverts lapse so the Master_Down_Timer hands us the
      // role. (With nopreempt, or inside the preempt_delay window, it is accepted below.)
      this.lastMaster = from;
      this.downCause = 'preempted';
      out.actions.push({ type: 'discard', reason: 'lower-priority' });
      return;
    }
    this.lastMaster = from;
    this.wantMaster = false;
    if (this.config.version === 3) this.masterAdverIntervalCs = advert.intervalCs;
    this.downCause = 'master-down-timer';
    out.actions.push({ type: 'start-timer', timer: 'master-down', after: this.masterDownInterval });
  }

  /** True while preemption must wait; opens the window on the first lower-priority advert. */
  private preemptDelayed(out: StepResult): boolean {
    if (this.config.preemptDelay <= 0) return false;
    if (this.preemptHold === 'none') this.setPreemptHold(out, 'holding');
    return this.preemptHold === 'holding';
  }

  private masterReceives(advert: Advert, from: string, out: StepResult): void {
    if (advert.priority === PRIORITY_STOP) {
      // Another router thinks it was Master and is leaving: assert ourselves at once.
      out.actions.push({ type: 'send-advert', priority: this.effectivePriority });
      out.actions.push({ type: 'start-timer', timer: 'adver', after: this.adverInterval() });
      return;
    }
    let reason: TransitionReason | undefined;
    if (advert.priority > this.effectivePriority) reason = 'higher-priority-seen';
    else if (
      advert.priority === this.effectivePriority &&
      compareAddresses(from, this.config.primaryAddress) > 0
    ) {
      reason = 'equal-priority-higher-address';
    }
    if (!reason) {
      this.reassert(advert, from, out);
      return;
    }
    if (this.settings.higherPrioSendAdvert) out.actions.push({ type: 'send-advert', priority: this.effectivePriority });
    out.actions.push({ type: 'stop-timer', timer: 'adver' });
    out.actions.push({ type: 'remove-addresses' });
    if (this.config.version === 3) this.masterAdverIntervalCs = advert.intervalCs;
    this.lastMaster = from;
    this.enterBackup(out, reason, { holdPreempt: false, detail: from });
  }

  /** Another router claims mastership without outranking us: both are Master, typically as a
   * partition heals. The RFC only discards its advert, leaving clients and cloud APIs with
   * whichever Master announced last, often the lower one. Like keepalived, answer at once with
   * our own advert (so it steps down now, not at its next timer) and re-announce the addresses
   * (so clients come back). At most once per advert interval: a peer misconfigured to claim
   * forever cannot turn this into a storm. */
  private reassert(advert: Advert, from: string, out: StepResult): void {
    const now = this.clock.now();
    if (this.lastReassert !== undefined && now - this.lastReassert < this.adverInterval()) {
      out.actions.push({ type: 'discard', reason: 'reassert-rate-limited' });
      return;
    }
    this.lastReassert = now;
    out.actions.push({ type: 'discard', reason: 'not-outranked' });
    if (!this.settings.lowerPrioNoAdvert) {
      out.actions.push({ type: 'send-advert', priority: this.effectivePriority });
      out.actions.push({ type: 'start-timer', timer: 'adver', after: this.adverInterval() });
    }
    out.actions.push({ type: 'announce', cause: 'lower-priority' });
    out.actions.push({ type: 'reasserted', peer: from, peerPriority: advert.priority });
  }

  private onTimer(timer: TimerName, out: StepResult): void {
    switch (timer) {
      case 'adver':
        if (this.current !== 'master') return;
        out.actions.push({ type: 'send-advert', priority: this.effectivePriority });
        out.actions.push({ type: 'start-timer', timer: 'adver', after: this.adverInterval() });
        return;
      case 'master-down':
        if (this.current !== 'backup') return;
        if (this.settings.canBecomeMaster && !this.settings.canBecomeMaster()) {
          // Its group is not ready: say so, and look again shortly (the others' timers are
          // about to run out, or they still hear a Master and this one should stay Backup).
          this.wantMaster = true;
          out.actions.push({ type: 'start-timer', timer: 'master-down', after: this.skewTime });
          return;
        }
        this.enterMaster(out, this.downCause, this.lastMaster);
        return;
      case 'preempt-delay':
        if (this.current === 'backup' && this.preemptHold === 'holding') this.preemptHold = 'elapsed';
        return;
    }
  }

  private onPriority(priority: number): void {
    // The address owner's priority is never adjusted; others stay within 1..254.
    if (this.isOwner) return;
    this.effectivePriority = Math.min(PRIORITY_OWNER - 1, Math.max(1, Math.round(priority)));
  }

  private onSync(to: 'master' | 'backup', out: StepResult, detail?: string): void {
    if (to === 'master' && this.current === 'backup') {
      this.enterMaster(out, 'sync-group', detail);
    } else if (to === 'backup' && this.current === 'master') {
      out.actions.push({ type: 'stop-timer', timer: 'adver' });
      out.actions.push({ type: 'remove-addresses' });
      this.enterBackup(out, 'sync-group', { holdPreempt: false, detail });
    }
  }

  private onFault(source: string, active: boolean, out: StepResult): void {
    const had = this.faults.size > 0;
    if (active) this.faults.add(source);
    else this.faults.delete(source);
    const has = this.faults.size > 0;
    if (this.current === 'initialize' || had === has) return;
    if (has) {
      if (this.current === 'master') this.resign(out);
      this.stopAllTimers(out);
      this.enterFault(out, 'fault', source);
    } else if (this.isOwner) {
      this.enterMaster(out, 'address-owner');
    } else {
      this.enterBackup(out, 'fault-cleared', { holdPreempt: true, detail: source });
    }
  }

  // --- state entry ----------------------------------------------------------------------------

  private enterMaster(out: StepResult, reason: TransitionReason, detail?: string): void {
    this.setPreemptHold(out, 'none');
    out.actions.push({ type: 'stop-timer', timer: 'master-down' });
    out.actions.push({ type: 'send-advert', priority: this.effectivePriority });
    out.actions.push({ type: 'add-addresses' });
    out.actions.push({ type: 'announce' });
    out.actions.push({ type: 'start-timer', timer: 'adver', after: this.adverInterval() });
    this.transition(out, 'master', reason, detail);
  }

  private enterBackup(
    out: StepResult,
    reason: TransitionReason,
    opts: { holdPreempt: boolean; detail?: string | undefined; credit?: Micros },
  ): void {
    if (reason !== 'higher-priority-seen' && reason !== 'equal-priority-higher-address') {
      this.masterAdverIntervalCs = this.config.advertIntervalCs;
    }
    this.downCause = 'master-down-timer';
    this.setPreemptHold(out, opts.holdPreempt && this.config.preemptDelay > 0 ? 'holding' : 'none');
    out.actions.push({ type: 'start-timer', timer: 'master-down', after: this.masterDownInterval - (opts.credit ?? 0) });
    this.transition(out, 'backup', reason, opts.detail);
  }

  private enterFault(out: StepResult, reason: TransitionReason, detail: string): void {
    this.transition(out, 'fault', reason, detail);
  }

  /** Leave mastership cleanly: a priority-0 advert so a Backup takes over after Skew_Time,
   * then give the addresses up. */
  private resign(out: StepResult): void {
    out.actions.push({ type: 'send-advert', priority: PRIORITY_STOP });
    out.actions.push({ type: 'remove-addresses' });
  }

  private setPreemptHold(out: StepResult, hold: PreemptHold): void {
    if (hold === this.preemptHold) return;
    if (hold === 'holding') {
      out.actions.push({ type: 'start-timer', timer: 'preempt-delay', after: this.config.preemptDelay });
    } else if (this.preemptHold === 'holding') {
      out.actions.push({ type: 'stop-timer', timer: 'preempt-delay' });
    }
    this.preemptHold = hold;
  }

  private stopAllTimers(out: StepResult): void {
    this.setPreemptHold(out, 'none');
    out.actions.push({ type: 'stop-timer', timer: 'adver' });
    out.actions.push({ type: 'stop-timer', timer: 'master-down' });
  }

  private adverInterval(): Micros {
    return centisToMicros(this.config.advertIntervalCs);
  }

  private transition(out: StepResult, to: State, reason: TransitionReason, detail?: string): void {
    this.wantMaster = false;
    const t: Transition = { from: this.current, to, reason, priority: this.effectivePriority, at: this.clock.now() };
    if (detail !== undefined) t.detail = detail;
    this.current = to;
    out.transitions.push(t);
  }
}
