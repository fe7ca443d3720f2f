// Who should hold the leadership of an etcd election, decided from one read of its keys, pure.
//
// etcd's own election recipe is first come, first served (ELECTION.md 1.3); vigil's candidates
// have priorities, so the keys are laid out for that (ELECTION.md section 3, shape A):
//   <prefix>/cand/<name>   {name, priority, fault}   one per live candidate, on its lease
//   <prefix>/leader        {name, priority}          on the holder's lease, created by a txn
//                                                    that succeeds only while it is absent
// Safety (one holder) comes from that txn and the lease alone; priority only decides who tries
// the txn and when a holder steps aside, so a stale view costs a retry, never a second holder.

/** One candidate as it publishes itself. */
export interface Candidate {
  name: string;
  priority: number;
  /** In FAULT (a weight-0 tracker failing): never a holder. */
  fault: boolean;
}

/** The leader key as read. */
export interface LeaderKey {
  name: string;
  /** The lease it is attached to (a decimal string, as etcd3 gives it). */
  lease: string;
  createRevision: string;
}

/** Higher priority first; equal priorities by name, so every node ranks them alike. */
export function outranks(a: Candidate, b: Candidate): boolean {
  return a.priority !== b.priority ? a.priority > b.priority : a.name < b.name;
}

/** The best candidate that may hold the leadership (not in fault, priority above 0). */
export function best(candidates: Iterable<Candidate>): Candidate | undefined {
  let top: Candidate | undefined;
  for (const c of candidates) if (eligible(c) && (!top || outranks(c, top))) top = c;
  return top;
}

export function eligible(c: Candidate): boolean {
  return !c.fault && c.priority > 0;
}

/** A free leadership is claimed by the best candidate only; `me` is in `candidates` as read,
 * or as this node knows itself when its own key has not been read back yet. */
export function shouldClaim(me: Candidate, candidates: Candidate[]): boolean {
  if (!eligible(me)) return false;
  const others = candidates.filter((c) => c.name !== me.name);
  return best([me, ...others])?.name === me.name;
}

/** The candidate a holder steps aside for with preemption: strictly higher priority (equal
 * priorities never preempt; the holder's name tie-break only orders a free race). */
export function challenger(me: Candidate, candidates: Candidate[]): Candidate | undefined {
  const top = best(candidates.filter((c) => c.name !== me.name));
  return top && top.priority > me.priority ? top : undefined;
}

/** Parses a candidate key's value; undefined for anything else (another program's key, a
 * half-written value): a malformed key never takes part. */
export function parseCandidate(value: string): Candidate | undefined {
  try {
    const v = JSON.parse(value) as Partial<Candidate>;
    if (typeof v.name !== 'string' || typeof v.priority !== 'number' || !Number.isInteger(v.priority)) return undefined;
    return { name: v.name, priority: v.priority, fault: v.fault === true };
  } catch {
    return undefined;
  }
}

/** The leader key's holder name, or undefined for a value no vigil wrote. */
export function parseLeaderName(value: string): string | undefined {
  try {
    const v = JSON.parse(value) as { name?: unknown };
    return typeof v.name === 'string' ? v.name : undefined;
  } catch {
    return undefined;
  }
}
