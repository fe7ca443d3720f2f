// What the engine keeps of one running instance: its state machine driver, what it holds when
// Master, where it sends from, and its queue of address effects.

import type { AddressSpec } from '../net/addresses.ts';
import type { RouteSpec } from '../net/routes.ts';
import type { RuleSpec } from '../net/rules.ts';
import type { VrrpSocket } from '../net/socket.ts';
import type { State } from '../vrrp/fsm.ts';
import type { InstanceCounters } from '../vrrp/instance.ts';
import type { GarpSchedule } from './garp-schedule.ts';

/** What the engine asks of an instance, whoever elects it: VRRP on the wire (vrrp/instance.ts)
 * or a lease in etcd (election/etcd-instance.ts). */
export interface RunningInstance {
  readonly state: State;
  /** Grows with every transition; effects carry the generation they were requested in. */
  readonly currentGeneration: number;
  readonly fsm: { readonly priority: number; readonly activeFaults: string[]; readonly masterAddress: string | undefined };
  readonly config: { readonly vrid: number; readonly version: number; readonly advertIntervalCs: number; readonly primaryAddress: string };
  readonly counters: InstanceCounters;
  /** `elapsed`: µs since the daemon's exec, for an instance started with the daemon (VRRP
   * credits it to its first Master_Down_Timer; see fsm.ts onStartup). */
  start(elapsed?: number): void;
  /** Clean stop; an etcd instance resolves once its lease is revoked. */
  stop(): void | Promise<void>;
  setPriority(priority: number): void;
  setFault(source: string, active: boolean): void;
  update(live: { preempt?: boolean; preemptDelay?: number; addresses?: string[] }): void;
}

export interface Running {
  name: string;
  instance: RunningInstance;
  /** An etcd instance's addresses carry a kernel lifetime (seconds) ending before its fencing
   * deadline; 0 = do not add them now. Absent for VRRP: no lifetime. */
  lifetime?: () => number;
  vips: AddressSpec[];
  routes: RouteSpec[];
  rules: RuleSpec[];
  /** The macvlan of use_vmac, and the socket adverts leave from when it has one. */
  vmac: string | undefined;
  ownSocket: VrrpSocket | undefined;
  dev: string;
  socketKey: string;
  /** Address effects run one after another, in the order the state machine asked for them;
   * announcements wait for them (effects.ts, garp-schedule.ts). */
  effects: Promise<void>;
  garp: GarpSchedule;
}
