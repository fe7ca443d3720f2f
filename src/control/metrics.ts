// Prometheus metrics for the HTTP listener's /metrics.
//
// Names and labels follow the community keepalived exporter (mehdy/keepalived-exporter, the
// one most dashboards are built on): `keepalived_vrrp_state{iname,intf,vrid,ip_address}` with
// 0 init, 1 backup, 2 master, 3 fault, and `keepalived_<what>_total{iname,intf,vrid}` for the
// per-instance statistics keepalived writes to keepalived.stats. A dashboard made for a
// keepalived node therefore shows a vigil node as it is. vigil's own metrics are `vigil_*`.
//
// Almost every value is read from Engine.status() and host.status() at scrape time (one
// snapshot per scrape, so all series of one scrape agree with each other); only what status
// keeps no complete total of (transitions by reason, become/release master) is counted from
// the bus, seeded from the transition history the engine still holds when metrics start.
// No default process metrics: the event loop lag and GC collectors poll on timers, and the
// daemon's schedule belongs to its adverts.

import { Counter, Gauge, Registry } from 'prom-client';
import type { EventBus } from '../bus/bus.ts';
import type { EngineStatus, InstanceStatus } from '../daemon/status.ts';
import type { PluginStatus } from '../plugins/host.ts';
import type { Config } from '../config/schema.ts';
import { lvsSnapshot, registerLvsMetrics, type LvsSnapshot, type LvsSource } from './lvs-metrics.ts';

/** What metrics read; the Daemon object satisfies it (tests pass a fake). */
export interface MetricsSource {
  readonly bus: EventBus;
  readonly engine: { status(): EngineStatus };
  readonly host: { status(): PluginStatus[] };
  /** The load balancer, when the daemon has one. */
  readonly balancer?: LvsSource;
  config(): Config;
}

/** keepalived's numbering of states (vrrp.h), which the exporters publish as is. */
export const STATE_VALUES: Record<string, number> = { initialize: 0, backup: 1, master: 2, fault: 3 };

/** keepalived.stats counters built from our drop and discard reasons. */
const DROP_MAP: Array<{ name: string; help: string; dropped?: string[]; discarded?: string[] }> = [
  { name: 'keepalived_packet_length_errors_total', help: 'Packet length errors (too short, or length not matching the address count)', dropped: ['too-short', 'length-mismatch'] },
  { name: 'keepalived_advertisements_interval_errors_total', help: 'Advertisement interval errors (v2 interval differs, or zero)', dropped: ['interval-zero'], discarded: ['interval-mismatch'] },
  { name: 'keepalived_ip_ttl_errors_total', help: 'TTL / hop limit errors (not 255)', dropped: ['bad-ttl'] },
  { name: 'keepalived_invalid_type_received_total', help: 'Invalid type errors', dropped: ['bad-type', 'bad-version'] },
  { name: 'keepalived_authentication_invalid_total', help: 'Invalid authentication type (unknown, or IPsec AH)', dropped: ['bad-auth-type', 'auth-ah-unsupported'] },
  { name: 'keepalived_authentication_mismatch_total', help: 'Authentication type mismatch', dropped: ['auth-type-mismatch'] },
  { name: 'keepalived_authentication_failure_total', help: 'Authentication failures (wrong password)', dropped: ['auth-password-mismatch'] },
];

const COMMON = ['iname', 'intf', 'vrid'] as const;

interface Snapshot {
  engine: EngineStatus;
  plugins: PluginStatus[];
  lvs?: LvsSnapshot | undefined;
}

export interface Metrics {
  readonly registry: Registry;
  /** The exposition text (one consistent snapshot). */
  render(): Promise<string>;
  readonly contentType: string;
  /** Counted by the HTTP listener. */
  readonly http: { eventClients: Gauge; eventClientsDropped: Counter; requests: Counter<'route' | 'code'> };
  close(): void;
}

export function createMetrics(src: MetricsSource): Metrics {
  const registry = new Registry();
  let snap: Snapshot | undefined;
  // collect callbacks run inside registry.metrics(); render() takes the snapshot first
  const current = (): Snapshot => (snap ??= { engine: src.engine.status(), plugins: src.host.status() });
  const common = (i: InstanceStatus) => ({ iname: i.name, intf: i.interface, vrid: String(i.vrid) });
  const registers = [registry];

  // --- keepalived exporter compatible ------------------------------------------------------
  registerLvsMetrics(registry, () => current().lvs);
  new Gauge({
    name: 'keepalived_up',
    help: 'Status of the VRRP daemon (always 1 while vigil answers)',
    registers,
    collect() {
      this.set(1);
    },
  });
  new Gauge({
    name: 'keepalived_vrrp_state',
    help: 'State of the VRRP instance: 0 init, 1 backup, 2 master, 3 fault (one series per virtual address)',
    labelNames: [...COMMON, 'ip_address'],
    registers,
    collect() {
      this.reset();
      const cfg = src.config();
      for (const i of current().engine.instances) {
        const value = STATE_VALUES[i.state] ?? 0;
        const vips = cfg.vrrp_instance[i.name]?.virtual_ipaddress ?? [];
        // as the exporter does: the address's own device, and one series even without addresses
        if (vips.length === 0) this.set({ ...common(i), ip_address: '' }, value);
        for (const v of vips) this.set({ ...common(i), intf: v.dev ?? i.interface, ip_address: v.address }, value);
      }
    },
  });
  const instanceCounter = (name: string, help: string, value: (i: InstanceStatus) => number) =>
    new Counter({
      name,
      help,
      labelNames: COMMON,
      registers,
      collect() {
        this.reset();
        for (const i of current().engine.instances) this.inc(common(i), value(i));
      },
    });
  const c = (i: InstanceStatus) => i.counters;
  instanceCounter('keepalived_advertisements_received_total', 'Advertisements received', (i) => c(i)?.advertsReceived ?? 0);
  instanceCounter('keepalived_advertisements_sent_total', 'Advertisements sent', (i) => c(i)?.advertsSent ?? 0);
  instanceCounter('keepalived_priority_zero_received_total', 'Priority zero advertisements received', (i) => c(i)?.priorityZeroReceived ?? 0);
  instanceCounter('keepalived_priority_zero_sent_total', 'Priority zero advertisements sent', (i) => c(i)?.priorityZeroSent ?? 0);
  instanceCounter('keepalived_address_list_errors_total', 'Advertisements whose address list differs from ours', (i) => c(i)?.addressMismatches ?? 0);
  for (const m of DROP_MAP) {
    instanceCounter(m.name, m.help, (i) => {
      const dropped = c(i)?.dropped as Record<string, number | undefined> | undefined;
      const discarded = c(i)?.discarded as Record<string, number | undefined> | undefined;
      let n = 0;
      for (const r of m.dropped ?? []) n += dropped?.[r] ?? 0;
      for (const r of m.discarded ?? []) n += discarded?.[r] ?? 0;
      return n;
    });
  }

  // become/release master: counted from the bus (status keeps only the last transitions)
  const becomeMaster = new Counter({ name: 'keepalived_become_master_total', help: 'Times the instance became Master', labelNames: COMMON, registers });
  const releaseMaster = new Counter({ name: 'keepalived_release_master_total', help: 'Times the instance left Master', labelNames: COMMON, registers });
  const transitions = new Counter({ name: 'vigil_transitions_total', help: 'State transitions by instance, new state and reason', labelNames: ['instance', 'from', 'to', 'reason'], registers });

  // --- priorities ---------------------------------------------------------------------------
  new Gauge({
    name: 'keepalived_vrrp_priority',
    help: 'Configured (base) priority of the instance',
    labelNames: COMMON,
    registers,
    collect() {
      this.reset();
      for (const i of current().engine.instances) this.set(common(i), i.basePriority);
    },
  });
  new Gauge({
    name: 'keepalived_vrrp_effective_priority',
    help: 'Effective priority: base plus tracker adjustments, as advertised',
    labelNames: COMMON,
    registers,
    collect() {
      this.reset();
      for (const i of current().engine.instances) this.set(common(i), i.effectivePriority);
    },
  });

  // --- vigil's own ----------------------------------------------------------------------------
  new Gauge({
    name: 'vigil_instance_state',
    help: 'One series per instance and state, 1 for the state it is in (for state timelines)',
    labelNames: ['instance', 'state'],
    registers,
    collect() {
      this.reset();
      for (const i of current().engine.instances) for (const s of Object.keys(STATE_VALUES)) this.set({ instance: i.name, state: s }, i.state === s ? 1 : 0);
    },
  });
  new Gauge({
    name: 'vigil_tracker_adjustment',
    help: 'Priority adjustment in force, by instance and tracker (plugin:source)',
    labelNames: ['instance', 'tracker'],
    registers,
    collect() {
      this.reset();
      for (const i of current().engine.instances) for (const [tracker, w] of Object.entries(i.adjustments)) this.set({ instance: i.name, tracker }, w);
    },
  });
  new Gauge({
    name: 'vigil_instance_faults',
    help: 'Fault sources in force (the instance is held in FAULT while above 0)',
    labelNames: ['instance'],
    registers,
    collect() {
      this.reset();
      for (const i of current().engine.instances) this.set({ instance: i.name }, i.faults.length);
    },
  });
  // etcd-elected instances (docs/election.md): leadership, the lease's time to its fencing
  // deadline, and renewals by outcome
  const elected = () => current().engine.instances.filter((i) => i.election);
  new Gauge({
    name: 'vigil_election_is_leader',
    help: 'Whether this node holds the etcd leadership of the instance (1) or not (0)',
    labelNames: ['instance', 'backend'],
    registers,
    collect() {
      this.reset();
      for (const i of elected()) this.set({ instance: i.name, backend: 'etcd' }, i.election?.leader !== null && i.election?.leader === i.election?.name ? 1 : 0);
    },
  });
  new Gauge({
    name: 'vigil_election_lease_remaining_seconds',
    help: 'Seconds until the fencing deadline of the lease held (0 without a lease)',
    labelNames: ['instance'],
    registers,
    collect() {
      this.reset();
      for (const i of elected()) this.set({ instance: i.name }, (i.election?.lease?.remainingMs ?? 0) / 1000);
    },
  });
  new Counter({
    name: 'vigil_election_renewals_total',
    help: 'Lease renewals by result: ok, failed (no answer or an error), lost (etcd said the lease is gone)',
    labelNames: ['instance', 'result'],
    registers,
    collect() {
      this.reset();
      for (const i of elected()) for (const result of ['ok', 'failed', 'lost'] as const) this.inc({ instance: i.name, result }, i.election?.renewals?.[result] ?? 0);
    },
  });
  new Counter({
    name: 'vigil_packets_dropped_total',
    help: 'Packets dropped, by scope (instance or interface:NAME) and reason',
    labelNames: ['scope', 'reason'],
    registers,
    collect() {
      this.reset();
      for (const [scope, counts] of Object.entries(current().engine.drops)) for (const [reason, n] of Object.entries(counts)) this.inc({ scope, reason }, n);
    },
  });
  new Counter({
    name: 'vigil_packets_discarded_total',
    help: 'Valid adverts the state machine ignored, by instance and reason',
    labelNames: ['instance', 'reason'],
    registers,
    collect() {
      this.reset();
      for (const i of current().engine.instances) for (const [reason, n] of Object.entries(i.counters?.discarded ?? {})) this.inc({ instance: i.name, reason }, n ?? 0);
    },
  });
  new Counter({
    name: 'vigil_unknown_vrid_packets_total',
    help: 'Adverts for a VRID no instance here serves',
    registers,
    collect() {
      this.reset();
      this.inc(current().engine.unknownVridPackets);
    },
  });
  new Counter({
    name: 'vigil_reassertions_total',
    help: 'Times a Master reasserted itself against a lower-priority Master',
    labelNames: ['instance'],
    registers,
    collect() {
      this.reset();
      for (const i of current().engine.instances) this.inc({ instance: i.name }, i.counters?.reassertions ?? 0);
    },
  });
  new Counter({
    name: 'vigil_reloads_total',
    help: 'Configuration reloads by result (applied, rejected)',
    labelNames: ['result'],
    registers,
    collect() {
      this.reset();
      const r = current().engine.reloads;
      this.inc({ result: 'applied' }, r.applied);
      this.inc({ result: 'rejected' }, r.rejected);
    },
  });
  new Counter({
    name: 'vigil_plugin_restarts_total',
    help: 'Plugin restarts after a failure',
    labelNames: ['plugin'],
    registers,
    collect() {
      this.reset();
      for (const p of current().plugins) this.inc({ plugin: p.id }, p.restarts);
    },
  });
  new Counter({
    name: 'vigil_plugin_failures_total',
    help: 'Plugin failures (threw, rejected, unresponsive, exited, setup)',
    labelNames: ['plugin'],
    registers,
    collect() {
      this.reset();
      for (const p of current().plugins) this.inc({ plugin: p.id }, p.failures);
    },
  });
  new Gauge({
    name: 'vigil_plugin_up',
    help: 'Whether the plugin is running (1) or not (0: starting, backing off, stopped)',
    labelNames: ['plugin', 'state'],
    registers,
    collect() {
      this.reset();
      for (const p of current().plugins) this.set({ plugin: p.id, state: p.state }, p.state === 'running' ? 1 : 0);
    },
  });
  new Gauge({
    name: 'vigil_plugin_queued_events',
    help: 'Events waiting for a plugin (queued or unacknowledged)',
    labelNames: ['plugin'],
    registers,
    collect() {
      this.reset();
      for (const p of current().plugins) this.set({ plugin: p.id }, p.queued);
    },
  });
  new Counter({
    name: 'vigil_events_published_total',
    help: 'Events published on the bus (the last sequence number)',
    registers,
    collect() {
      this.reset();
      this.inc(src.bus.lastSeq);
    },
  });

  const http = {
    eventClients: new Gauge({ name: 'vigil_http_event_clients', help: 'Clients following /events', registers }),
    eventClientsDropped: new Counter({ name: 'vigil_http_event_clients_dropped_total', help: 'Clients of /events dropped because they read too slowly', registers }),
    requests: new Counter({ name: 'vigil_http_requests_total', help: 'HTTP requests by route and status code', labelNames: ['route', 'code'] as const, registers }),
  };

  // seed from the history the engine still holds, then follow the bus
  const countTransition = (instance: string, from: string, to: string, reason: string) => {
    // labels from the config, not a status snapshot: this runs inside the engine's publish
    const inst = src.config().vrrp_instance[instance];
    const labels = { iname: instance, intf: inst?.interface ?? '', vrid: inst ? String(inst.virtual_router_id) : '' };
    transitions.inc({ instance, from, to, reason });
    if (to === 'master') becomeMaster.inc(labels);
    if (from === 'master') releaseMaster.inc(labels);
  };
  for (const i of current().engine.instances) {
    becomeMaster.inc(common(i), 0);
    releaseMaster.inc(common(i), 0);
    for (const t of i.transitions) countTransition(i.name, t.from, t.to, t.reason);
  }
  snap = undefined;
  const unsubscribe = src.bus.subscribe(
    (e) => {
      if (e.type !== 'instance.transition') return;
      countTransition(e.instance, e.from, e.to, e.reason);
    },
    ['instance.transition'],
  );

  return {
    registry,
    contentType: registry.contentType,
    http,
    async render() {
      snap = { engine: src.engine.status(), plugins: src.host.status(), lvs: await lvsSnapshot(src.balancer) };
      try {
        return await registry.metrics();
      } finally {
        snap = undefined;
      }
    },
    close: unsubscribe,
  };
}
