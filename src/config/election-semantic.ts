// Checks of the `election:` section beyond its shape: what an etcd-elected instance cannot
// have (a VRRP sync group), what it ignores (the wire's settings), and timings that would let
// a single lost renewal release the addresses.

import { accessSync, constants } from 'node:fs';
import type { Diagnostic } from './diagnostics.ts';
import type { Config } from './schema.ts';
import { electionTiming, lostRenewalsTolerated } from '../election/timing.ts';

type At = (path: Array<string | number>, severity: Diagnostic['severity'], message: string) => void;

/** Wire settings an etcd-elected instance has no use for. */
const WIRE_ONLY = ['unicast_peer', 'unicast_src_ip', 'mcast_src_ip', 'authentication', 'version'] as const;

export function checkElection(config: Config, at: At): void {
  const inGroup = new Map<string, string>();
  for (const [g, group] of Object.entries(config.vrrp_sync_group)) for (const m of group.group) inGroup.set(m, g);

  for (const [name, inst] of Object.entries(config.vrrp_instance)) {
    const p = ['vrrp_instance', name];
    const etcd = inst.election?.etcd;
    if (!etcd) continue;
    const e = [...p, 'election', 'etcd'];
    const group = inGroup.get(name);
    if (group) at([...p, 'election'], 'error', `an instance elected on etcd cannot be in vrrp_sync_group ${group}: the group moves its members on VRRP's terms`);
    for (const key of WIRE_ONLY) {
      const v = inst[key];
      if (v !== undefined && !(Array.isArray(v) && v.length === 0)) at([...p, key], 'warning', `ignored: ${name} is elected on etcd, not on the wire`);
    }
    if (inst.use_vmac !== false) at([...p, 'use_vmac'], 'warning', `ignored: ${name} is elected on etcd; its addresses go on ${inst.interface}`);
    if (inst.state === 'MASTER') at([...p, 'state'], 'warning', `ignored: on etcd every node starts as BACKUP and the lease decides`);

    const t = electionTiming(etcd);
    if (t.renewUs >= t.holdUs) {
      at([...e, 'renew_interval'], 'error', `${t.renewUs / 1e6} s leaves no time to renew a ${etcd.lease_ttl} s lease before its fencing deadline (${t.holdUs / 1e6} s after each renewal); use at most lease_ttl / 3`);
    } else if (t.requestUs > t.renewUs) {
      at([...e, 'request_timeout'], 'error', `longer than renew_interval (${t.renewUs / 1e6} s): a silent member would delay the next renewal`);
    } else if (lostRenewalsTolerated(t) < 1) {
      at([...e, 'renew_interval'], 'warning', `with a ${etcd.lease_ttl} s lease, one lost renewal releases the addresses; a shorter renew_interval (default lease_ttl / 6) rides one out`);
    }

    const schemes = new Set(etcd.endpoints.map((u) => new URL(u).protocol));
    if (etcd.tls && schemes.has('http:')) at([...e, 'endpoints'], 'error', 'tls is set: every endpoint must be https://');
    if (!etcd.tls && schemes.has('https:')) at([...e, 'endpoints'], 'error', 'an https:// endpoint needs tls: { ca: FILE }');
    if (etcd.tls) {
      if ((etcd.tls.cert === undefined) !== (etcd.tls.key === undefined)) at([...e, 'tls'], 'error', 'cert and key go together');
      for (const f of ['ca', 'cert', 'key'] as const) {
        const file = etcd.tls[f];
        if (file === undefined) continue;
        try {
          accessSync(file, constants.R_OK);
        } catch (err) {
          at([...e, 'tls', f], 'error', `cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
        }
      }
    }
    if ((etcd.user === undefined) !== (etcd.password === undefined)) at([...e, etcd.user === undefined ? 'password' : 'user'], 'error', 'user and password go together');
  }
}
