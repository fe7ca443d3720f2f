// Slot tables for the nftables schedulers (pure). nftables picks a backend with a stateless
// expression (numgen / jhash) indexing a map of slots, so every scheduler becomes "which backend
// owns slot k of M": these functions compute that table from the backends' weights.

/** A map cannot hold 2^31 slots: weights whose reduced sum is above this are scaled down, keeping
 * their ratios as closely as integers allow (and every backend at least one slot). */
export const MAX_SLOTS = 1024;

function gcd(a: number, b: number): number {
  while (b) [a, b] = [b, a % b];
  return a;
}

/** Weights reduced by their gcd, then scaled so their sum stays within `max`. */
export function reduceWeights(weights: number[], max = MAX_SLOTS): number[] {
  let w = weights.map((x) => Math.max(1, Math.floor(x)));
  const sum = w.reduce((a, b) => a + b, 0);
  if (sum > max) w = w.map((x) => Math.max(1, Math.round((x * max) / sum)));
  const g = w.reduce(gcd, 0) || 1;
  return w.map((x) => x / g);
}

/** IPVS wrr's own order (ip_vs_wrr.c: the current weight steps down from the maximum, and each
 * pass takes every server at least that heavy), so 3:2:1 gives A A B A B C rather than runs of
 * A A A B B C: consecutive connections spread the way they do under IPVS. */
export function wrrSlots(weights: number[]): number[] {
  const w = reduceWeights(weights);
  const total = w.reduce((a, b) => a + b, 0);
  const max = Math.max(...w);
  const slots: number[] = [];
  let cw = 0;
  for (let i = 0; slots.length < total; i = (i + 1) % w.length) {
    if (i === 0) {
      cw -= 1;
      if (cw <= 0) cw = max;
    }
    if ((w[i] ?? 0) >= cw) slots.push(i);
  }
  return slots;
}

/** FNV-1a, 32 bits: a stable hash of a backend id (same input, same slots, on every node). */
export function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

/** Maglev table sizes: prime, and large against the backend count so shares stay even. */
export function maglevSize(backends: number): number {
  for (const m of [251, 1021, 4093]) if (backends * 10 <= m) return m;
  return 4093;
}

/** A Maglev lookup table (Eisenbud et al. 2016, as IPVS mh fills it): each backend walks its own
 * permutation of the slots, derived from its id only, claiming free slots in turns proportional
 * to its weight. Because a backend's permutation does not depend on the others, removing one
 * frees only its slots and the rest keep nearly all of theirs: its flows move, others stay. */
export function maglevSlots(ids: string[], weights: number[], size = maglevSize(ids.length)): number[] {
  const turns = reduceWeights(weights, size);
  const offset = ids.map((id) => fnv1a(`offset:${id}`) % size);
  const skip = ids.map((id) => (fnv1a(`skip:${id}`) % (size - 1)) + 1);
  const next = ids.map(() => 0);
  const table: number[] = new Array<number>(size).fill(-1);
  let filled = 0;
  while (filled < size) {
    for (let i = 0; i < ids.length && filled < size; i++) {
      for (let t = 0; t < (turns[i] ?? 1) && filled < size; t++) {
        let c: number;
        do {
          c = ((offset[i] ?? 0) + (next[i] ?? 0) * (skip[i] ?? 1)) % size;
          next[i] = (next[i] ?? 0) + 1;
        } while (table[c] !== -1);
        table[c] = i;
        filled++;
      }
    }
  }
  return table;
}

/** Runs of equal owners as [from, to, owner]: the map gets one range element per run. */
export function slotRuns(slots: number[]): Array<[number, number, number]> {
  const runs: Array<[number, number, number]> = [];
  slots.forEach((owner, k) => {
    const last = runs[runs.length - 1];
    if (last && last[2] === owner && last[1] === k - 1) last[1] = k;
    else runs.push([k, k, owner]);
  });
  return runs;
}
