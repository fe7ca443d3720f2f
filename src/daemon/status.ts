// The status snapshot: everything an operator asks about (status socket, dumps, metrics, the
// status page), as plain data, safe to serialize: no secrets (the auth password is not in it).

import { candidateName } from '../config/election-schema.ts';
import type { Config, VrrpInstanceConfig } from '../config/schema.ts';
import { instanceFamily } from '../config/semantic.ts';
import type { Transition } from '../vrrp/fsm.ts';
import type { ElectionStatus } from '../election/etcd-instance.ts';
import { ElectedInstance } from '../election/etcd-instance.ts';
import type { InstanceCounters } from '../vrrp/instance.ts';
import type { RenewalCounts } from './election-metrics.ts';
import type { RunningInstance } from './running.ts';
import type { Family } from '../vrrp/types.ts';
import type { TrackerState } from './trackers.ts';

export interface TransitionRecord {
  from: string;
  to: string;
  reason: string;
  priority: number;
  /** Wall clock, ISO 8601. */
  time: string;
  detail?: string;
}

export interface InstanceStatus {
  name: string;
  state: string;
  /** Its interface is missing or has no address yet: held in FAULT until it appears. */
  waitingForInterface: boolean;
  vrid: number;
  interface: string;
  family: Family;
  version: number;
  basePriority: number;
  effectivePriority: number;
  /** Tracker adjustments in force, by `plugin:source`. */
  adjustments: Record<string, number>;
  faults: string[];
  /** The Master's address as last seen (ours when Master). */
  masterAddress: string | undefined;
  advertIntervalCs: number;
  virtualAddresses: string[];
  /** The last transitions, oldest first. */
  transitions: TransitionRecord[];
  /** Adverts sent and received, drops by reason, discards, transitions, reassertions. */
  counters: InstanceCounters | undefined;
  /** An instance elected on etcd: the backend, the leader, the lease and its remaining time
   * before the fencing deadline, and renewal counts (absent for VRRP). */
  election?: ElectionStatus & { renewals: RenewalCounts | null };
}

export interface EngineStatus {
  instances: InstanceStatus[];
  /** Packets dropped before any instance (or by an instance), by scope and reason, since start. */
  drops: Record<string, Record<string, number>>;
  unknownVridPackets: number;
  reloads: { applied: number; rejected: number };
}

const HISTORY = 20;

/** The last transitions of each instance, newest last. */
export class TransitionHistory {
  private readonly byInstance = new Map<string, TransitionRecord[]>();

  record(name: string, t: Transition): void {
    const h = this.byInstance.get(name) ?? [];
    h.push({ from: t.from, to: t.to, reason: t.reason, priority: t.priority, time: new Date().toISOString(), ...(t.detail !== undefined ? { detail: t.detail } : {}) });
    if (h.length > HISTORY) h.splice(0, h.length - HISTORY);
    this.byInstance.set(name, h);
  }

  of(name: string): TransitionRecord[] {
    return [...(this.byInstance.get(name) ?? [])];
  }
}

/** One instance's status, whether it runs, waits for its interface or has not started. */
export function instanceStatus(
  config: Config,
  name: string,
  inst: VrrpInstanceConfig,
  running: RunningInstance | undefined,
  waiting: boolean,
  trackers: TrackerState,
  history: TransitionRecord[],
  renewals?: RenewalCounts,
): InstanceStatus {
  const etcd = inst.election?.etcd;
  const election: InstanceStatus['election'] =
    running instanceof ElectedInstance
      ? { ...running.status(), renewals: renewals ?? null }
      : etcd
        ? { backend: 'etcd', name: candidateName(etcd, config.global_defs.router_id), leader: null, lease: null, connected: false, policy: etcd.quorum_loss, keeping: false, endpoints: [...etcd.endpoints], lastError: null, renewals: null }
        : undefined;
  return {
    name,
    state: running ? running.state : waiting ? 'fault' : 'initialize',
    waitingForInterface: waiting,
    vrid: inst.virtual_router_id,
    interface: inst.interface,
    family: instanceFamily(inst),
    version: running?.config.version ?? (inst.version ?? config.global_defs.vrrp_version),
    basePriority: inst.priority,
    effectivePriority: running ? running.fsm.priority : trackers.effective,
    adjustments: trackers.adjustments,
    faults: running ? running.fsm.activeFaults : trackers.faults,
    masterAddress: running?.fsm.masterAddress,
    advertIntervalCs: running?.config.advertIntervalCs ?? Math.round(inst.advert_int * 100),
    virtualAddresses: inst.virtual_ipaddress.map((v) => v.address),
    transitions: history,
    counters: running ? structuredClone(running.counters) : undefined,
    ...(election ? { election } : {}),
  };
}
