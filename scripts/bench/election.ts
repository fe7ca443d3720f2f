// Issue 15's benchmark: failover of an instance elected on etcd (root; etcd, etcdctl, nft, ip).
//
// The lab is test/lib/etcd-lab.ts: a real three-member etcd cluster and two vigil nodes in
// network namespaces on one bridge. Both nodes run bin/vigil with the same priority (so a
// restarted node does not preempt), lease_ttl 3 and the default renew_interval (TTL / 6).
// One `ip -ts monitor address` per node records the VIP's add and delete events with µs wall
// clock stamps for the whole run; every figure below comes from those stamps.
//
//   kill       SIGKILL of every process of the holder's daemon (supervisor and engine at once).
//              takeover = the peer's first add of the VIP - the kill; old gone = the kernel's
//              delete of the dead holder's VIP (its valid_lft) - the kill; overlap = the time
//              both held it. The killed daemon is started again (BACKUP) for the next trial.
//   partition  the holder cut from etcd: one atomic nft transaction in its namespace drops tcp
//              port 2379 both ways (the table test/lib/etcd-lab.ts's heal() removes).
//              takeover = the peer's add - the rule; margin = the peer's add - the old holder's
//              delete (the fence: must be > 0); overlap (goal 0). Then healed, and the old
//              holder waited for as a candidate again.
//
// Each fault comes after a random 0-1 s wait, so its phase against the renewals is uniform.
//
// The floor: a lease renewed every P expires on the server between TTL - P and TTL after the
// holder's last renewal, so no takeover after a kill or a cut can come sooner than that (plus
// etcd's expiry loop, 0.1-0.5 s). Ratios are to TTL.
//
// `--election-holder etcdctl` replaces vigil with a shell holder (etcdctl lease grant +
// keep-alive, a claim txn polled every 50 ms, `ip addr replace ... valid_lft 2` every 0.5 s, no
// fencing): it checks the measuring code without the daemon. Its partition trials show an
// overlap, as a holder without a deadline must.
//
// Safety: namespaces made by the lab (removed at the end and on Ctrl-C), 192.0.2.0/24 only,
// only processes started here, ended by PID.
import { execFileSync, type ChildProcess } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import {
  instanceStatus,
  monitorAddresses,
  startEtcdLab,
  startNode,
  vipHolders,
  VIP,
  writeNodeConfig,
  type AddressMonitor,
  type EtcdLab,
} from '../../test/lib/etcd-lab.ts';
import type { DaemonHandle } from '../../test/lib/daemon.ts';
import { stopChild } from '../../test/lib/netns.ts';
import { pct, processTree, root, savePart, sleep, track, untrack } from './lab.ts';

const log = (s: string) => console.log(`elect  ${s}`);
/** Wall clock in ms with sub-ms resolution, the clock of `ip -ts monitor`. */
const wallMs = () => performance.timeOrigin + performance.now();

export type HolderKind = 'vigil' | 'etcdctl';

export interface ElectionOptions {
  trials?: number;
  ttl?: number;
  holder?: HolderKind;
}

export interface Stats {
  n: number;
  min: number;
  median: number;
  p95: number;
  max: number;
}

export interface KillTrial {
  holder: string;
  /** ms from the kill to the peer's add; null: no takeover within the limit. */
  takeoverMs: number | null;
  /** ms from the kill to the kernel's delete of the dead holder's VIP. */
  oldGoneMs: number | null;
  overlapMs: number | null;
}

export interface PartitionTrial {
  holder: string;
  /** ms the nft transaction took (the cut is somewhere inside it; the figures start at its end). */
  nftMs: number;
  takeoverMs: number | null;
  /** ms from the cut to the old holder's delete (its fence). */
  releaseMs: number | null;
  /** The peer's add - the old holder's delete (ms; > 0: nobody held it in between). */
  marginMs: number | null;
  overlapMs: number | null;
}

export interface ElectionResult {
  date: string;
  commit: string;
  holder: HolderKind;
  options: { trials: number; ttl: number; renewIntervalS: number };
  floor: { ttlMs: number; ttlMinusRenewMs: number };
  kill: { trials: KillTrial[]; failed: number; takeoverMs: Stats; oldGoneMs: Stats; overlapMs: Stats };
  partition: { trials: PartitionTrial[]; failed: number; takeoverMs: Stats; releaseMs: Stats; marginMs: Stats; overlapMs: Stats; nftMs: Stats };
  notes: string[];
}

export function electionToolsInstalled(): string | null {
  for (const [cmd, args] of [['etcd', ['--version']], ['etcdctl', ['version']], ['nft', ['--version']], ['ip', ['-V']]] as const) {
    try {
      execFileSync(cmd, [...args], { stdio: 'ignore' });
    } catch {
      return cmd;
    }
  }
  return null;
}

export function stats(xs: Array<number | null>): Stats {
  const s = xs.filter((x): x is number => x !== null && Number.isFinite(x)).sort((a, b) => a - b);
  return { n: s.length, min: s[0] ?? NaN, median: pct(s, 50), p95: pct(s, 95), max: s.at(-1) ?? NaN };
}

/** The time both nodes held the VIP after `from`: the old holder's interval runs from before
 * `from` to its first delete after it (or `until`), the peer's from its first add after it. */
export function overlapAfter(oldDel: number | undefined, peerAdd: number | undefined, until: number): number | null {
  if (peerAdd === undefined) return null;
  return Math.max(0, (oldDel ?? until) - peerAdd);
}

// ---- holders: how a node runs for election and how it dies ----
interface Holders {
  start(i: number): Promise<void>;
  /** SIGKILL of every process of node i's holder, at once; resolves when they are gone. */
  kill(i: number): Promise<void>;
  /** After a partition trial: node i back as a candidate (healed by the caller). */
  recover(i: number): Promise<void>;
  stopAll(): Promise<void>;
  logs(): string;
}

async function killTree(child: ChildProcess): Promise<void> {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  for (const pid of processTree(child.pid).reverse()) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone already
    }
  }
  await exited;
}

async function until(pred: () => boolean | Promise<boolean>, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await pred()) return;
    await sleep(20);
  }
  throw new Error(`timed out after ${ms} ms waiting for ${what}`);
}

function vigilHolders(el: EtcdLab, ttl: number, notes: string[]): Holders {
  const daemons: Array<DaemonHandle | undefined> = [];
  const configs = el.nodes.map((_, i) => writeNodeConfig(el, i, { priority: 100, ttl }));
  const ready = async (i: number) => {
    const d = daemons[i] as DaemonHandle;
    await d.waitFor(/\(VI_DB\) Entering (BACKUP|MASTER) STATE/, 20_000);
    // a candidate has a lease; the status says so (contract of issue 15)
    try {
      await until(async () => (await instanceStatus(el, i))?.election?.lease != null, 15_000, `n${i + 1}'s lease in vigil status`);
    } catch {
      notes.push(`n${i + 1}: no lease in \`vigil status --json\` 15 s after its start; went on after the BACKUP line`);
    }
  };
  return {
    start: async (i) => {
      daemons[i] = startNode(el, i, configs[i] as string);
      await ready(i);
    },
    kill: async (i) => {
      const d = daemons[i];
      if (d) await killTree(d.child);
    },
    recover: async (i) => {
      await ready(i);
      await sleep(1000);
    },
    stopAll: async () => {
      await Promise.all(daemons.map((d) => (d ? stopChild(d.child) : undefined)));
    },
    logs: () => daemons.map((d, i) => `--- n${i + 1}\n${(d?.log() ?? '').slice(-4000)}`).join('\n'),
  };
}

/** A holder without the daemon, from etcdctl and ip: no fencing, only the kernel lifetime. */
function etcdctlHolders(el: EtcdLab, ttl: number): Holders {
  const children: Array<ChildProcess | undefined> = [];
  const out: string[] = [];
  const key = '/vigil-bench/leader';
  const script = (i: number) => `
ctl() { etcdctl --endpoints=${el.endpoints.join(',')} --dial-timeout=1s --command-timeout=1s "$@"; }
L=$(ctl lease grant ${ttl} | awk '{print $2}')
[ -n "$L" ] || { echo "no lease"; exit 1; }
ctl lease keep-alive "$L" >/dev/null 2>&1 &
echo "candidate $L"
until printf 'create("${key}") = "0"\\n\\nput --lease=%s ${key} n${i + 1}\\n\\n\\n' "$L" | ctl txn 2>/dev/null | grep -q SUCCESS; do sleep 0.05; done
echo elected
while :; do ip addr replace ${VIP} dev eth0 valid_lft 2 preferred_lft 2; sleep 0.5; done
`;
  const start = async (i: number) => {
    const c = el.lab.spawn(el.nodes[i] as string, 'sh', ['-c', script(i)]);
    children[i] = c;
    out[i] = '';
    c.stdout?.on('data', (d: Buffer) => (out[i] += d.toString()));
    c.stderr?.on('data', (d: Buffer) => (out[i] += d.toString()));
    await until(() => /candidate /.test(out[i] ?? ''), 10_000, `n${i + 1}'s etcdctl lease`);
  };
  return {
    start,
    kill: async (i) => {
      const c = children[i];
      if (c) await killTree(c);
    },
    recover: async (i) => {
      // it never let go: end it, drop what it held, start it again
      const c = children[i];
      if (c) await killTree(c);
      try {
        el.lab.exec(el.nodes[i] as string, 'ip', ['addr', 'del', VIP, 'dev', 'eth0']);
      } catch {
        // the kernel's lifetime took it already
      }
      await start(i);
    },
    stopAll: async () => {
      await Promise.all(children.map((c) => (c ? killTree(c) : undefined)));
    },
    logs: () => out.map((o, i) => `--- n${i + 1}\n${(o ?? '').slice(-2000)}`).join('\n'),
  };
}

/** The cut as one nft transaction (table and both rules at once), so its moment is known to
 * within the command's run; the table's name is the lab's, so el.heal() removes it. */
function cut(el: EtcdLab, ns: string): number {
  const set = `{ ${el.members.map((m) => m.ip).join(', ')} }`;
  const rules = `table inet vigil_etcd_part {
  chain out { type filter hook output priority 0 ; policy accept ; ip daddr ${set} tcp dport 2379 drop ; }
  chain in { type filter hook input priority 0 ; policy accept ; ip saddr ${set} tcp sport 2379 drop ; }
}
`;
  const t0 = wallMs();
  execFileSync('ip', ['netns', 'exec', ns, 'nft', '-f', '-'], { input: rules, stdio: ['pipe', 'ignore', 'pipe'] });
  return wallMs() - t0;
}

async function oneHolder(el: EtcdLab, ms: number): Promise<number> {
  let h: string[] = [];
  await until(() => (h = vipHolders(el)).length === 1, ms, 'exactly one node holding the VIP');
  return el.nodes.indexOf(h[0] as string);
}

/** The monitor's first add (or delete) of the VIP in `ns` after `t`, waiting up to `ms`. */
async function firstAfter(mon: AddressMonitor, what: 'add' | 'delete', ns: string, t: number, ms: number): Promise<number | undefined> {
  const seen = () => (what === 'add' ? mon.firstAdd(ns, t) : mon.firstDel(ns, t));
  try {
    await until(() => seen() !== undefined, ms, `the ${what}`);
  } catch {
    return undefined;
  }
  return seen();
}

/** The start of a trial: who holds the VIP now (and who is the peer), then a random phase
 * against the holder's renewals: without it the fault comes a fixed time after the renewal the
 * previous trial's restart set off, and the figures bunch at one end. */
async function nextTrial(el: EtcdLab): Promise<{ h: number; p: number; hn: string; pn: string }> {
  const h = await oneHolder(el, 20_000);
  const p = 1 - h;
  await sleep(Math.random() * 1000);
  return { h, p, hn: el.nodes[h] as string, pn: el.nodes[p] as string };
}

function commitOf(): string {
  try {
    return execFileSync('git', ['-C', root, 'rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
  } catch {
    return 'unknown';
  }
}

export async function benchElection(opts: ElectionOptions = {}): Promise<ElectionResult> {
  const trials = opts.trials ?? 20;
  const ttl = opts.ttl ?? 3;
  const kind = opts.holder ?? 'vigil';
  const renewS = kind === 'vigil' ? ttl / 6 : ttl / 3; // vigil's default; etcdctl's client renews every TTL/3
  const limit = (ttl + 10) * 1000;
  const notes: string[] = [];
  const el = await startEtcdLab({ nodes: 2 });
  track(el.lab);
  const holders = kind === 'vigil' ? vigilHolders(el, ttl, notes) : etcdctlHolders(el, ttl);
  const kills: KillTrial[] = [];
  const parts: PartitionTrial[] = [];
  let mon: AddressMonitor | undefined;
  try {
    mon = await monitorAddresses(el);
    await holders.start(0);
    await holders.start(1);
    await oneHolder(el, 20_000);
    log(`${kind} holders, lease_ttl ${ttl}, renewal every ${renewS.toFixed(2)} s; ${trials} kill trials`);
    for (let k = 0; k < trials; k++) {
      const { h, p, hn, pn } = await nextTrial(el);
      const t = wallMs();
      await holders.kill(h);
      const add = await firstAfter(mon, 'add', pn, t, limit);
      const del = await firstAfter(mon, 'delete', hn, t, 10_000);
      const trial: KillTrial = {
        holder: `n${h + 1}`,
        takeoverMs: add === undefined ? null : add - t,
        oldGoneMs: del === undefined ? null : del - t,
        overlapMs: overlapAfter(del, add, wallMs()),
      };
      kills.push(trial);
      log(`kill ${k + 1}/${trials} n${h + 1}: takeover ${fmt(trial.takeoverMs)} ms, old VIP gone ${fmt(trial.oldGoneMs)} ms, overlap ${fmt(trial.overlapMs)} ms`);
      if (add === undefined) notes.push(`kill trial ${k + 1}: no takeover by n${p + 1} within ${limit} ms`);
      if (del === undefined) {
        // no kernel lifetime on the VIP: the dead holder would keep it forever; say so, and
        // take it off by hand so that the next trial starts with one holder
        notes.push(`kill trial ${k + 1}: the SIGKILLed holder n${h + 1} still had the VIP 10 s later (no valid_lft?); removed by hand`);
        try {
          el.lab.exec(hn, 'ip', ['addr', 'del', VIP, 'dev', 'eth0']);
        } catch {
          // gone meanwhile
        }
      }
      await holders.start(h);
    }
    log(`${trials} partition trials`);
    for (let k = 0; k < trials; k++) {
      const { h, p, hn, pn } = await nextTrial(el);
      const nftMs = cut(el, hn);
      const t = wallMs();
      let add: number | undefined;
      let del: number | undefined;
      try {
        add = await firstAfter(mon, 'add', pn, t, limit);
        // a fenced holder deleted before the add; a holder without a fence is given 2 s more
        del = await firstAfter(mon, 'delete', hn, t, add === undefined ? 1 : Math.max(1, add + 2000 - wallMs()));
      } finally {
        el.heal(hn);
      }
      const trial: PartitionTrial = {
        holder: `n${h + 1}`,
        nftMs,
        takeoverMs: add === undefined ? null : add - t,
        releaseMs: del === undefined ? null : del - t,
        marginMs: add === undefined ? null : del === undefined ? -(wallMs() - add) : add - del,
        overlapMs: overlapAfter(del, add, wallMs()),
      };
      parts.push(trial);
      log(`cut ${k + 1}/${trials} n${h + 1}: takeover ${fmt(trial.takeoverMs)} ms, released ${fmt(trial.releaseMs)} ms, margin ${fmt(trial.marginMs)} ms, overlap ${fmt(trial.overlapMs)} ms`);
      if (add === undefined) notes.push(`partition trial ${k + 1}: no takeover by n${p + 1} within ${limit} ms`);
      await holders.recover(h);
    }
  } catch (e) {
    console.error(holders.logs());
    throw e;
  } finally {
    await holders.stopAll();
    await mon?.stop();
    await el.cleanup();
    untrack(el.lab);
  }
  if (kind === 'etcdctl') notes.push('etcdctl holders: no fencing (a holder cut from etcd keeps the VIP until it is ended), so partition overlaps are expected; a check of the measuring code, not vigil');
  return {
    date: new Date().toISOString(),
    commit: commitOf(),
    holder: kind,
    options: { trials, ttl, renewIntervalS: renewS },
    floor: { ttlMs: ttl * 1000, ttlMinusRenewMs: (ttl - renewS) * 1000 },
    kill: {
      trials: kills,
      failed: kills.filter((x) => x.takeoverMs === null).length,
      takeoverMs: stats(kills.map((x) => x.takeoverMs)),
      oldGoneMs: stats(kills.map((x) => x.oldGoneMs)),
      overlapMs: stats(kills.map((x) => x.overlapMs)),
    },
    partition: {
      trials: parts,
      failed: parts.filter((x) => x.takeoverMs === null).length,
      takeoverMs: stats(parts.map((x) => x.takeoverMs)),
      releaseMs: stats(parts.map((x) => x.releaseMs)),
      marginMs: stats(parts.map((x) => x.marginMs)),
      overlapMs: stats(parts.map((x) => x.overlapMs)),
      nftMs: stats(parts.map((x) => x.nftMs)),
    },
    notes,
  };
}

function fmt(x: number | null | undefined, digits = 1): string {
  return x === null || x === undefined || !Number.isFinite(x) ? '-' : x.toFixed(digits);
}

export function printElection(r: ElectionResult): void {
  const { ttlMs, ttlMinusRenewMs } = r.floor;
  console.log(`\nelection on etcd (${r.holder} holders, ${r.commit}): lease_ttl ${r.options.ttl} s, renewal every ${r.options.renewIntervalS.toFixed(2)} s, ${r.options.trials} trials each`);
  console.log(`floor: the lease expires on the server ${(ttlMinusRenewMs / 1000).toFixed(2)}-${(ttlMs / 1000).toFixed(2)} s after the holder's end (TTL - renew_interval .. TTL), plus etcd's expiry loop`);
  const head = `${'figure'.padEnd(34)} ${'n'.padStart(3)} ${'min'.padStart(8)} ${'median'.padStart(8)} ${'p95'.padStart(8)} ${'max'.padStart(8)}  ratio to TTL (median, max)`;
  console.log(head);
  const row = (name: string, s: Stats, toFloor: boolean) =>
    console.log(
      `${name.padEnd(34)} ${String(s.n).padStart(3)} ${fmt(s.min).padStart(8)} ${fmt(s.median).padStart(8)} ${fmt(s.p95).padStart(8)} ${fmt(s.max).padStart(8)}  ${toFloor ? `${(s.median / ttlMs).toFixed(2)}x, ${(s.max / ttlMs).toFixed(2)}x` : ''}`,
    );
  console.log('-- SIGKILL of the holder (ms)');
  row('takeover: kill -> peer adds', r.kill.takeoverMs, true);
  row('old VIP gone (valid_lft)', r.kill.oldGoneMs, false);
  row('overlap (goal 0)', r.kill.overlapMs, false);
  console.log('-- holder cut from etcd, nft drop (ms)');
  row('takeover: cut -> peer adds', r.partition.takeoverMs, true);
  row('release: cut -> old holder deletes', r.partition.releaseMs, false);
  row('margin: peer add - old delete (>0)', r.partition.marginMs, false);
  row('overlap (goal 0)', r.partition.overlapMs, false);
  row('nft transaction', r.partition.nftMs, false);
  const both = r.kill.overlapMs.max > 0 || r.partition.overlapMs.max > 0;
  console.log(`overlaps: ${r.kill.trials.filter((x) => (x.overlapMs ?? 0) > 0).length} kill trials, ${r.partition.trials.filter((x) => (x.overlapMs ?? 0) > 0).length} partition trials${both ? ' (NOT zero)' : ''}; takeovers missing: ${r.kill.failed} + ${r.partition.failed}`);
  for (const n of r.notes) console.log(`note: ${n}`);
}

export function saveElection(r: ElectionResult, labFile?: string): string {
  // a check run of the measuring code never takes the place of vigil's figures
  return savePart(r.holder === 'vigil' ? 'election' : 'election-etcdctl', r, r.holder === 'vigil' ? labFile : undefined);
}
