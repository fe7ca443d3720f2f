// The events vigil publishes: the one contract between the engine and every consumer (logs,
// plugins, webhooks, the status socket). The shape is versioned: EVENT_SCHEMA_VERSION changes
// only when a field is removed or its meaning changes; new event types and new optional fields
// keep the version. docs/events.md documents every type for plugin authors.
//
// Every event carries an envelope: `v` (schema version), `seq` (monotonic per daemon, never
// reused, gapless), `time` (wall clock, ISO 8601, for humans) and `mono` (monotonic
// microseconds, for ordering and latency).

import type { State, TransitionReason } from '../vrrp/fsm.ts';

export const EVENT_SCHEMA_VERSION = 1;

export type VrrpState = State;

export interface Envelope {
  v: typeof EVENT_SCHEMA_VERSION;
  seq: number;
  time: string;
  mono: number;
}

/** An instance changed state. keepalived's notify scripts run on these. */
export interface InstanceTransition {
  type: 'instance.transition';
  instance: string;
  vrid: number;
  interface: string;
  from: VrrpState;
  to: VrrpState;
  reason: TransitionReason;
  /** Effective priority at the transition. */
  priority: number;
  /** Context, e.g. the address of the router whose advert caused it, or the fault source. */
  detail?: string;
  /** The sync group the instance belongs to, if any. */
  group?: string;
}

/** This Master heard another router claim mastership without outranking it (both were
 * Master: a partition healing, a misconfiguration) and reasserted itself: an advert at once
 * and its addresses announced again. Cloud movers re-claim the address on it. */
export interface InstanceReasserted {
  type: 'instance.reasserted';
  instance: string;
  vrid: number;
  interface: string;
  /** The other router's address and advertised priority. */
  peer: string;
  peerPriority: number;
  /** Our effective priority. */
  priority: number;
}

/** A sync group changed state (every member follows). */
export interface GroupTransition {
  type: 'group.transition';
  group: string;
  from: VrrpState;
  to: VrrpState;
  reason: TransitionReason | 'member';
  /** The member whose transition moved the group. */
  instance?: string;
}

/** The effective priority of an instance changed. */
export interface PriorityChange {
  type: 'instance.priority';
  instance: string;
  base: number;
  previous: number;
  effective: number;
  /** The tracker whose adjustment changed it, as `plugin:source` (e.g. `track-script:chk_web`),
   * or `config` when a reload changed the base priority. */
  cause: string;
  /** Every adjustment in force, by source. */
  adjustments: Record<string, number>;
}

/** A fault source was set or cleared (a tracker with weight 0, a tracked link down). */
export interface FaultChange {
  type: 'instance.fault';
  instance: string;
  source: string;
  active: boolean;
  /** All fault sources in force after this change. */
  faults: string[];
}

export interface ConfigReloaded {
  type: 'config.reloaded';
  file: string;
  /** Instances that kept running untouched, changed in place, re-created, added, removed. */
  unchanged: string[];
  updated: string[];
  recreated: string[];
  added: string[];
  removed: string[];
}

export interface ConfigRejected {
  type: 'config.rejected';
  file: string;
  /** Each problem as `file:line:col: field: message`. */
  errors: string[];
}

export interface PluginStarted {
  type: 'plugin.started';
  plugin: string;
  /** How many times it has been restarted since the daemon (or its config) started it. */
  restarts: number;
}

export interface PluginFailed {
  type: 'plugin.failed';
  plugin: string;
  /** What went wrong: `threw`, `rejected`, `unresponsive` (hung or spinning), `exited`,
   * `setup` (its setup or config validation failed), `unsafe` (a file it loads, or a directory
   * above one, could be changed by a user other than root: refused until a reload). */
  cause: 'threw' | 'rejected' | 'unresponsive' | 'exited' | 'setup' | 'unsafe';
  error: string;
  /** Milliseconds until it is started again; -1: not until a reload or an edit. */
  restartInMs: number;
}

/** A plugin's handler failed (threw or rejected) on every attempt with one event (it is called
 * again once after a first failure): the event is dropped for that handler and the plugin goes
 * on running, its state kept. Not published for a failure to handle a plugin.handler_failed
 * event (that would feed itself); the log has those. */
export interface PluginHandlerFailed {
  type: 'plugin.handler_failed';
  plugin: string;
  /** The type and `seq` of the event that was dropped (the envelope's `seq` is this event's). */
  event: EventType;
  eventSeq: number;
  /** `threw` or `rejected`, and the error, of the last attempt. */
  cause: 'threw' | 'rejected';
  error: string;
  attempts: number;
}

export interface PluginRestarted {
  type: 'plugin.restarted';
  plugin: string;
  restarts: number;
}

/** A rate-limited summary of packets dropped before the state machine, by reason. */
export interface PacketsDropped {
  type: 'packets.dropped';
  /** The instance, or `interface:NAME` for packets no instance claimed. */
  scope: string;
  counts: Record<string, number>;
  /** The window the counts cover, in milliseconds. */
  windowMs: number;
}

/** A real server of a virtual server came into the pool (its checkers all pass). Names are
 * keepalived's: `[192.0.2.100]:tcp:80`, `FWM 5`, `[GROUP]:0` for the virtual server,
 * `[198.51.100.10]:tcp:8080` for the real server. */
export interface RealServerUp {
  type: 'realserver.up';
  virtualServer: string;
  realServer: string;
  /** Its weight in the pool now. */
  weight: number;
  /** The check that brought it up, or `start` (in the pool from the start, without alpha). */
  reason: string;
}

/** A real server left the pool (a checker failed its retries), or was inhibited (kept at weight
 * 0: no new connections, established ones go on). */
export interface RealServerDown {
  type: 'realserver.down';
  virtualServer: string;
  realServer: string;
  /** Why: the failed check and its error, e.g. `TCP_CHECK 198.51.100.10:8080: connection refused`. */
  reason: string;
  /** inhibit_on_failure: kept at weight 0 rather than removed. */
  inhibited: boolean;
}

/** A live real server's weight in the pool changed: a MISC_CHECK with misc_dynamic, a FILE_CHECK
 * or a plugin checker asked for another (keepalived: "Changing weight from X to Y for ..."). */
export interface RealServerWeight {
  type: 'realserver.weight';
  virtualServer: string;
  realServer: string;
  previous: number;
  weight: number;
  /** The checker that asked, e.g. `MISC_CHECK /usr/local/bin/load: exit status 7`. */
  reason: string;
}

/** A virtual server gained or lost its quorum (the weight of its live real servers against
 * quorum and hysteresis); with a sorry server, that is when the sorry server takes over or
 * gives back. */
export interface VirtualServerQuorum {
  type: 'virtualserver.quorum';
  virtualServer: string;
  up: boolean;
  /** The sum of the live real servers' weights. */
  weight: number;
  quorum: number;
  hysteresis: number;
  /** The sorry server serves now. */
  sorryServer: boolean;
  /** The quorum the balancer starts with (keepalived's "Starting with quorum up/down"). */
  initial?: boolean;
}

export type EventBody =
  | InstanceTransition
  | GroupTransition
  | InstanceReasserted
  | PriorityChange
  | FaultChange
  | ConfigReloaded
  | ConfigRejected
  | PluginStarted
  | PluginFailed
  | PluginRestarted
  | PluginHandlerFailed
  | PacketsDropped
  | RealServerUp
  | RealServerDown
  | RealServerWeight
  | VirtualServerQuorum;

export type VigilEvent = EventBody & Envelope;
export type EventType = EventBody['type'];
export type EventOf<T extends EventType> = Extract<VigilEvent, { type: T }>;

export const EVENT_TYPES: readonly EventType[] = [
  'instance.transition',
  'group.transition',
  'instance.reasserted',
  'instance.priority',
  'instance.fault',
  'config.reloaded',
  'config.rejected',
  'plugin.started',
  'plugin.failed',
  'plugin.restarted',
  'plugin.handler_failed',
  'packets.dropped',
  'realserver.up',
  'realserver.down',
  'realserver.weight',
  'virtualserver.quorum',
];

/** The key that orders an event: consumers handle events of one key strictly in order. */
export function orderingKey(e: EventBody): string {
  switch (e.type) {
    case 'instance.transition':
    case 'instance.reasserted':
    case 'instance.priority':
    case 'instance.fault':
      return `instance:${e.instance}`;
    case 'group.transition':
      return `group:${e.group}`;
    case 'realserver.up':
    case 'realserver.down':
    case 'realserver.weight':
    case 'virtualserver.quorum':
      return `vs:${e.virtualServer}`;
    default:
      return e.type.split('.')[0] ?? e.type;
  }
}
