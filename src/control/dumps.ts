// keepalived's signal dumps: SIGUSR1 writes the state of every instance to control.state_dump
// (keepalived's /tmp/keepalived.data), SIGUSR2 the counters to control.stats_dump
// (/tmp/keepalived.stats). Same places and a similar layout, so the habits and the scripts of
// keepalived operators keep working; the text is for humans, `vigil status --json` for tools.
//
// The default paths are in /tmp, where anyone can plant a symlink: a dump is written to a new
// file (O_EXCL, so never through a link) and renamed over the target, which replaces a link
// instead of following it (keepalived's CVE-2018-19044).

import { openSync, renameSync, rmSync, writeSync, closeSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { dirname, join, basename } from 'node:path';
import type { Config } from '../config/schema.ts';
import type { InstanceStatus } from '../daemon/status.ts';
import type { Daemon } from '../daemon/run.ts';
import { collectStatus, secretMasker, type ControlStatus } from './socket.ts';

/** How often each instance became Master and left it, since the daemon started: keepalived's
 * "Became master" / "Released master". Counted from the bus, seeded with the transitions the
 * engine kept from before control started. */
export class MasterTally {
  readonly became = new Map<string, number>();
  readonly released = new Map<string, number>();
  private readonly unsubscribe: () => void;

  constructor(daemon: Pick<Daemon, 'bus' | 'engine'>) {
    for (const inst of daemon.engine.status().instances) for (const t of inst.transitions) this.count(inst.name, t.from, t.to);
    this.unsubscribe = daemon.bus.subscribe((e) => {
      if (e.type === 'instance.transition') this.count(e.instance, e.from, e.to);
    }, ['instance.transition']);
  }

  private count(instance: string, from: string, to: string): void {
    if (to === 'master') this.became.set(instance, (this.became.get(instance) ?? 0) + 1);
    if (from === 'master') this.released.set(instance, (this.released.get(instance) ?? 0) + 1);
  }

  close(): void {
    this.unsubscribe();
  }
}

const STATE = (s: string) => ({ initialize: 'INIT', backup: 'BACKUP', master: 'MASTER', fault: 'FAULT' })[s] ?? s.toUpperCase();

function lastTransition(inst: InstanceStatus, now: number): string {
  const t = inst.transitions.at(-1);
  if (!t) return 'none';
  const age = Math.max(0, Math.round((now - Date.parse(t.time)) / 1000));
  return `${t.time} (${age} s ago), ${STATE(t.from)} -> ${STATE(t.to)}, reason ${t.reason}${t.detail ? ` (${t.detail})` : ''}`;
}

/** keepalived.data's layout: a block per instance, `Key = value`, nested lists indented. */
export function formatStateDump(s: ControlStatus, config: Config, now = Date.now()): string {
  const out: string[] = [];
  out.push('------< Global definitions >------');
  out.push(` vigil version = ${s.daemon.version}`);
  out.push(` Process id = ${s.daemon.pid}`);
  out.push(` Config file = ${s.daemon.configFile}`);
  out.push(` Started = ${s.daemon.startedAt} (up ${s.daemon.uptimeSeconds} s)`);
  out.push(` Control socket = ${s.daemon.socket ?? 'none'}`);
  out.push(` Reloads = ${s.engine.reloads.applied} applied, ${s.engine.reloads.rejected} rejected`);
  out.push(` Dump time = ${new Date(now).toISOString()}`);
  out.push('------< VRRP Topology >------');
  for (const inst of s.engine.instances) {
    const cfg = config.vrrp_instance[inst.name];
    out.push(` VRRP Instance = ${inst.name}`);
    out.push(`   VRRP Version = ${inst.version}`);
    out.push(`   State = ${STATE(inst.state)}${inst.waitingForInterface ? ' (waiting for its interface)' : ''}`);
    out.push(`   Last transition = ${lastTransition(inst, now)}`);
    out.push(`   Interface = ${inst.interface}`);
    out.push(`   Family = IPv${inst.family}`);
    out.push(`   Virtual Router ID = ${inst.vrid}`);
    out.push(`   Priority = ${inst.basePriority}`);
    out.push(`   Effective priority = ${inst.effectivePriority}`);
    out.push(`   Advert interval = ${inst.advertIntervalCs * 10} milli-sec`);
    if (cfg) {
      out.push(`   Preempt = ${cfg.nopreempt ? 'disabled' : 'enabled'}`);
      if (cfg.preempt_delay) out.push(`   Preempt delay = ${cfg.preempt_delay} secs`);
    }
    out.push(`   Master router = ${inst.masterAddress ?? 'unknown'}`);
    const adj = Object.entries(inst.adjustments);
    out.push(`   Priority adjustments (${adj.length})${adj.length ? ':' : ''}`);
    for (const [src, w] of adj) out.push(`     ${src} weight ${w > 0 ? '+' : ''}${w}`);
    out.push(`   Fault sources (${inst.faults.length})${inst.faults.length ? ':' : ''}`);
    for (const f of inst.faults) out.push(`     ${f}`);
    if (cfg) {
      for (const [label, list] of [
        ['Tracked interfaces', cfg.track_interface],
        ['Tracked scripts', cfg.track_script],
        ['Tracked files', cfg.track_file],
        ['Tracked processes', cfg.track_process],
      ] as const) {
        if (list.length === 0) continue;
        out.push(`   ${label} (${list.length}):`);
        for (const t of list) out.push(`     ${t.name}${t.weight !== undefined ? ` weight ${t.weight}` : ''}${t.reverse ? ' reverse' : ''}`);
      }
    }
    out.push(`   Virtual IP (${inst.virtualAddresses.length}):`);
    for (const v of inst.virtualAddresses) out.push(`     ${v} dev ${inst.interface}`);
    out.push(`   Last transitions (${inst.transitions.length}):`);
    for (const t of inst.transitions) out.push(`     ${t.time} ${STATE(t.from)} -> ${STATE(t.to)} reason ${t.reason} priority ${t.priority}${t.detail ? ` (${t.detail})` : ''}`);
  }
  out.push('------< Plugins >------');
  for (const p of s.plugins) {
    out.push(` Plugin = ${p.id}${p.name && p.name !== p.id ? ` (${p.name})` : ''}`);
    out.push(`   Origin = ${p.origin}`);
    out.push(`   State = ${p.state}`);
    out.push(`   Restarts = ${p.restarts}, failures = ${p.failures}, handler errors = ${p.handlerErrors}`);
    out.push(`   Events delivered = ${p.eventsDelivered}, queued = ${p.queued}`);
    if (p.lastError) out.push(`   Last error = ${p.lastError}`);
  }
  return out.join('\n') + '\n';
}

/** keepalived.stats's layout, per instance, with vigil's drop reasons spelled out. */
export function formatStatsDump(s: ControlStatus, tally: MasterTally): string {
  const out: string[] = [];
  for (const inst of s.engine.instances) {
    const c = inst.counters;
    out.push(`VRRP Instance: ${inst.name}`);
    out.push('  Advertisements:');
    out.push(`    Received: ${c?.advertsReceived ?? 0}`);
    out.push(`    Sent: ${c?.advertsSent ?? 0}`);
    out.push(`  Became master: ${tally.became.get(inst.name) ?? 0}`);
    out.push(`  Released master: ${tally.released.get(inst.name) ?? 0}`);
    out.push(`  Transitions: ${c?.transitions ?? 0}`);
    out.push(`  Reassertions: ${c?.reassertions ?? 0}`);
    out.push(`  Address list mismatches: ${c?.addressMismatches ?? 0}`);
    const dropped = Object.entries(c?.dropped ?? {});
    out.push(`  Packets dropped: ${dropped.reduce((n, [, v]) => n + (v ?? 0), 0)}`);
    for (const [reason, n] of dropped.sort()) out.push(`    ${reason}: ${n}`);
    const discarded = Object.entries(c?.discarded ?? {});
    out.push(`  Adverts discarded by the state machine: ${discarded.reduce((n, [, v]) => n + (v ?? 0), 0)}`);
    for (const [reason, n] of discarded.sort()) out.push(`    ${reason}: ${n}`);
    out.push('  Priority Zero:');
    out.push(`    Received: ${c?.priorityZeroReceived ?? 0}`);
    out.push(`    Sent: ${c?.priorityZeroSent ?? 0}`);
  }
  // drops no instance claimed (wrong VRID, malformed packets), by interface
  for (const [scope, counts] of Object.entries(s.engine.drops)) {
    if (!scope.startsWith('interface:')) continue;
    out.push(`Interface: ${scope.slice('interface:'.length)}`);
    out.push(`  Packets dropped: ${Object.values(counts).reduce((n, v) => n + v, 0)}`);
    for (const [reason, n] of Object.entries(counts).sort()) out.push(`    ${reason}: ${n}`);
  }
  out.push('Plugins:');
  for (const p of s.plugins) out.push(`  ${p.id}: restarts ${p.restarts}, failures ${p.failures}, handler errors ${p.handlerErrors}, events delivered ${p.eventsDelivered}`);
  out.push(`Reloads: applied ${s.engine.reloads.applied}, rejected ${s.engine.reloads.rejected}`);
  return out.join('\n') + '\n';
}

/** Writes `text` to `path` without ever following a link planted there (see the top). */
export function writeDump(path: string, text: string): void {
  const tmp = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString('hex')}`);
  const fd = openSync(tmp, 'wx', 0o644);
  try {
    writeSync(fd, text);
  } finally {
    closeSync(fd);
  }
  try {
    renameSync(tmp, path);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
}

/** SIGUSR1 / SIGUSR2 as keepalived answers them; returns the function that removes them. A
 * listener on SIGUSR1 also keeps Node from opening its inspector on that signal. */
export function registerDumpSignals(daemon: Daemon, socketPath: () => string | undefined): () => void {
  const tally = new MasterTally(daemon);
  const mask = secretMasker(daemon);
  const dump = (kind: 'state' | 'stats') => {
    const path = kind === 'state' ? daemon.config().control.state_dump : daemon.config().control.stats_dump;
    try {
      const s = collectStatus(daemon, socketPath());
      writeDump(path, mask(kind === 'state' ? formatStateDump(s, daemon.config()) : formatStatsDump(s, tally)));
      daemon.log.info(`${kind === 'state' ? 'SIGUSR1: state' : 'SIGUSR2: statistics'} written to ${path}`);
    } catch (e) {
      daemon.log.error(`${kind} dump to ${path}: ${(e as Error).message}`);
    }
  };
  const onUsr1 = () => dump('state');
  const onUsr2 = () => dump('stats');
  process.on('SIGUSR1', onUsr1);
  process.on('SIGUSR2', onUsr2);
  return () => {
    process.off('SIGUSR1', onUsr1);
    process.off('SIGUSR2', onUsr2);
    tally.close();
    // the rest of the stop still takes time: a late signal must neither kill the daemon
    // (SIGUSR2's default) nor open the inspector (SIGUSR1's, in Node)
    if (!ignoring) {
      ignoring = true;
      process.on('SIGUSR1', ignore);
      process.on('SIGUSR2', ignore);
    }
  };
}

let ignoring = false;
const ignore = () => undefined;
