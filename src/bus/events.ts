// The events vigil publishes: the one contract between the engine and every consumer (logs,
// plugins, webhooks, the status socket). The shape is versioned: EVENT_SCHEMA_VERSION changes
// only when a field is removed or its meaning changes; new event types and new optional fields
// keep the version. docs/events.md, for plugin authors, is generated from this file
// (scripts/gen-events-doc.ts): each interface's doc comment and its fields' are the reference.
//
// Every event carries an envelope: `v` (schema version), `seq` (monotonic per daemon, never
// reused, gapless), `time` (wall clock, ISO 8601, for humans) and `mono` (monotonic
// microseconds, for ordering and latency).

import type { State, TransitionReason } from '../vrrp/fsm.ts';

export const EVENT_SCHEMA_VERSION = 1;

export type VrrpState = State;

/** What every event carries besides its `type` and fields. */
export interface Envelope {
  /** Schema version, `1`. It changes only when a field is removed or changes meaning; new event
   * types and new optional fields keep it. */
  v: typeof EVENT_SCHEMA_VERSION;
  /** Per daemon: starts at 1, goes up by one with every event, never reused. */
  seq: number;
  /** Wall clock, ISO 8601: for humans, and for correlating with other logs. */
  time: string;
  /** Monotonic microseconds: for ordering and latency, immune to clock steps. */
  mono: number;
}

/** An instance changed state. keepalived's notify scripts run on these. */
export interface InstanceTransition {
  type: 'instance.transition';
  /** The instance's name (keepalived's `vrrp_instance NAME`). */
  instance: string;
  /** Its virtual router id. */
  vrid: number;
  /** The interface it runs on. */
  interface: string;
  /** Its state before. */
  from: VrrpState;
  /** Its state now. */
  to: VrrpState;
  /** Why it happened. A transition to `initialize` with reason `shutdown` is
   * keepalived's STOP. */
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
  /** The instance. */
  instance: string;
  /** Its virtual router id. */
  vrid: number;
  /** The interface it runs on. */
  interface: string;
  /** The other router's address. */
  peer: string;
  /** The priority it advertised. */
  peerPriority: number;
  /** Our effective priority. */
  priority: number;
}

/** A sync group changed state (every member follows). A group is FAULT when any member is,
 * otherwise MASTER or BACKUP once all members agree. */
export interface GroupTransition {
  type: 'group.transition';
  /** The sync group's name (keepalived's `vrrp_sync_group NAME`). */
  group: string;
  /** Its state before. */
  from: VrrpState;
  /** Its state now. */
  to: VrrpState;
  /** The member transition's reason that moved it (`shutdown` for STOP). */
  reason: TransitionReason | 'member';
  /** The member whose transition moved the group. */
  instance?: string;
}

/** The effective priority of an instance changed. */
export interface PriorityChange {
  type: 'instance.priority';
  /** The instance. */
  instance: string;
  /** The configured priority. */
  base: number;
  /** The effective priority before this change. */
  previous: number;
  /** The effective priority now: base plus every adjustment, kept in 1..254 (an owner's 255 is
   * never adjusted). */
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
  /** The instance. */
  instance: string;
  /** Who set or cleared it, as `plugin:source` (e.g. `track-interface:eth1`). */
  source: string;
  /** Set (true) or cleared. */
  active: boolean;
  /** All fault sources in force after this change. */
  faults: string[];
}

/** The holder of an etcd-elected instance's leadership changed, as this node read the
 * election's keys (docs/election.md). Published by every candidate, Master or not. */
export interface ElectionLeader {
  type: 'election.leader';
  /** The instance. */
  instance: string;
  /** The election backend (`etcd`). */
  backend: 'etcd';
  /** This node's candidate name. */
  node: string;
  /** The candidate holding the leadership now, or null while nobody does. */
  leader: string | null;
  /** The one before, or null. */
  previous: string | null;
  /** This node's lease when the change was seen: its id, TTL (s) and the time left (ms) before
   * its fencing deadline; null without one. */
  lease: { id: string; ttl: number; remainingMs: number } | null;
}

/** A reload (SIGHUP, an edit of the config file, `vigil reload`) was applied, as a diff. */
export interface ConfigReloaded {
  type: 'config.reloaded';
  /** The main config file. */
  file: string;
  /** Instances that kept running untouched (no transition, no advert gap). */
  unchanged: string[];
  /** Instances changed in place (priority, preemption, addresses, routes, trackers, ...). */
  updated: string[];
  /** Instances re-created (interface, VRID, version, authentication, peers, advert interval or
   * VMAC changed). */
  recreated: string[];
  /** Instances the new config adds. */
  added: string[];
  /** Instances the new config no longer has (stopped). */
  removed: string[];
}

/** A reload failed validation: nothing changed, the running config stays. */
export interface ConfigRejected {
  type: 'config.rejected';
  /** The main config file. */
  file: string;
  /** Each problem as `file:line:col: field: message`. */
  errors: string[];
}

/** A plugin's setup finished: it receives events from now on. */
export interface PluginStarted {
  type: 'plugin.started';
  /** Its name (a user plugin's: its file's name). */
  plugin: string;
  /** How many times it has been restarted since the daemon (or its config) started it. */
  restarts: number;
}

/** A plugin failed and was stopped: it is started again after `restartInMs`, or waits for a
 * fix. (A handler that throws is not this: see plugin.handler_failed.) */
export interface PluginFailed {
  type: 'plugin.failed';
  /** Its name. */
  plugin: string;
  /** What went wrong: `threw` (an uncaught exception outside its handlers), `rejected` (an
   * unhandled rejection), `unresponsive` (hung or spinning: no heartbeat, or a handler that did
   * not settle), `exited` (its worker ended, e.g. the heap limit), `setup` (it is not a plugin,
   * another API version, its config is invalid or its setup threw), `unsafe` (a file it loads,
   * or a directory above one, could be changed by a user other than root: refused until a
   * reload). */
  cause: 'threw' | 'rejected' | 'unresponsive' | 'exited' | 'setup' | 'unsafe';
  /** The error, in one line. */
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
  /** The plugin whose handler failed. */
  plugin: string;
  /** The type of the event that was dropped. */
  event: EventType;
  /** The `seq` of the event that was dropped (the envelope's `seq` is this event's own). */
  eventSeq: number;
  /** How the last attempt failed: the handler threw, or its promise rejected. */
  cause: 'threw' | 'rejected';
  /** The last attempt's error, in one line. */
  error: string;
  /** How many times the handler was called with the event (2). */
  attempts: number;
}

/** A plugin that had failed is running again (its setup finished). */
export interface PluginRestarted {
  type: 'plugin.restarted';
  /** Its name. */
  plugin: string;
  /** How many times it has been restarted since the daemon (or its config) started it. */
  restarts: number;
}

/** A rate-limited summary of packets dropped before the state machine, by reason. */
export interface PacketsDropped {
  type: 'packets.dropped';
  /** The instance, or `interface:NAME` for packets no instance claimed. */
  scope: string;
  /** How many, by reason (e.g. `bad-checksum`, `bad-ttl`). */
  counts: Record<string, number>;
  /** The window the counts cover, in milliseconds. */
  windowMs: number;
}

/** A real server of a virtual server came into the pool (its checkers all pass). Names are
 * keepalived's: `[192.0.2.100]:tcp:80`, `FWM 5`, `[GROUP]:0` for the virtual server,
 * `[198.51.100.10]:tcp:8080` for the real server. */
export interface RealServerUp {
  type: 'realserver.up';
  /** The virtual server, by keepalived's name. */
  virtualServer: string;
  /** The real server, by keepalived's name. */
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
  /** The virtual server, by keepalived's name. */
  virtualServer: string;
  /** The real server, by keepalived's name. */
  realServer: string;
  /** Why: the failed check and its error, e.g. `TCP_CHECK 198.51.100.10:8080: connection refused`;
   * `shutdown` for omega. */
  reason: string;
  /** inhibit_on_failure: kept at weight 0 rather than removed. */
  inhibited: boolean;
}

/** A live real server's weight in the pool changed: a MISC_CHECK with misc_dynamic, a FILE_CHECK
 * or a plugin checker asked for another (keepalived: "Changing weight from X to Y for ..."). */
export interface RealServerWeight {
  type: 'realserver.weight';
  /** The virtual server, by keepalived's name. */
  virtualServer: string;
  /** The real server, by keepalived's name. */
  realServer: string;
  /** Its weight in the pool before. */
  previous: number;
  /** Its weight in the pool now: its configured weight, or what the checker asked for. */
  weight: number;
  /** The checker that asked, e.g. `MISC_CHECK /usr/local/bin/load: exit status 7`. */
  reason: string;
}

/** A virtual server gained or lost its quorum (the weight of its live real servers against
 * quorum and hysteresis); with a sorry server, that is when the sorry server takes over or
 * gives back. */
export interface VirtualServerQuorum {
  type: 'virtualserver.quorum';
  /** The virtual server, by keepalived's name. */
  virtualServer: string;
  /** It has its quorum now (true) or lost it. */
  up: boolean;
  /** The sum of the live real servers' weights. */
  weight: number;
  /** Its configured quorum: the weight it needs to be up. */
  quorum: number;
  /** Its configured hysteresis: up at quorum + hysteresis, down below quorum - hysteresis. */
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
  | ElectionLeader
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
  'election.leader',
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
    case 'election.leader':
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
