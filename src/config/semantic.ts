// Checks beyond shape, on a config that passed the schema: the ones keepalived makes when it
// links sections together, plus the wire constraints of VRRP itself.

import { readdirSync } from 'node:fs';
import { isIP } from 'node:net';
import { networkInterfaces } from 'node:os';
import type { Diagnostic, PositionMap } from './diagnostics.ts';
import { checkElection } from './election-semantic.ts';
import { checkLvs } from './lvs-semantic.ts';
import { parseRoute } from '../net/route-syntax.ts';
import { parseRule } from '../net/rules.ts';
import type { Config, VrrpInstanceConfig } from './schema.ts';
import type { LocalSubnet } from '../lvs/neighbours.ts';
import { PRIORITY_OWNER } from '../vrrp/types.ts';

export interface SemanticOptions {
  /** Interfaces present on this host; by default read from the OS. */
  interfaces?: Map<string, string[]>;
  /** Their subnets, for lb_kind DR (lvs-semantic.ts); by default read from the OS. */
  subnets?: LocalSubnet[];
}

/** The address family of an instance: that of its first virtual address (IPv4 if none). */
export function instanceFamily(inst: VrrpInstanceConfig): 4 | 6 {
  const first = inst.virtual_ipaddress[0]?.address.split('/')[0];
  return first && isIP(first) === 6 ? 6 : 4;
}

export function instanceVersion(config: Config, inst: VrrpInstanceConfig): 2 | 3 {
  return inst.version ?? (instanceFamily(inst) === 6 ? 3 : config.global_defs.vrrp_version);
}

function hostInterfaces(): Map<string, string[]> {
  const m = new Map<string, string[]>();
  for (const [name, addrs] of Object.entries(networkInterfaces())) m.set(name, (addrs ?? []).map((a) => a.address));
  // os.networkInterfaces() lists only interfaces with an address; a link without one exists too
  try {
    for (const name of readdirSync('/sys/class/net')) if (!m.has(name)) m.set(name, []);
  } catch {
    // no sysfs (not Linux): the addressed interfaces are all we know
  }
  return m;
}

function missingTracked(owner: string, ifname: string): string {
  return `tracked interface ${ifname} does not exist on this host; it counts as down until it appears (keepalived 2.2.7: "(${owner}) tracked interface ${ifname} doesn't exist", and without dynamic_interfaces it does not start)`;
}

type At = (path: Array<string | number>, severity: Diagnostic['severity'], message: string) => void;

/** An address owner's priority never moves: keepalived 2.2.7 drops its weighted trackers (and
 * makes a track_file of the default weight 1 unweighted) at start, in these words; the
 * built-in trackers resolve them the same way (plugins/track-file/config.ts and its siblings). */
function ownerTracking(config: Config, name: string, inst: VrrpInstanceConfig, at: At): void {
  const p = ['vrrp_instance', name];
  inst.track_interface.forEach((t, i) => {
    if (t.name !== inst.interface && (t.weight ?? 0) !== 0) at([...p, 'track_interface', i], 'warning', `(${name}) ignoring ${t.name} tracked interface due to address owner`);
  });
  inst.track_script.forEach((t, i) => {
    const sc = config.vrrp_script[t.name];
    if (sc && (t.weight ?? sc.weight) !== 0) at([...p, 'track_script', i], 'warning', `(${name}) ignoring tracked script ${t.name} with weights due to address_owner`);
  });
  inst.track_file.forEach((t, i) => {
    const f = config.vrrp_track_file[t.name];
    const w = t.weight ?? f?.weight;
    if (!f || w === 0) return;
    at(
      [...p, 'track_file', i],
      'warning',
      w === 1
        ? `(${name}) ignoring weight from tracked file ${t.name} due to address_owner. specify weight 0 (a non-zero value holds it in FAULT)`
        : `(${name}) ignoring tracked file ${t.name} with weight ${w} due to address_owner`,
    );
  });
  inst.track_process.forEach((t, i) => {
    const pr = config.vrrp_track_process[t.name];
    const w = t.weight ?? pr?.weight;
    if (!pr || w === 0) return;
    // keepalived 2.2.7 says nothing here; it never moves an owner's priority either
    at(
      [...p, 'track_process', i],
      'warning',
      w === 1
        ? `(${name}) track_process ${t.name}: the default weight is ignored for the address owner; a lost quorum holds it in FAULT (as weight 0)`
        : `(${name}) track_process ${t.name}: weight ${w} ignored for the address owner (its priority stays 255)`,
    );
  });
}

export function checkSemantics(config: Config, positions: PositionMap, opts: SemanticOptions = {}): Diagnostic[] {
  const out: Diagnostic[] = [];
  const at = (path: Array<string | number>, severity: Diagnostic['severity'], message: string) =>
    out.push({ ...positions.get(path), severity, field: path.join('.'), message });
  const ifaces = opts.interfaces ?? hostInterfaces();
  const vridSeen = new Map<string, string>();

  for (const [name, inst] of Object.entries(config.vrrp_instance)) {
    const p = ['vrrp_instance', name];
    const family = instanceFamily(inst);
    const version = instanceVersion(config, inst);

    // an instance elected on etcd sends nothing on the wire: its VRID (if any) is nobody's
    if (!inst.election?.etcd) {
      const key = `${inst.interface}/${family}/${inst.virtual_router_id}`;
      const other = vridSeen.get(key);
      if (other) at([...p, 'virtual_router_id'], 'error', `VRID ${inst.virtual_router_id} is already used by ${other} on ${inst.interface}`);
      else vridSeen.set(key, name);
    }

    if (inst.virtual_ipaddress.length === 0) at(p, 'warning', 'no virtual_ipaddress: the instance protects nothing');
    inst.virtual_ipaddress.forEach((v, i) => {
      const fam = isIP(v.address.split('/')[0] ?? '');
      if (fam !== family) {
        at([...p, 'virtual_ipaddress', i], 'error', `IPv${fam} address in an IPv${family} instance; put it in virtual_ipaddress_excluded or its own instance`);
      }
    });
    if (family === 6 && version === 2) at([...p, 'version'], 'error', 'VRRP version 2 does not support IPv6; use version 3');

    // advert_int must be representable on the wire
    const cs = Math.round(inst.advert_int * 100);
    if (version === 2 && !Number.isInteger(inst.advert_int)) {
      at([...p, 'advert_int'], 'error', `VRRPv2 carries whole seconds; ${inst.advert_int} s cannot be sent (use version 3)`);
    } else if (version === 2 && inst.advert_int > 255) {
      at([...p, 'advert_int'], 'error', 'VRRPv2 advert_int is at most 255 s');
    } else if (version === 3 && Math.abs(cs - inst.advert_int * 100) > 1e-6) {
      at([...p, 'advert_int'], 'error', `VRRPv3 carries centiseconds; ${inst.advert_int} s is not a multiple of 0.01 s`);
    }

    const checkFamily = (addr: string | undefined, path: Array<string | number>) => {
      if (addr && isIP(addr) !== family) at(path, 'error', `${addr} is not an IPv${family} address like the instance's`);
    };
    checkFamily(inst.unicast_src_ip, [...p, 'unicast_src_ip']);
    inst.unicast_peer.forEach((peer, i) => checkFamily(peer, [...p, 'unicast_peer', i]));
    if (inst.unicast_peer.length > 0 && !inst.unicast_src_ip) {
      at([...p, 'unicast_peer'], 'warning', 'unicast_peer without unicast_src_ip: the interface primary address is used');
    }

    inst.virtual_routes.forEach((line, i) => {
      const r = parseRoute(line);
      // like an invalid address in a list, keepalived skips a bad route with a warning
      if (!r.ok) at([...p, 'virtual_routes', i], 'warning', `${r.error}: '${line}'${r.unsupported ? '' : '; skipped'}`);
    });

    inst.virtual_rules.forEach((line, i) => {
      const r = parseRule(line);
      if (!r.ok) at([...p, 'virtual_rules', i], 'warning', `${r.error}: '${line}'${r.unsupported ? '' : '; skipped'}`);
    });

    inst.track_script.forEach((t, i) => {
      if (!config.vrrp_script[t.name]) at([...p, 'track_script', i], 'error', `track_script '${t.name}' names no vrrp_script`);
    });
    inst.track_file.forEach((t, i) => {
      if (!config.vrrp_track_file[t.name]) at([...p, 'track_file', i], 'error', `track_file '${t.name}' names no vrrp_track_file`);
    });
    inst.track_process.forEach((t, i) => {
      if (!config.vrrp_track_process[t.name]) at([...p, 'track_process', i], 'error', `track_process '${t.name}' names no vrrp_track_process`);
    });

    if (inst.authentication && version === 3) {
      at([...p, 'authentication'], 'warning', 'VRRPv3 has no authentication (RFC 5798); ignored');
    }
    if (inst.authentication?.auth_type === 'AH') {
      at([...p, 'authentication', 'auth_type'], 'warning', 'auth_type AH is not supported by vigil (RFC 3768 removed it); adverts are sent without authentication and AH adverts are dropped');
    }

    const hostAddrs = ifaces.get(inst.interface);
    if (!hostAddrs) {
      at([...p, 'interface'], 'warning', `interface ${inst.interface} does not exist on this host; the instance waits in FAULT until it appears`);
    }
    if (inst.priority === PRIORITY_OWNER) {
      const owns = inst.virtual_ipaddress.some((v) => hostAddrs?.includes(v.address.split('/')[0] ?? ''));
      if (!owns) {
        at(
          [...p, 'priority'],
          'warning',
          `priority 255 is for the address owner, but no virtual address is an address of ${inst.interface} here; it runs at 255 all the same, as in keepalived 2.2.7: Master at once, preempting every other router, tracking weights ignored`,
        );
      }
      ownerTracking(config, name, inst, at);
    }

    // a tracked interface: keepalived 2.2.7 skips its own interface, and refuses to start when
    // one does not exist (unless dynamic_interfaces); vigil tracks it as down until it appears
    inst.track_interface.forEach((t, i) => {
      if (t.name === inst.interface) at([...p, 'track_interface', i], 'warning', `Ignoring track_interface ${t.name} since own interface (keepalived's words; it is tracked as the instance's interface)`);
      else if (!ifaces.has(t.name)) at([...p, 'track_interface', i], 'warning', missingTracked(name, t.name));
    });
  }

  for (const [name, script] of Object.entries(config.vrrp_script)) {
    if (script.timeout !== undefined && script.timeout > script.interval) {
      at(['vrrp_script', name, 'timeout'], 'warning', 'timeout is longer than interval');
    }
  }

  for (const [name, group] of Object.entries(config.vrrp_sync_group)) {
    const families = new Set<number>();
    group.group.forEach((member, i) => {
      const inst = config.vrrp_instance[member];
      if (!inst) at(['vrrp_sync_group', name, 'group', i], 'error', `'${member}' is not a vrrp_instance`);
      else families.add(instanceFamily(inst));
    });
    if (families.size > 1) at(['vrrp_sync_group', name, 'group'], 'error', 'a sync group cannot mix IPv4 and IPv6 instances');
    if (group.group.length === 1) at(['vrrp_sync_group', name, 'group'], 'warning', 'a sync group of one instance does nothing');
    group.track_interface.forEach((t, i) => {
      if (!ifaces.has(t.name)) at(['vrrp_sync_group', name, 'track_interface', i], 'warning', missingTracked(name, t.name));
    });
  }
  // who elects the Master (VRRP, or a lease in etcd): election-semantic.ts
  checkElection(config, at);
  // the load balancer (virtual_server, virtual_server_group): lvs-semantic.ts
  out.push(...checkLvs(config, positions, opts.subnets ? { subnets: opts.subnets } : {}));
  return out;
}
