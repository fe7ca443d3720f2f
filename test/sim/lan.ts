// An in-memory LAN with a virtual clock. Each node runs a real VrrpInstance (state machine +
// codec); adverts cross the LAN as the real encoded bytes and are decoded on arrival, so the
// simulator exercises everything but the sockets. Time only moves when the simulation runs
// events, so scenarios can assert exact virtual times and thousands of virtual seconds pass in
// milliseconds of wall time.
//
// Delivery is instantaneous by default (an advert sent at t arrives at t, after every event
// already queued for t), which keeps the RFC's timer arithmetic visible in the assertions.

import type { Transition } from '../../src/vrrp/fsm.ts';
import { VrrpInstance, type InstanceConfig, type Scheduler } from '../../src/vrrp/instance.ts';
import { VRRP_GROUP_V4, VRRP_GROUP_V6, type Micros } from '../../src/vrrp/types.ts';

interface QueuedEvent {
  at: Micros;
  seq: number;
  fire: () => void;
}

/** A min-heap of events ordered by (time, insertion order): deterministic for equal times. */
export class VirtualClock {
  private heap: QueuedEvent[] = [];
  private seq = 0;
  private cancelled = new Set<number>();
  private time: Micros = 0;
  /** Events run so far; a guard against a run-away simulation. */
  eventsRun = 0;

  now(): Micros {
    return this.time;
  }

  schedule(after: Micros, fire: () => void): number {
    if (!(after >= 0)) throw new RangeError(`negative or NaN delay: ${after}`);
    const ev = { at: this.time + after, seq: this.seq++, fire };
    this.push(ev);
    return ev.seq;
  }

  cancel(id: number): void {
    this.cancelled.add(id);
  }

  /** Run every event due at or before `t`, then leave the clock at `t`. */
  runUntil(t: Micros): void {
    while (this.heap.length > 0 && (this.heap[0]?.at ?? Infinity) <= t) {
      const ev = this.pop();
      if (this.cancelled.delete(ev.seq)) continue;
      this.time = ev.at;
      this.eventsRun++;
      ev.fire();
    }
    if (t > this.time) this.time = t;
  }

  runFor(d: Micros): void {
    this.runUntil(this.time + d);
  }

  private push(ev: QueuedEvent): void {
    const h = this.heap;
    h.push(ev);
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!before(ev, h[p] as QueuedEvent)) break;
      h[i] = h[p] as QueuedEvent;
      i = p;
    }
    h[i] = ev;
  }

  private pop(): QueuedEvent {
    const h = this.heap;
    const top = h[0] as QueuedEvent;
    const last = h.pop() as QueuedEvent;
    if (h.length > 0) {
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        const cand = (k: number) => (k === i ? last : (h[k] as QueuedEvent));
        if (l < h.length && before(h[l] as QueuedEvent, cand(m))) m = l;
        if (r < h.length && before(h[r] as QueuedEvent, cand(m))) m = r;
        if (m === i) break;
        h[i] = h[m] as QueuedEvent;
        i = m;
      }
      h[i] = last;
    }
    return top;
  }
}

function before(a: QueuedEvent, b: QueuedEvent): boolean {
  return a.at < b.at || (a.at === b.at && a.seq < b.seq);
}

/** A node's view of the clock: its timers die with it when it is killed. */
class NodeScheduler implements Scheduler {
  private live = new Set<number>();
  constructor(private readonly clock: VirtualClock) {}
  now(): Micros {
    return this.clock.now();
  }
  setTimer(after: Micros, fire: () => void): number {
    const id = this.clock.schedule(after, () => {
      this.live.delete(id);
      fire();
    });
    this.live.add(id);
    return id;
  }
  clearTimer(handle: unknown): void {
    const id = handle as number;
    if (this.live.delete(id)) this.clock.cancel(id);
  }
  clearAll(): void {
    for (const id of this.live) this.clock.cancel(id);
    this.live.clear();
  }
}

export interface TransitionRecord extends Transition {
  node: string;
  vrid: number;
}

export type NodeOptions = Partial<InstanceConfig> & { name: string; address: string };

export class SimNode {
  instance!: VrrpInstance;
  alive = false;
  /** Whether the node currently holds the virtual addresses (add/remove effects applied). */
  holdsAddresses = false;
  announcements = 0;
  /** What happened to this node beyond transitions, with virtual times: announcements (with
   * their cause) and reassertions against a lower-priority Master. */
  readonly log: Array<{ at: number; what: 'announce' | 'announce-lower-priority' | 'reasserted'; peer?: string }> = [];
  private scheduler: NodeScheduler;

  constructor(
    readonly lan: SimLan,
    readonly config: InstanceConfig,
  ) {
    this.scheduler = new NodeScheduler(lan.clock);
  }

  get name(): string {
    return this.config.name;
  }

  get address(): string {
    return this.config.primaryAddress;
  }

  get state() {
    return this.instance.state;
  }

  /** Start (or restart after a kill) with a fresh instance, as a new daemon process would. */
  start(): this {
    if (this.alive) throw new Error(`${this.name} is already running`);
    this.holdsAddresses = false;
    this.instance = new VrrpInstance(
      this.config,
      this.scheduler,
      { send: (dst, bytes) => this.lan.transmit(this, dst, bytes) },
      {
        addAddresses: () => (this.holdsAddresses = true),
        removeAddresses: () => (this.holdsAddresses = false),
        announce: (_gen, cause) => {
          this.announcements++;
          this.log.push({ at: this.lan.clock.now(), what: cause === 'lower-priority' ? 'announce-lower-priority' : 'announce' });
        },
      },
      {
        onTransition: (t) => this.lan.record(this, t),
        onReasserted: (peer) => this.log.push({ at: this.lan.clock.now(), what: 'reasserted', peer }),
      },
    );
    this.alive = true;
    this.instance.start();
    return this;
  }

  /** Crash: no priority-0 advert, timers gone, addresses gone with the machine. */
  kill(): void {
    if (!this.alive) return;
    this.instance.halt();
    this.scheduler.clearAll();
    this.alive = false;
    this.holdsAddresses = false;
  }

  /** Clean stop (SIGTERM): priority-0 advert if Master, addresses removed. */
  stop(): void {
    if (!this.alive) return;
    this.instance.stop();
    this.scheduler.clearAll();
    this.alive = false;
  }

  setPriority(p: number): void {
    if (this.alive) this.instance.setPriority(p);
  }
}

export interface LanOptions {
  /** One-way delivery delay; 0 by default. */
  latency?: Micros;
}

export class SimLan {
  readonly clock = new VirtualClock();
  readonly nodes: SimNode[] = [];
  readonly transitions: TransitionRecord[] = [];
  /** Segment of each node; nodes hear each other only within a segment. */
  private segment = new Map<string, number>();
  packetsDelivered = 0;
  private readonly latency: Micros;

  constructor(opts: LanOptions = {}) {
    this.latency = opts.latency ?? 0;
  }

  /** Adds a node with vigil's defaults (v3, IPv4, VRID 1, priority 100, 1 s adverts, preempt). */
  addNode(opts: NodeOptions): SimNode {
    const family = opts.family ?? (opts.address.includes(':') ? 6 : 4);
    const config: InstanceConfig = {
      version: 3,
      family,
      vrid: 1,
      priority: 100,
      advertIntervalCs: 100,
      preempt: true,
      preemptDelay: 0,
      addresses: [family === 4 ? '192.0.2.100' : '2001:db8::100'],
      destinations: [family === 4 ? VRRP_GROUP_V4 : VRRP_GROUP_V6],
      ...opts,
      primaryAddress: opts.address,
    };
    const node = new SimNode(this, config);
    this.nodes.push(node);
    this.segment.set(node.name, 0);
    return node;
  }

  node(name: string): SimNode {
    const n = this.nodes.find((x) => x.name === name);
    if (!n) throw new Error(`no node ${name}`);
    return n;
  }

  startAll(): void {
    for (const n of this.nodes) n.start();
  }

  /** Split the LAN: each list is a segment; nodes not listed stay in segment 0. */
  partition(...groups: string[][]): void {
    for (const n of this.nodes) this.segment.set(n.name, 0);
    groups.forEach((g, i) => g.forEach((name) => this.segment.set(name, i + 1)));
  }

  heal(): void {
    for (const n of this.nodes) this.segment.set(n.name, 0);
  }

  segmentOf(node: SimNode): number {
    return this.segment.get(node.name) ?? 0;
  }

  /** Nodes currently in Master state, optionally of one VRID. */
  masters(vrid?: number): SimNode[] {
    return this.nodes.filter((n) => n.alive && n.state === 'master' && (vrid === undefined || n.config.vrid === vrid));
  }

  run(until: Micros): void {
    this.clock.runUntil(until);
  }

  /** Called by a node's transport: deliver to every live node in the sender's segment that the
   * destination reaches (the group, or the one unicast address). */
  transmit(from: SimNode, dst: string, bytes: Buffer): void {
    const seg = this.segmentOf(from);
    const multicast = dst === VRRP_GROUP_V4 || dst === VRRP_GROUP_V6;
    const copy = Buffer.from(bytes);
    for (const to of this.nodes) {
      if (to === from || !to.alive || this.segmentOf(to) !== seg) continue;
      if (!multicast && to.address !== dst) continue;
      const instance = to.instance;
      this.clock.schedule(this.latency, () => {
        // The receiver may have died, restarted or been cut off while the packet was in flight.
        if (!to.alive || to.instance !== instance || this.segmentOf(to) !== this.segmentOf(from)) return;
        this.packetsDelivered++;
        to.instance.receive(copy, { src: from.address, dst, ttl: 255 });
      });
    }
  }

  record(node: SimNode, t: Transition): void {
    this.transitions.push({ ...t, node: node.name, vrid: node.config.vrid });
  }

  /** Transitions of one node, optionally only those into `to`. */
  transitionsOf(name: string, to?: string): TransitionRecord[] {
    return this.transitions.filter((t) => t.node === name && (to === undefined || t.to === to));
  }
}

export const SECOND: Micros = 1_000_000;
