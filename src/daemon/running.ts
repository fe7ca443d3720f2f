// What the engine keeps of one running instance: its state machine driver, what it holds when
// Master, where it sends from, and its queue of address effects.

import type { AddressSpec } from '../net/addresses.ts';
import type { RouteSpec } from '../net/routes.ts';
import type { RuleSpec } from '../net/rules.ts';
import type { VrrpSocket } from '../net/socket.ts';
import type { VrrpInstance } from '../vrrp/instance.ts';
import type { GarpSchedule } from './garp-schedule.ts';

export interface Running {
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
  /** Address effects run one after another, in the order the state machine asked for them;
   * announcements wait for them (effects.ts, garp-schedule.ts). */
  effects: Promise<void>;
  garp: GarpSchedule;
}
