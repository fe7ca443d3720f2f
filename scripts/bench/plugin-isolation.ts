// What running a user plugin as an unprivileged user in a process of its own
// (global_defs.plugin_user) costs against the default worker thread: memory of the whole
// process tree (PSS from smaps_rollup, and RSS) and the round trip of an event to the plugin
// and its priority adjustment back to the engine. Each mode runs in a fresh process (this
// file with --runner MODE) holding a real plugin host, so the memory is that mode's alone.
//
//   node --import tsx scripts/bench/plugin-isolation.ts      (root: the process mode runs as nobody)
import { spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { EventBus } from '../../src/bus/bus.ts';
import { PluginHost, type PluginSpec } from '../../src/plugins/host.ts';

type Mode = 'none' | 'worker' | 'process';

const ECHO = `
import { definePlugin } from 'vigil/plugin';
import { z } from 'zod';
export default definePlugin({
  name: 'echo',
  configSchema: z.object({}),
  setup(ctx) {
    ctx.on('instance.transition', (e) => ctx.adjustPriority(e.instance, 'echo', e.priority));
  },
});
`;

const pct = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;

/** In the runner: a host with the echo plugin in `mode`; prints the round trips, then waits to
 * be measured. */
async function runner(mode: Mode): Promise<void> {
  const dir = mkdtempSync('/tmp/vigil-bench-iso-');
  chmodSync(dir, 0o755);
  writeFileSync(join(dir, 'echo.ts'), ECHO, { mode: 0o644 });
  const bus = new EventBus();
  let answered: ((w: number) => void) | undefined;
  const quiet = { debug: () => undefined, info: () => undefined, warn: (m: string) => console.error(m), error: (m: string) => console.error(m) };
  const host = new PluginHost({ bus, log: quiet, onAdjust: (_p, _i, _s, w) => answered?.(w), onFault: () => undefined, onRemoved: () => undefined });
  const spec: PluginSpec = { id: 'echo', entry: join(dir, 'echo.ts'), config: undefined, origin: 'user', checkFiles: true, ...(mode === 'process' ? { runAs: { user: 'nobody' } } : {}) };
  const n = 500;
  const lat: number[] = [];
  if (mode !== 'none') {
    host.apply([spec], [], {});
    await host.ready(20_000);
    for (let i = 1; i <= n; i++) {
      const t = performance.now();
      const back = new Promise<number>((r) => (answered = r));
      bus.publish({ type: 'instance.transition', instance: 'VI_1', vrid: 1, interface: 'eth0', from: 'backup', to: 'master', reason: 'master-down-timer', priority: i });
      await back;
      lat.push(performance.now() - t);
    }
  }
  // let esbuild's compiler process go (compile.ts lets it go 2 s after the last compile)
  await new Promise((r) => setTimeout(r, 3000));
  lat.sort((a, b) => a - b);
  process.stdout.write(JSON.stringify({ mode, n: lat.length, p50: pct(lat, 50), p99: pct(lat, 99) }) + '\n');
  await new Promise<void>((r) => process.stdin.once('end', () => r()).resume());
  await host.stop();
  rmSync(dir, { recursive: true, force: true });
}

function treeOf(pid: number): number[] {
  const kids = new Map<number, number[]>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      kids.set(ppid, [...(kids.get(ppid) ?? []), Number(name)]);
    } catch {
      // gone
    }
  }
  const out = [pid];
  for (let i = 0; i < out.length; i++) out.push(...(kids.get(out[i] as number) ?? []));
  return out;
}

function memKiB(pids: number[]): { pss: number; rss: number } {
  let pss = 0;
  let rss = 0;
  for (const pid of pids) {
    try {
      const t = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
      pss += Number(/^Pss:\s+(\d+)/m.exec(t)?.[1] ?? 0);
      rss += Number(/^Rss:\s+(\d+)/m.exec(t)?.[1] ?? 0);
    } catch {
      // gone
    }
  }
  return { pss, rss };
}

async function measure(mode: Mode): Promise<{ mode: Mode; n: number; p50: number; p99: number; pss: number; rss: number; processes: number }> {
  const self = fileURLToPath(import.meta.url);
  const child = spawn(process.execPath, ['--import', 'tsx', self, '--runner', mode], { stdio: ['pipe', 'pipe', 'inherit'] });
  const line = await new Promise<string>((resolve, reject) => {
    let buf = '';
    child.stdout.on('data', (d: Buffer) => {
      buf += d.toString();
      if (buf.includes('\n')) resolve(buf.split('\n')[0] as string);
    });
    child.once('exit', (c) => reject(new Error(`runner ${mode} exited ${c}`)));
  });
  const pids = treeOf(child.pid as number);
  const mem = memKiB(pids);
  child.stdin.end();
  await new Promise((r) => child.once('exit', r));
  return { ...(JSON.parse(line) as { mode: Mode; n: number; p50: number; p99: number }), pss: mem.pss / 1024, rss: mem.rss / 1024, processes: pids.length };
}

export async function benchPluginIsolation(): Promise<void> {
  const r: Record<string, Awaited<ReturnType<typeof measure>>> = {};
  for (const mode of ['none', 'worker', 'process'] as const) r[mode] = await measure(mode);
  const base = r.none as Awaited<ReturnType<typeof measure>>;
  for (const mode of ['worker', 'process'] as const) {
    const m = r[mode] as Awaited<ReturnType<typeof measure>>;
    console.log(
      `plugin ${mode === 'worker' ? 'worker thread (root)   ' : 'own process (as nobody)'}: event -> adjustment round trip (${m.n}) p50 ${m.p50.toFixed(3)} ms p99 ${m.p99.toFixed(3)} ms; ` +
        `memory of the host's tree ${m.pss.toFixed(1)} MiB PSS / ${m.rss.toFixed(1)} MiB RSS in ${m.processes} process(es), ` +
        `+${(m.pss - base.pss).toFixed(1)} MiB PSS / +${(m.rss - base.rss).toFixed(1)} MiB RSS over no plugin`,
    );
  }
}

const argv = process.argv.slice(2);
if (argv[0] === '--runner') await runner(argv[1] as Mode);
else if (process.argv[1] === fileURLToPath(import.meta.url)) await benchPluginIsolation();
