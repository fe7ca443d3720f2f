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

import type { EventBus } from '../bus/bus.ts';
import type { Config } from '../config/schema.ts';
import type { State, Transition } from '../vrrp/fsm.ts';
import type { VrrpInstance } from '../vrrp/instance.ts';

export interface SyncGroupPorts {
  bus: Pick<EventBus, 'publish'>;
  /** The running instance of a member; undefined before it starts or while it waits. */
  instance(name: string): VrrpInstance | undefined;
  /** The member waits for its interface (keepalived's FAULT). */
  waiting(name: string): boolean;
  /** Re-announce a Master member's addresses after a group reassertion. */
  reassert(name: string, peer: string, peerPriority: number): void;
}

const faultSource = (group: string) => `sync-group:${group}`;

export class SyncGroups {
  private readonly groupOf = new Map<string, string>();
  private readonly members = new Map<string, string[]>();
  private readonly state = new Map<string, State>();
  /** Guards against re-entry: a member moved by its group must not move the group again. */
  private propagating = false;

  constructor(
    config: Config,
    private readonly ports: SyncGroupPorts,
  ) {
    this.configure(config);
  }

  /** (Re)reads the groups; a group keeps its published state across a reload. */
  configure(config: Config): void {
    this.groupOf.clear();
    this.members.clear();
    for (const [g, sg] of Object.entries(config.vrrp_sync_group)) {
      const members = sg.group.filter((m) => config.vrrp_instance[m]);
      this.members.set(g, members);
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

  /** The gate of VrrpFsm's canBecomeMaster for a member. */
  canBecomeMaster(name: string): boolean {
    const g = this.groupOf.get(name);
    if (!g) return true;
    return this.others(g, name).every((m) => {
      const inst = this.ports.instance(m);
      return inst !== undefined && (inst.state === 'master' || inst.fsm.wantsMaster);
    });
  }

  /** A member's state machine moved. */
  memberMoved(name: string, t: Transition): void {
    const g = this.groupOf.get(name);
    if (!g) return;
    if (!this.propagating && t.reason !== 'sync-group') {
      this.propagating = true;
      try {
        const detail = `${g}: ${name} ${t.reason}`;
        for (const m of this.others(g, name)) {
          const inst = this.ports.instance(m);
          if (!inst) continue;
          if (t.to === 'master' && inst.state === 'backup') inst.sync('master', detail);
          else if (t.to === 'backup' && t.from === 'master' && inst.state === 'master') inst.sync('backup', detail);
        }
      } finally {
        this.propagating = false;
      }
    }
    this.faultsChanged(name);
    this.publishState(g, t, name);
  }

  /** A member's fault sources changed (or it appeared or went): hold or free the group. */
  faultsChanged(name: string): void {
    const g = this.groupOf.get(name);
    if (!g || this.propagating) return;
    const source = faultSource(g);
    const faulted = this.members.get(g)?.some((m) => {
      const inst = this.ports.instance(m);
      if (!inst) return this.ports.waiting(m); // waiting for its interface: keepalived's FAULT
      return inst.fsm.activeFaults.some((f) => f !== source);
    });
    this.propagating = true;
    try {
      for (const m of this.members.get(g) ?? []) this.ports.instance(m)?.setFault(source, Boolean(faulted));
    } finally {
      this.propagating = false;
    }
  }

  /** A Master member reasserted itself: its Master siblings re-announce too. */
  memberReasserted(name: string, peer: string, peerPriority: number): void {
    const g = this.groupOf.get(name);
    if (!g || this.propagating) return;
    this.propagating = true;
    try {
      for (const m of this.others(g, name)) if (this.ports.instance(m)?.state === 'master') this.ports.reassert(m, peer, peerPriority);
    } finally {
      this.propagating = false;
    }
  }

  private others(g: string, name: string): string[] {
    return (this.members.get(g) ?? []).filter((m) => m !== name);
  }

  private publishState(g: string, t: Transition, member: string): void {
    const states = (this.members.get(g) ?? []).map((m) => this.ports.instance(m)?.state ?? (this.ports.waiting(m) ? 'fault' : 'initialize'));
    let next: State | undefined;
    if (states.includes('fault')) next = 'fault';
    else if (states.every((s) => s === 'initialize')) next = 'initialize';
    else if (states.every((s) => s === 'master')) next = 'master';
    else if (states.every((s) => s === 'backup')) next = 'backup';
    const prev = this.state.get(g) ?? 'initialize';
    if (!next || next === prev) return;
    this.state.set(g, next);
    this.ports.bus.publish({ type: 'group.transition', group: g, from: prev, to: next, reason: next === 'initialize' ? 'shutdown' : t.reason, instance: member });
  }
}
