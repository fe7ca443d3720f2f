// The lease arithmetic of the etcd election, pure (../shared/docs/ELECTION.md section 2,
// docs/election.md "Why two nodes never hold the address").
//
// Only two clocks matter: the holder's monotonic clock and the etcd leader's. The etcd leader
// starts its countdown when it handles a renewal, which is after the holder sent it; so the
// lease cannot expire on the server before send + TTL, measured on the server's clock. The
// holder allows for the two clocks running at different rates (RATE_ERROR) and for its own
// lateness in acting (RELEASE_BUDGET: a late timer, event-loop lag, the netlink delete), and
// lets go of the addresses at
//
//     D = sent + TTL * (1 - RATE_ERROR) - RELEASE_BUDGET
//
// where `sent` is the send time of the newest renewal the server acknowledged.

import type { EtcdElectionConfig } from '../config/election-schema.ts';

/** Assumed bound on the rate difference between the holder's and the etcd leader's clocks. */
export const RATE_ERROR = 0.001;
/** Time the holder may need between deciding to release and the addresses being gone. */
export const RELEASE_BUDGET_US = 200_000;
/** The kernel removes an address whose valid_lft ran out; this much before D is left unused so
 * that the kernel's whole-second lifetime never reaches past D. */
export const KERNEL_SLACK_US = 500_000;

export interface ElectionTiming {
  /** Lease TTL as requested, microseconds (the granted one may be larger; the smaller counts). */
  ttlUs: number;
  /** Between renewals. */
  renewUs: number;
  /** Deadline of one request before the next endpoint is tried. */
  requestUs: number;
  /** From a renewal's send time to the fencing deadline: TTL(1 - rho) - eps. */
  holdUs: number;
}

export function electionTiming(cfg: Pick<EtcdElectionConfig, 'lease_ttl' | 'renew_interval' | 'request_timeout'>): ElectionTiming {
  const ttlUs = cfg.lease_ttl * 1e6;
  const renewUs = Math.round((cfg.renew_interval ?? cfg.lease_ttl / 6) * 1e6);
  const requestUs = Math.round((cfg.request_timeout ?? renewUs / 1e6) * 1e6);
  return { ttlUs, renewUs, requestUs, holdUs: holdFor(ttlUs) };
}

/** From a renewal's send time to D, for a lease of `ttlUs`. */
export function holdFor(ttlUs: number): number {
  return Math.floor(ttlUs * (1 - RATE_ERROR)) - RELEASE_BUDGET_US;
}

/** How many renewals in a row may go unanswered before D, when each takes up to requestUs:
 * the k-th lost one is followed by an answered one only if (k+1)·P + request <= hold. */
export function lostRenewalsTolerated(t: ElectionTiming): number {
  return Math.max(0, Math.floor((t.holdUs - t.requestUs) / t.renewUs) - 1);
}

/** The kernel lifetime to give an address at `now` for a deadline D: whole seconds, ending at
 * least KERNEL_SLACK_US before D (the kernel may drop it up to ~0.4 s late). 0 = do not hold. */
export function validLifetime(nowUs: number, deadlineUs: number): number {
  return Math.max(0, Math.floor((deadlineUs - nowUs - KERNEL_SLACK_US) / 1e6));
}

/** A lifetime re-set is aimed this long before the moment its whole seconds would drop by one
 * (a timer a little late then still gets the full second). */
export const REFRESH_LEAD_US = 50_000;

/** When to re-set the addresses' lifetime so that it ends as near D - KERNEL_SLACK_US as whole
 * seconds allow: just before validLifetime() next drops by one. Set at an arbitrary moment it
 * ends up to a second sooner, and a renewal outage as long as one etcd leader election can
 * reach that second: the address would be gone while the lease still holds. Returns the moment
 * and where that lifetime ends (monotonic µs), or undefined when no whole second is left. */
export function lifetimeRefresh(nowUs: number, deadlineUs: number): { at: number; ends: number } | undefined {
  const seconds = validLifetime(nowUs, deadlineUs);
  if (seconds < 1) return undefined;
  const drops = deadlineUs - KERNEL_SLACK_US - seconds * 1e6;
  const at = Math.max(nowUs, drops - REFRESH_LEAD_US);
  return { at, ends: at + seconds * 1e6 };
}
