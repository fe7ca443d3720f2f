// An instance elected on etcd (docs/election.md): the same states, transitions, addresses and
// trackers as a VRRP instance, decided by a lease instead of adverts.
//
// One loop per instance, every renew_interval (sooner when the watch sees a change):
//   1. hold a lease: grant one, or renew it once; each acknowledged renewal moves the fencing
//      deadline D to its *send* time + TTL(1-rho) - eps (timing.ts);
//   2. publish this candidate (priority, fault) on the lease;
//   3. read the election's keys linearizably and act: claim a free leadership when this is the
//      best candidate, step aside for a better one (preempt), notice a lost leader key.
// Independently, a timer at D removes the addresses if no renewal moved D in time: the server
// cannot expire the lease before D, so the old holder is gone before a new one can win.
//
// Order rules (DESIGN.md rule 3): addresses are added only after the claim succeeded and while
// now < D, with a kernel lifetime that ends before D (so a frozen or killed daemon loses them
// too); they are removed before the leader key is deleted or the lease revoked.

import type { EtcdElectionConfig } from '../config/election-schema.ts';
import { monoMicros } from '../clock.ts';
import type { State, Transition, TransitionReason } from '../vrrp/fsm.ts';
import { zeroCounters, type InstanceCounters } from '../vrrp/instance.ts';
import { challenger, parseCandidate, parseLeaderName, shouldClaim, type Candidate, type LeaderKey } from './decide.ts';
import { describeEtcdError, EtcdElectionClient } from './etcd-client.ts';
import { electionTiming, holdFor, lifetimeRefresh, validLifetime, type ElectionTiming } from './timing.ts';

export interface ElectedSettings {
  /** The instance's name. */
  name: string;
  /** This candidate's name. */
  node: string;
  priority: number;
  preempt: boolean;
  /** Microseconds a better candidate must have been seen before this holder steps aside. */
  preemptDelay: number;
  vrid: number;
  etcd: EtcdElectionConfig;
}

/** What the engine does for the instance: its address effects (resolving when done). */
export interface ElectedEffects {
  addAddresses(generation: number): Promise<void>;
  removeAddresses(generation: number): Promise<void>;
  announce(generation: number): void;
}

export interface ElectedHooks {
  onTransition(t: Transition): void;
  onLeader(leader: string | undefined, previous: string | undefined, lease: ElectionStatus['lease']): void;
  onRenewal(result: 'ok' | 'failed' | 'lost', latencyMs: number): void;
  log(level: 'info' | 'warn' | 'error', message: string): void;
}

/** What `vigil status` shows of the election. */
export interface ElectionStatus {
  backend: 'etcd';
  name: string;
  leader: string | null;
  lease: { id: string; ttl: number; remainingMs: number } | null;
  connected: boolean;
  policy: 'release' | 'keep';
  /** Holding the addresses past the deadline because etcd has no quorum (quorum_loss: keep). */
  keeping: boolean;
  endpoints: string[];
  lastError: string | null;
}

interface Lease {
  id: string;
  ttlUs: number;
  /** The fencing deadline (monotonic µs). */
  deadline: number;
  lastSent: number;
}

const REPEAT_ERROR_US = 30_000_000;

export class ElectedInstance {
  private current: State = 'initialize';
  private generation = 0;
  private readonly faults = new Set<string>();
  private effective: number;
  private lease: Lease | undefined;
  private leader: LeaderKey | undefined;
  private myLeaderRevision: string | undefined;
  private readonly client: EtcdElectionClient;
  private readonly timing: ElectionTiming;
  private readonly prefix: string;
  private stopped = false;
  private deadlineTimer: NodeJS.Timeout | undefined;
  /** Where the kernel lifetime last given to the addresses ends (monotonic µs, a lower bound:
   * the kernel starts counting when it handles the add) and for which Master generation. */
  private addressesUntil = { generation: -1, until: 0 };
  /** Re-sets the lifetime at its best moment (timing.ts lifetimeRefresh). */
  private lifetimeTimer: NodeJS.Timeout | undefined;
  /** Fires when the lifetime runs out before D: renewals have failed that long. */
  private lapseTimer: NodeJS.Timeout | undefined;
  private wake: (() => void) | undefined;
  private published = '';
  private challengerSince: number | undefined;
  private connected = false;
  private lastError: { text: string; at: number } | undefined;
  /** quorum_loss keep: the last proof that etcd has no leader (monotonic µs), or undefined. */
  private leaderlessAt: number | undefined;
  private keeping = false;
  private loopDone: Promise<void> = Promise.resolve();
  /** The VRRP counters status shows for every instance; an elected one counts transitions only. */
  readonly counters: InstanceCounters = zeroCounters();

  constructor(
    private settings: ElectedSettings,
    private readonly effects: ElectedEffects,
    private readonly hooks: ElectedHooks,
  ) {
    this.effective = settings.priority;
    this.timing = electionTiming(settings.etcd);
    this.client = new EtcdElectionClient(settings.etcd, this.timing.requestUs / 1000);
    this.prefix = settings.etcd.key ?? `/vigil/election/${settings.name}`;
  }

  // --- what the engine reads, as of a VRRP instance ------------------------------------------

  get state(): State {
    return this.current;
  }

  get currentGeneration(): number {
    return this.generation;
  }

  get fsm(): { priority: number; activeFaults: string[]; masterAddress: string | undefined } {
    return { priority: this.effective, activeFaults: [...this.faults].sort(), masterAddress: this.leaderName };
  }

  get config(): { vrid: number; version: number; advertIntervalCs: number; primaryAddress: string } {
    return { vrid: this.settings.vrid, version: 0, advertIntervalCs: 0, primaryAddress: this.settings.node };
  }

  private get leaderName(): string | undefined {
    return this.leader?.name;
  }

  status(): ElectionStatus {
    const now = monoMicros();
    return {
      backend: 'etcd',
      name: this.settings.node,
      leader: this.leaderName ?? null,
      lease: this.lease ? { id: this.lease.id, ttl: this.lease.ttlUs / 1e6, remainingMs: Math.max(0, Math.round((this.lease.deadline - now) / 1000)) } : null,
      connected: this.connected,
      policy: this.settings.etcd.quorum_loss,
      keeping: this.keeping,
      endpoints: [...this.settings.etcd.endpoints],
      lastError: this.lastError?.text ?? null,
    };
  }

  /** The kernel lifetime to add the addresses with now, whole seconds, called just before the
   * add; 0 = do not add them: the deadline is too near (or past), or the lifetime they already
   * have ends later (an add is a replace and would shorten it). */
  addressLifetime(): number {
    if (this.current !== 'master') return 0;
    const now = monoMicros();
    const proof = this.keeping || this.leaderlessProven();
    const seconds = proof ? Math.max(1, Math.floor(this.timing.ttlUs / 1e6)) : this.lease ? validLifetime(now, this.lease.deadline) : 0;
    if (seconds === 0) return 0;
    const held = this.addressesUntil;
    if (held.generation === this.generation && now + seconds * 1e6 <= held.until) return 0;
    this.addressesUntil = { generation: this.generation, until: now + seconds * 1e6 };
    this.armLifetime(now, proof);
    return seconds;
  }

  // --- inputs ------------------------------------------------------------------------------

  start(): void {
    this.move(this.faults.size ? 'fault' : 'backup', this.faults.size ? 'fault' : 'startup', this.faults.size ? [...this.faults].join(',') : undefined);
    this.loopDone = this.loop();
  }

  /** Clean stop: addresses removed, then the lease revoked, so a peer takes over at once. */
  stop(): Promise<void> {
    if (this.stopped) return this.loopDone;
    this.stopped = true;
    this.wake?.();
    clearTimeout(this.deadlineTimer);
    clearTimeout(this.lifetimeTimer);
    clearTimeout(this.lapseTimer);
    const wasMaster = this.current === 'master';
    const gen = this.move('initialize', 'shutdown');
    const removed = wasMaster ? this.effects.removeAddresses(gen) : Promise.resolve();
    // a cycle in flight ends within its requests' deadlines; an etcd that does not answer
    // must not hold the daemon's stop any longer than that
    const bound = <T>(p: Promise<T>) => Promise.race([p, new Promise<void>((r) => setTimeout(r, (2 * this.timing.requestUs) / 1000).unref())]);
    return (this.loopDone = Promise.all([removed, bound(this.loopDone)])
      .then(async () => {
        if (this.lease) await bound(this.client.revoke(this.lease.id).catch(() => undefined));
      })
      .finally(() => this.client.close()));
  }

  setPriority(priority: number): void {
    this.effective = priority;
    this.wake?.();
  }

  setFault(source: string, active: boolean): void {
    const had = this.faults.size > 0;
    if (active) this.faults.add(source);
    else this.faults.delete(source);
    if (this.stopped || this.current === 'initialize') return;
    if (!had && this.faults.size > 0) {
      const wasMaster = this.current === 'master';
      const gen = this.move('fault', 'fault', [...this.faults].join(','));
      if (wasMaster) void this.stepAside(gen);
    } else if (had && this.faults.size === 0) {
      this.move('backup', 'fault-cleared', source);
    }
    this.wake?.();
  }

  update(live: { preempt?: boolean; preemptDelay?: number }): void {
    this.settings = { ...this.settings, ...live };
  }

  // --- the loop ----------------------------------------------------------------------------

  private async loop(): Promise<void> {
    while (!this.stopped) {
      const started = monoMicros();
      try {
        await this.cycle();
        this.reachable();
      } catch (e) {
        this.failed(await this.client.explain(e));
      }
      // the next renewal is due P after the last one was sent, whatever woke the loop since:
      // an early cycle (a watch event) must not push it later
      const next = Math.min(started + this.timing.renewUs, this.lease ? this.lease.lastSent + this.timing.renewUs : Infinity);
      const left = next - monoMicros();
      if (left > 0 && !this.stopped) await new Promise<void>((resolve) => {
        const t = setTimeout(done, left / 1000);
        function done() {
          clearTimeout(t);
          resolve();
        }
        this.wake = done;
      });
      this.wake = undefined;
    }
  }

  private async cycle(): Promise<void> {
    // after a pause (SIGSTOP, a starved CPU) I/O may run before the deadline timer: D is
    // checked on every path that could keep or add a VIP, not by the timer alone
    if (this.deadlinePassed()) return;
    await this.holdLease();
    if (this.deadlinePassed()) return;
    if (this.stopped || !this.lease) return;
    await this.publish(this.lease.id);
    const kvs = await this.client.read(this.prefix);
    if (this.stopped) return;
    const candidates: Candidate[] = [];
    let leader: LeaderKey | undefined;
    for (const kv of kvs) {
      const rest = kv.key.slice(this.prefix.length + 1);
      if (rest === 'leader') leader = { name: parseLeaderName(kv.value) ?? '?', lease: kv.lease, createRevision: kv.createRevision };
      else if (rest.startsWith('cand/')) {
        const c = parseCandidate(kv.value);
        if (c) candidates.push(c);
      }
    }
    this.see(leader);
    await this.decide(candidates, leader);
    // etcd answers: (re)open the watch that wakes this loop on a change (reads every cycle
    // keep it right without one; it only makes a takeover sooner)
    if (!this.client.watching && !this.stopped) {
      await this.client.watch(this.prefix, () => this.wake?.()).catch((e: unknown) => this.hooks.log('warn', `(${this.settings.name}) etcd watch: ${describeEtcdError(e)}; reading every ${this.timing.renewUs / 1e6} s meanwhile`));
    }
  }

  /** Grants a lease, or renews the one held when a renewal is due. */
  private async holdLease(): Promise<void> {
    const now = monoMicros();
    if (!this.lease) {
      const granted = await this.client.grant(this.settings.etcd.lease_ttl);
      const ttlUs = Math.min(this.timing.ttlUs, granted.ttl * 1e6);
      this.lease = { id: granted.id, ttlUs, deadline: now + holdFor(ttlUs), lastSent: now };
      this.published = '';
      this.armDeadline();
      return;
    }
    if (now - this.lease.lastSent < this.timing.renewUs * 0.8) return;
    const lease = this.lease;
    lease.lastSent = now;
    let ttl: number;
    let sent: number;
    try {
      ({ ttl, sent } = await this.client.renew(lease.id, this.timing.renewUs / 1000));
    } catch (e) {
      this.hooks.onRenewal('failed', (monoMicros() - now) / 1000);
      if (this.settings.etcd.quorum_loss === 'keep' && this.current === 'master') await this.probeQuorum();
      throw e;
    }
    this.hooks.onRenewal(ttl > 0 ? 'ok' : 'lost', (monoMicros() - now) / 1000);
    if (this.lease !== lease) return; // released meanwhile: a late answer revives nothing
    if (ttl <= 0) {
      this.leaseGone('etcd-lease-lost', 'etcd says the lease is gone');
      return;
    }
    this.keeping = false;
    this.leaderlessAt = undefined;
    const deadline = sent + holdFor(Math.min(lease.ttlUs, ttl * 1e6));
    if (deadline > lease.deadline) lease.deadline = deadline;
    this.armDeadline();
    // the kernel lifetime follows the deadline: at once when it lapsed (or nears), then at its
    // best moment (armLifetime)
    if (this.current === 'master') void this.effects.addAddresses(this.generation);
  }

  private async publish(lease: string): Promise<void> {
    const me = this.me();
    const value = JSON.stringify(me);
    if (value === this.published) return;
    await this.client.put(`${this.prefix}/cand/${me.name}`, value, lease);
    this.published = value;
  }

  private me(): Candidate {
    return { name: this.settings.node, priority: this.effective, fault: this.faults.size > 0 };
  }

  private see(leader: LeaderKey | undefined): void {
    const before = this.leader?.name;
    this.leader = leader;
    if (leader?.name !== before) this.hooks.onLeader(leader?.name, before, this.status().lease);
  }

  private async decide(candidates: Candidate[], leader: LeaderKey | undefined): Promise<void> {
    const lease = this.lease;
    if (!lease) return;
    const me = this.me();
    if (this.current === 'master') {
      if (!leader || leader.lease !== lease.id) {
        this.release('etcd-lease-lost', leader ? `the leader key is on another lease (${leader.name})` : 'the leader key is gone');
        return;
      }
      const better = this.settings.preempt ? challenger(me, candidates) : undefined;
      if (!better) {
        this.challengerSince = undefined;
        return;
      }
      const now = monoMicros();
      this.challengerSince ??= now;
      if (now - this.challengerSince < this.settings.preemptDelay) return;
      this.challengerSince = undefined;
      const gen = this.move('backup', 'etcd-preempted', `${better.name} priority ${better.priority}`);
      await this.stepAside(gen);
      return;
    }
    if (this.current !== 'backup' || leader || !shouldClaim(me, candidates)) return;
    const revision = await this.client.claim(`${this.prefix}/leader`, JSON.stringify({ name: me.name, priority: me.priority }), lease.id);
    if (!revision) return; // another candidate won the race
    this.myLeaderRevision = revision;
    // claimed: Master only while the lease is surely alive, and only if nothing moved meanwhile
    if (this.lease !== lease || monoMicros() >= lease.deadline || this.current !== 'backup' || this.stopped) {
      await this.client.resign(`${this.prefix}/leader`, revision).catch(() => undefined);
      return;
    }
    this.see({ name: me.name, lease: lease.id, createRevision: revision });
    const gen = this.move('master', 'etcd-elected', `lease ${lease.id}`);
    await this.effects.addAddresses(gen);
    this.effects.announce(gen);
  }

  /** Addresses first, then the leader key: the next holder can only win once they are gone. */
  private async stepAside(gen: number): Promise<void> {
    await this.effects.removeAddresses(gen);
    const revision = this.myLeaderRevision;
    this.myLeaderRevision = undefined;
    if (revision) await this.client.resign(`${this.prefix}/leader`, revision).catch((e: unknown) => this.hooks.log('warn', `(${this.settings.name}) etcd: resigning: ${describeEtcdError(e)}; the key goes with the lease`));
  }

  // --- the addresses' kernel lifetime -------------------------------------------------------

  /** After an add: the next re-set at its best moment, and a warning should it lapse first. */
  private armLifetime(now: number, proof: boolean): void {
    clearTimeout(this.lifetimeTimer);
    clearTimeout(this.lapseTimer);
    const gen = this.generation;
    const until = this.addressesUntil.until;
    const next = !proof && this.lease ? lifetimeRefresh(now, this.lease.deadline) : undefined;
    if (next && next.ends > until + 100_000) {
      this.lifetimeTimer = setTimeout(() => void this.effects.addAddresses(gen), (next.at - now) / 1000);
    }
    this.lapseTimer = setTimeout(() => this.lapsed(), (until - now) / 1000 + 1);
  }

  /** The lifetime ran out with no re-set since (every add, transition and the stop clear this
   * timer): the kernel removed the addresses. Before D that means renewals have failed for
   * nearly a TTL; the next acknowledged one adds them back. */
  private lapsed(): void {
    const lease = this.lease;
    const since = lease ? ` (the last acknowledged renewal was sent ${((monoMicros() - (lease.deadline - holdFor(lease.ttlUs))) / 1e6).toFixed(1)} s ago)` : '';
    this.hooks.log('warn', `(${this.settings.name}) etcd: the addresses' kernel lifetime ran out before the lease's deadline${since}; the kernel removed them, and an acknowledged renewal adds them back. A lease_ttl that outlasts an etcd leader election avoids this`);
  }

  // --- the fencing deadline ------------------------------------------------------------------

  private armDeadline(): void {
    clearTimeout(this.deadlineTimer);
    if (!this.lease || this.stopped) return;
    const wait = Math.max(0, this.lease.deadline - monoMicros());
    this.deadlineTimer = setTimeout(() => this.onDeadline(), Math.ceil(wait / 1000));
  }

  /** The lease's deadline has passed: acted on at once (as the timer would), true. */
  private deadlinePassed(): boolean {
    if (!this.lease || monoMicros() < this.lease.deadline) return false;
    this.onDeadline();
    return this.lease === undefined || this.keeping === false;
  }

  private onDeadline(): void {
    const lease = this.lease;
    if (!lease || this.stopped) return;
    const now = monoMicros();
    if (now < lease.deadline) return this.armDeadline(); // a timer may fire early by a tick
    if (this.current === 'master' && this.leaderlessProven()) {
      if (!this.keeping) this.hooks.log('warn', `(${this.settings.name}) etcd quorum lost: keeping the addresses (quorum_loss: keep); no member has a leader, so no other node can be elected`);
      this.keeping = true;
      clearTimeout(this.deadlineTimer);
      this.deadlineTimer = setTimeout(() => this.onDeadline(), this.timing.renewUs / 1000);
      return;
    }
    this.leaseGone('etcd-lease-deadline', `no renewal acknowledged within ${(holdFor(lease.ttlUs) / 1e6).toFixed(2)} s of the last one sent`);
  }

  /** quorum_loss keep, and a fresh proof that no etcd member has a leader. */
  private leaderlessProven(): boolean {
    return this.settings.etcd.quorum_loss === 'keep' && this.leaderlessAt !== undefined && monoMicros() - this.leaderlessAt <= 2 * this.timing.renewUs;
  }

  /** quorum_loss keep: is there positive proof that etcd has no leader anywhere? While there
   * is, the addresses' kernel lifetime is renewed from the proof instead of the lease. */
  private async probeQuorum(): Promise<void> {
    const r = await this.client.quorumLost().catch(() => ({ leaderless: false, detail: 'probe failed' }));
    if (r.leaderless) {
      this.leaderlessAt = monoMicros();
      if (this.current === 'master') void this.effects.addAddresses(this.generation);
    } else {
      this.leaderlessAt = undefined;
      if (this.keeping) this.leaseGone('etcd-lease-deadline', `etcd is not leaderless any more (${r.detail})`);
    }
  }

  /** The lease can no longer be trusted: release, and start over with a new one. */
  private leaseGone(reason: TransitionReason, detail: string): void {
    const lease = this.lease;
    this.lease = undefined;
    this.keeping = false;
    this.leaderlessAt = undefined;
    clearTimeout(this.deadlineTimer);
    this.release(reason, detail);
    // the old lease is abandoned; revoking it (when etcd answers) frees the leader key sooner
    if (lease) void this.client.revoke(lease.id).catch(() => undefined);
    this.wake?.();
  }

  private release(reason: TransitionReason, detail: string): void {
    this.myLeaderRevision = undefined;
    if (this.current !== 'master') return;
    const gen = this.move('backup', reason, detail);
    void this.effects.removeAddresses(gen);
  }

  private move(to: State, reason: TransitionReason, detail?: string): number {
    const from = this.current;
    if (from === to) return this.generation;
    this.current = to;
    this.generation++;
    this.counters.transitions++;
    clearTimeout(this.lifetimeTimer);
    clearTimeout(this.lapseTimer);
    this.hooks.onTransition({ from, to, reason, priority: this.effective, at: monoMicros(), ...(detail !== undefined ? { detail } : {}) });
    return this.generation;
  }

  // --- reachability, reported once per change and again every 30 s ---------------------------

  private reachable(): void {
    if (!this.connected && this.lastError) this.hooks.log('info', `(${this.settings.name}) etcd reachable again`);
    this.connected = true;
    this.lastError = undefined;
  }

  private failed(cause: string): void {
    this.connected = false;
    const eps = this.settings.etcd.endpoints;
    const text = `etcd ${eps.length > 1 ? `(${eps.join(', ')})` : eps[0]}: ${cause}`;
    const now = monoMicros();
    if (this.lastError?.text !== text || now - this.lastError.at > REPEAT_ERROR_US) {
      this.hooks.log('error', `(${this.settings.name}) ${text}${this.current === 'master' ? '' : '; no address is taken without a lease'}`);
      this.lastError = { text, at: now };
    }
  }
}
