// The lab half of `npm run bench`: every figure for vigil and keepalived in the same run, a
// table on stdout and everything (each trial, each run) as JSON in bench/results/DATE.json.
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { benchFailover } from './failover.ts';
import { IMPLS, root, type Impl } from './lab.ts';
import { printRows, type Row } from './report.ts';
import { runScale, type ScaleResult, type ScaleSpec } from './scale.ts';

const log = (s: string) => console.log(`lab    ${s}`);

function keepalivedVersion(): string {
  try {
    return execFileSync('keepalived', ['--version'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).split('\n')[0] ?? '';
  } catch (e) {
    return ((e as { stderr?: string }).stderr ?? '').split('\n')[0] ?? '';
  }
}

/** Returns the JSON file it wrote. */
export async function runLab(trials: number): Promise<string> {
  const started = Date.now();
  const rows: Row[] = [];
  const notes: string[] = [];

  // 1. failover (and the notify latency of each takeover)
  const fo = await benchFailover(trials, log);
  rows.push(...fo.rows);

  // 2. scale with advert timing, and the reload with 1000 instances
  const scale: ScaleResult[] = [];
  const run = async (spec: ScaleSpec) => {
    log(`${spec.impl}: ${spec.n} instance(s), v${spec.version} advert_int ${spec.advertInt}${spec.spin ? ', spinning plugin' : ''}${spec.reload ? ', reload' : ''}`);
    const r = await runScale(spec);
    log(`  converged ${r.convergeMs} ms; Master ${r.master.cpuPct.toFixed(2)}% CPU ${r.master.rssMiB.toFixed(1)} MiB; Backup ${r.backup.cpuPct.toFixed(2)}% ${r.backup.rssMiB.toFixed(1)} MiB; advert deviation p50 ${r.timing.median} p99 ${r.timing.p99} max ${r.timing.max} ms (n=${r.timing.n})${r.notes.length ? `; ${r.notes.join('; ')}` : ''}`);
    scale.push(r);
    for (const n of r.notes) notes.push(`${spec.impl} ${spec.n} instances: ${n}`);
    return r;
  };
  for (const n of [1, 100, 1000]) for (const impl of IMPLS) await run({ impl, n, version: 2, advertInt: 1, windowMs: 10_000, reload: n === 1000 });
  for (const impl of IMPLS) await run({ impl, n: 1, version: 3, advertInt: 0.1, windowMs: 10_000 });
  await run({ impl: 'vigil', n: 1, version: 3, advertInt: 0.1, windowMs: 10_000, spin: true });

  const find = (impl: Impl, n: number, advertInt = 1, spin = false) => scale.find((r) => r.spec.impl === impl && r.spec.n === n && r.spec.advertInt === advertInt && !!r.spec.spin === spin);
  const both = (section: string, figure: string, unit: string, pick: (r: ScaleResult) => number | undefined, n: number, advertInt = 1, note = '') => {
    const v = find('vigil', n, advertInt);
    const k = find('keepalived', n, advertInt);
    rows.push({ section, figure, unit, vigil: v ? (pick(v) ?? null) : null, keepalived: k ? (pick(k) ?? null) : null, note });
  };
  const T = 'advert timing: |interval - advert_int| on the wire (Master, tcpdump in the Backup)';
  for (const stat of ['median', 'p99', 'max'] as const) both(T, `1 inst v3 0.1s idle ${stat === 'median' ? 'p50' : stat}`, 'ms', (r) => r.timing[stat], 1, 0.1, stat === 'median' ? `n=${find('vigil', 1, 0.1)?.timing.n}/${find('keepalived', 1, 0.1)?.timing.n}` : '');
  const spin = find('vigil', 1, 0.1, true);
  for (const stat of ['median', 'p99', 'max'] as const) rows.push({ section: T, figure: `1 inst v3 0.1s spinning plugin ${stat === 'median' ? 'p50' : stat}`, unit: 'ms', vigil: spin?.timing[stat] ?? null, keepalived: null, note: stat === 'median' ? 'keepalived has no plugins: n/a' : '' });
  for (const n of [1, 100, 1000]) for (const stat of ['median', 'p99', 'max'] as const) both(T, `${n} inst v2 1s ${stat === 'median' ? 'p50' : stat}`, 'ms', (r) => r.timing[stat], n, 1, stat === 'median' ? `n=${find('vigil', n)?.timing.n}/${find('keepalived', n)?.timing.n}` : '');
  const S = 'scale: v2 advert_int 1, Master and Backup daemons (all their processes)';
  for (const n of [1, 100, 1000]) {
    both(S, `${n} inst Master CPU`, '%core', (r) => r.master.cpuPct, n);
    both(S, `${n} inst Backup CPU`, '%core', (r) => r.backup.cpuPct, n);
    both(S, `${n} inst Master RSS`, 'MiB', (r) => r.master.rssMiB, n);
    both(S, `${n} inst Backup RSS`, 'MiB', (r) => r.backup.rssMiB, n);
    both(S, `${n} inst converge after start`, 'ms', (r) => r.convergeMs, n, 1, 'start -> all in final state; floor ~ Master_Down_Interval 3.6 s');
  }
  rows.push(...fo.notify);
  const E = 'events: reload, 1000 instances, one priority changed (SIGHUP)';
  both(E, 'SIGHUP -> reload done (log)', 'ms', (r) => r.reload?.ms, 1000, 1, "vigil: 'reloaded; unchanged: ...'; keepalived: 'Reload finished'");
  both(E, 'transitions logged in 3 s after', 'count', (r) => r.reload?.transitions, 1000, 1, 'both daemons; 0 = nothing flapped');
  const vr = find('vigil', 1000)?.reload;
  rows.push({ section: E, figure: 'vigil: instances reported unchanged', unit: 'count', vigil: vr?.unchanged ?? null, keepalived: null, note: `updated: ${vr?.updated ?? '-'}` });

  printRows(rows);
  for (const n of notes) console.log(`note: ${n}`);
  const date = new Date().toISOString().slice(0, 10);
  const dir = join(root, 'bench/results');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${date}.json`);
  writeFileSync(
    file,
    `${JSON.stringify({ date: new Date().toISOString(), machine: { cpus: cpus().length, model: cpus()[0]?.model, node: process.version, keepalived: keepalivedVersion() }, trials, durationS: Math.round((Date.now() - started) / 1000), rows, notes, failover: fo.results, scale }, null, 1)}\n`,
  );
  console.log(`lab    ${Math.round((Date.now() - started) / 1000)} s; results in ${file}`);
  return file;
}
