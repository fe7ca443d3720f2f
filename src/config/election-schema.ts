// The `election:` section of a vrrp_instance: who decides which node is Master. Absent, VRRP
// decides on the wire; `election.etcd` hands the decision to a lease in an etcd cluster, for
// nodes that share no layer-2 segment (docs/election.md). Everything else about the instance
// (VIPs, notify scripts, trackers, the bus) stays as it is.
//
// Timing defaults follow the fact sheet's analysis (../shared/docs/ELECTION.md section 2): a
// renewal every TTL/6 lets several renewals be lost before the fencing deadline, each attempt
// gets at most one renewal interval, so a silent member costs one interval, not a TTL.

import { hostname } from 'node:os';
import { z } from 'zod';

export const etcdElectionSchema = z.object({
  /** Client URLs of the etcd members: http://, or https:// with `tls`. */
  endpoints: z.array(z.url({ protocol: /^https?$/, error: 'not an http:// or https:// URL' })).min(1, 'at least one endpoint'),
  /** Lease TTL in whole seconds; etcd raises anything below 2 s to 2 s silently, so it is refused here. */
  lease_ttl: z.number().int('whole seconds').min(2, 'etcd grants at least 2 s').max(3600).default(3),
  /** This candidate's name among the others; default global_defs.router_id, else the host name. */
  name: z.string().min(1).max(128).regex(/^[^/\s]+$/, 'no slashes or spaces').optional(),
  /** Key prefix of this election; default /vigil/election/<instance name>. */
  key: z.string().regex(/^\/\S*[^/]$/, 'an absolute key like /vigil/election/db').optional(),
  /** Seconds between renewals; default lease_ttl / 6. */
  renew_interval: z.number().positive().optional(),
  /** Seconds one request may take before the next endpoint is tried; default renew_interval. */
  request_timeout: z.number().positive().optional(),
  /** What a Master does when etcd cannot renew its lease because etcd has no quorum. */
  quorum_loss: z.enum(['release', 'keep']).default('release'),
  tls: z
    .object({
      /** CA bundle that signed the members' certificates. */
      ca: z.string().min(1),
      /** Client certificate and key, for members that ask for one. */
      cert: z.string().min(1).optional(),
      key: z.string().min(1).optional(),
    })
    .optional(),
  user: z.string().min(1).optional(),
  password: z.string().min(1).optional(),
});

export const electionSchema = z.object({
  etcd: etcdElectionSchema.optional(),
});

export type EtcdElectionConfig = z.infer<typeof etcdElectionSchema>;

/** This node's candidate name in an election: `name`, else global_defs.router_id, else the host
 * name (one rule for the engine, the status and the events). */
export function candidateName(etcd: Pick<EtcdElectionConfig, 'name'>, routerId: string | undefined): string {
  return etcd.name ?? routerId ?? hostname();
}
