// vrrp_sync_group: instances that change state together, as keepalived's do. A typical use is
// a router's outside and inside addresses: if one moves and the other does not, traffic
// enters one node and leaves by another.
//
// - A member becoming Master takes the others with it; a Master member stepping down takes the
//   others to Backup.
// - A member may become Master on its own timer only when every other member is Master or
//   wants to be (its timer ran out too): otherwise it stays Backup and looks again shortly.
//   keepalived prefers Backup to thrashing, and so does vigil.
// - A fault of any member (its own tracker, its interface missing) holds every member in FAULT,
//   under the fault source `sync-group:NAME`, until no member has a fault of its own.
// - The group's own state is published as `group.transition` (group notify scripts and fifo
//   lines run on it): FAULT when any member is, otherwise MASTER or BACKUP once all members
//   agree, INITIALIZE (keepalived's STOP) when all have stopped.
// - When one Master member reasserts itself against a lower-priority Master (a healed split
//   brain), every other Master member re-announces too.
//
// Pure, like the state machine: the coordinator reads its members through a view, and answers
// each question with data (the inputs the other members must get, the group's new state). It
// never calls into a state machine; the driver (the engine, or a test) applies the inputs, and
// the transitions those cause come back here as ordinary member transitions. Propagation stops
// by itself: a transition whose reason is 'sync-group' moves nobody else.

import type { State, Transition, TransitionReason } from './fsm.ts';

/** What the coordinator needs to know of one member, read when asked. */
export interface MemberView {
  /** Its state machine's state; undefined while it does not run (before it starts, or while it
   * waits for its interface). */
  state: State | undefined;
  /** Not running because its interface is missing or has no address (keepalived's FAULT). */
  waiting: boolean;
  /** A Backup whose Master_Down_Timer ran out while the group held it back. */
  wantsMaster: boolean;
  /** Its active fault sources (the group's own among them, when set). */
  faults: readonly string[];
}

export type MemberLookup = (name: string) => MemberView;

/** An input for one member's state machine, for the driver to apply. */
export type MemberInput =
  /** Follow the group: Backup -> Master or Master -> Backup (VrrpFsm's 'sync' input). */
  | { type: 'sync'; member: string; to: 'master' | 'backup'; detail: string }
  /** Hold or free the member under the group's fault source. */
  | { type: 'fault'; member: string; source: string; active: boolean }
  /** Re-announce this Master member's addresses: a sibling reasserted against `peer`. */
  | { type: 'reassert'; member: string; peer: string; peerPriority: number };

/** The group's own state changed (`group.transition`). */
export interface GroupTransition {
  group: string;
  from: State;
  to: State;
  /** The member's reason, or 'shutdown' when every member stopped. */
  reason: TransitionReason;
  /** The member whose transition settled it. */
  instance: string;
}

export const syncFaultSource = (group: string): string => `sync-group:${group}`;

export class SyncGroupCoordinator {
  private readonly groupOf = new Map<string, string>();
  private readonly members = new Map<string, readonly string[]>();
  private readonly state = new Map<string, State>();

  /** `groups`: each group's members, those that are configured instances. */
  constructor(groups: Readonly<Record<string, readonly string[]>> = {}) {
    this.configure(groups);
  }

  /** (Re)reads the groups; a group keeps its state across a reload. */
  configure(groups: Readonly<Record<string, readonly string[]>>): void {
    this.groupOf.clear();
    this.members.clear();
    for (const [g, members] of Object.entries(groups)) {
      this.members.set(g, [...members]);
      for (const m of members) this.groupOf.set(m, g);
      if (!this.state.has(g)) this.state.set(g, 'initialize');
    }
    for (const g of [...this.state.keys()]) if (!this.members.has(g)) this.state.delete(g);
  }

  group(name: string): string | undefined {
    return this.groupOf.get(name);
  }

  groupState(group: string): State | undefined {
    return this.state.get(group);
  }

  /** The gate of VrrpFsm's canBecomeMaster for a member: every sibling runs and is Master or
   * wants to be. */
  canBecomeMaster(name: string, view: MemberLookup): boolean {
    const g = this.groupOf.get(name);
    if (!g) return true;
    return this.others(g, name).every((m) => {
      const v = view(m);
      return v.state !== undefined && (v.state === 'master' || v.wantsMaster);
    });
  }

  /** A member moved on its own (not by its group): the siblings that must follow. */
  followers(name: string, t: Transition, view: MemberLookup): MemberInput[] {
    const g = this.groupOf.get(name);
    if (!g || t.reason === 'sync-group') return [];
    const detail = `${g}: ${name} ${t.reason}`;
    const out: MemberInput[] = [];
    for (const m of this.others(g, name)) {
      const state = view(m).state;
      if (t.to === 'master' && state === 'backup') out.push({ type: 'sync', member: m, to: 'master', detail });
      else if (t.to === 'backup' && t.from === 'master' && state === 'master') out.push({ type: 'sync', member: m, to: 'backup', detail });
    }
    return out;
  }

  /** A member's faults changed (or it moved, appeared or went): the members whose group fault
   * must be set or cleared. The group is held while any member has a fault of its own, or
   * waits for its interface; only members whose hold differs get an input. */
  faultInputs(name: string, view: MemberLookup): MemberInput[] {
    const g = this.groupOf.get(name);
    if (!g) return [];
    const source = syncFaultSource(g);
    const members = this.members.get(g) ?? [];
    const views = members.map(view);
    const held = views.some((v) => (v.state === undefined ? v.waiting : v.faults.some((f) => f !== source)));
    const out: MemberInput[] = [];
    members.forEach((m, i) => {
      const v = views[i];
      if (v?.state !== undefined && v.faults.includes(source) !== held) out.push({ type: 'fault', member: m, source, active: held });
    });
    return out;
  }

  /** A Master member reasserted itself: its Master siblings re-announce too. */
  reassertions(name: string, peer: string, peerPriority: number, view: MemberLookup): MemberInput[] {
    const g = this.groupOf.get(name);
    if (!g) return [];
    return this.others(g, name)
      .filter((m) => view(m).state === 'master')
      .map((member) => ({ type: 'reassert', member, peer, peerPriority }));
  }

  /** After a member's transition (and the inputs it caused) is applied: the group's own state,
   * when it changed. */
  settle(name: string, t: Transition, view: MemberLookup): GroupTransition | undefined {
    const g = this.groupOf.get(name);
    if (!g) return undefined;
    const states = (this.members.get(g) ?? []).map((m) => {
      const v = view(m);
      return v.state ?? (v.waiting ? 'fault' : 'initialize');
    });
    let next: State | undefined;
    if (states.includes('fault')) next = 'fault';
    else if (states.every((s) => s === 'initialize')) next = 'initialize';
    else if (states.every((s) => s === 'master')) next = 'master';
    else if (states.every((s) => s === 'backup')) next = 'backup';
    const prev = this.state.get(g) ?? 'initialize';
    if (!next || next === prev) return undefined;
    this.state.set(g, next);
    return { group: g, from: prev, to: next, reason: next === 'initialize' ? 'shutdown' : t.reason, instance: name };
  }

  private others(g: string, name: string): string[] {
    return (this.members.get(g) ?? []).filter((m) => m !== name);
  }
}
