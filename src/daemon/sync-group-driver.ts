// Applies the sync group coordinator's answers (src/vrrp/sync-group.ts) to running instances:
// the coordinator decides, this carries the inputs to the state machines and the group's state
// to the bus. A member moved by an input comes back through moved() like any transition; its
// reason ('sync-group', 'fault') moves no one else, so propagation ends without a guard.

import type { EventBus } from '../bus/bus.ts';
import type { Transition } from '../vrrp/fsm.ts';
import type { VrrpInstance } from '../vrrp/instance.ts';
import { SyncGroupCoordinator, type MemberInput, type MemberView } from '../vrrp/sync-group.ts';

export interface SyncGroupPorts {
  bus: Pick<EventBus, 'publish'>;
  /** The running instance of a member; undefined before it starts or while it waits. */
  instance(name: string): VrrpInstance | undefined;
  /** The member waits for its interface (keepalived's FAULT). */
  waiting(name: string): boolean;
  /** Re-announce a Master member's addresses after a group reassertion. */
  reassert(name: string, peer: string, peerPriority: number): void;
}

export class SyncGroupDriver {
  readonly coordinator: SyncGroupCoordinator;
  private readonly view = (name: string): MemberView => {
    const inst = this.ports.instance(name);
    return inst
      ? { state: inst.state, waiting: false, wantsMaster: inst.fsm.wantsMaster, faults: inst.fsm.activeFaults }
      : { state: undefined, waiting: this.ports.waiting(name), wantsMaster: false, faults: [] };
  };

  constructor(
    groups: Readonly<Record<string, readonly string[]>>,
    private readonly ports: SyncGroupPorts,
  ) {
    this.coordinator = new SyncGroupCoordinator(groups);
  }

  configure(groups: Readonly<Record<string, readonly string[]>>): void {
    this.coordinator.configure(groups);
  }

  group(name: string): string | undefined {
    return this.coordinator.group(name);
  }

  /** The gate of VrrpFsm's canBecomeMaster for a member. */
  canBecomeMaster(name: string): boolean {
    return this.coordinator.canBecomeMaster(name, this.view);
  }

  /** A member's state machine moved: its siblings follow, the group's fault hold is brought up
   * to date, then the group's own state is published if it changed. */
  moved(name: string, t: Transition): void {
    if (!this.coordinator.group(name)) return;
    this.apply(this.coordinator.followers(name, t, this.view));
    this.apply(this.coordinator.faultInputs(name, this.view));
    const g = this.coordinator.settle(name, t, this.view);
    if (g) this.ports.bus.publish({ type: 'group.transition', ...g });
  }

  /** A member's fault sources changed (or it appeared or went): hold or free the group. */
  faultsChanged(name: string): void {
    this.apply(this.coordinator.faultInputs(name, this.view));
  }

  /** A Master member reasserted itself: its Master siblings re-announce too. */
  reasserted(name: string, peer: string, peerPriority: number): void {
    this.apply(this.coordinator.reassertions(name, peer, peerPriority, this.view));
  }

  private apply(inputs: readonly MemberInput[]): void {
    for (const input of inputs) {
      if (input.type === 'reassert') {
        this.ports.reassert(input.member, input.peer, input.peerPriority);
        continue;
      }
      const inst = this.ports.instance(input.member);
      if (!inst) continue;
      if (input.type === 'sync') inst.sync(input.to, input.detail);
      else inst.setFault(input.source, input.active);
    }
  }
}

/** Each sync group's members that are configured instances. */
export function syncGroupMembers(config: { vrrp_sync_group: Record<string, { group: string[] }>; vrrp_instance: Record<string, unknown> }): Record<string, string[]> {
  return Object.fromEntries(Object.entries(config.vrrp_sync_group).map(([g, sg]) => [g, sg.group.filter((m) => config.vrrp_instance[m])]));
}
