// keepalived's vrrp_script / track_script: each script runs every `interval` seconds (the first
// run at once), a run longer than `timeout` is killed and counts as a failure, and `rise`/`fall`
// decide when it is healthy or failed (state.ts). Each tracking instance then gets a priority
// adjustment (non-zero weight) or a fault (weight 0), reported with the script's name as source.
//
// A script never overlaps itself: when a run is still going at the next tick, that tick is
// skipped (keepalived logs the same). Different scripts run concurrently.
// Scripts are checked once at start by keepalived's script security rules; a refused script is
// logged as an error and, like keepalived, no longer tracked (or held failed, `refused: fail`).

import { defaultScriptUser, definePlugin, prepareScript, scriptInvocation, securityViolation, type PluginContext, type ReadyScript, type ScriptCheck } from 'vigil/plugin';
import { configSchema, type TrackScriptConfig, type TrackedScript } from './config.ts';
import { effect, initialState, step, type ScriptState, type Status } from './state.ts';

type Ctx = PluginContext<TrackScriptConfig>;

export default definePlugin({
  apiVersion: 1,
  name: 'track-script',
  configSchema,
  setup(ctx) {
    const cfg = ctx.config;
    for (const note of cfg.notes) ctx.log.warn(note);
    const fallback = defaultScriptUser(cfg.script_user, cfg.enable_script_security);
    if (fallback.ok && fallback.warning && Object.values(cfg.scripts).some((s) => s.user === undefined)) ctx.log.warn(fallback.warning);

    const checks: ScriptCheck[] = [];
    const runners: Array<() => void> = [];
    for (const [name, sc] of Object.entries(cfg.scripts)) {
      const prepared = prepareScript(sc.line, sc, fallback, cfg.enable_script_security);
      for (const w of prepared.warnings) ctx.log.warn(`vrrp_script ${name}: ${w}`);
      if (prepared.check) checks.push(prepared.check);
      if (!prepared.ok) {
        ctx.log.error(`vrrp_script ${name} ('${sc.line}') disabled: ${prepared.error}; ${cfg.refused === 'fail' ? 'held failed' : 'not tracked'}`);
        report(ctx, name, sc, cfg.refused === 'fail' ? 'fail' : 'init');
        continue;
      }
      runners.push(tracker(ctx, name, sc, prepared));
    }
    const violation = securityViolation(checks, cfg.enable_script_security);
    if (violation) ctx.log.warn(violation);
    // every initial state is reported before the first run starts
    for (const start of runners) start();
  },
});

/** Tells the engine what `status` means for every instance tracking the script. */
function report(ctx: Ctx, name: string, sc: TrackedScript, status: Status): void {
  for (const t of sc.tracked_by) {
    const e = effect(status, t);
    if (t.weight === 0) ctx.setFault(t.instance, name, e.fault);
    else ctx.adjustPriority(t.instance, name, e.adjust);
  }
}

/** Reports the initial state and returns the function that starts the periodic runs. */
function tracker(ctx: Ctx, name: string, sc: TrackedScript, script: ReadyScript): () => void {
  let state: ScriptState = initialState(sc.rise, sc.init_fail);
  let running = false;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let lastExit: number | undefined;
  const timeoutMs = (sc.timeout ?? sc.interval) * 1000;
  report(ctx, name, sc, state.status);

  const runOnce = async (): Promise<void> => {
    const { argv, opts } = scriptInvocation(script, [], timeoutMs);
    const r = await ctx.run(argv, opts);
    if (stopped) return;
    for (const line of `${r.stdout}\n${r.stderr}`.split('\n')) if (line) ctx.log.debug(`vrrp_script ${name}: ${line}`);
    if (r.exitCode !== undefined && r.exitCode !== lastExit && !r.timedOut) {
      ctx.log.info(`Script \`${name}\` now returning ${r.exitCode}`);
      lastExit = r.exitCode;
    }
    const next = step(state, r.ok, sc.rise, sc.fall);
    state = next.state;
    if (!next.changed) return;
    const why = r.ok ? 'succeeded' : r.timedOut ? 'timed_out' : r.failedToStart ? `failed (could not start: ${r.stderr})` : r.signal ? `failed (due to signal ${r.signal})` : `failed (exited with status ${r.exitCode})`;
    ctx.log[r.ok ? 'info' : 'warn'](`VRRP_Script(${name}) ${why}`);
    report(ctx, name, sc, state.status);
  };

  const tick = (): void => {
    if (stopped) return;
    // the next tick counts from this one's start, as keepalived's timer does
    timer = setTimeout(tick, sc.interval * 1000);
    if (running) {
      ctx.log.info(`Track script ${name} is already running, expect idle - skipping run`);
      return;
    }
    running = true;
    runOnce()
      .catch((e: unknown) => ctx.log.error(`vrrp_script ${name}: ${String(e)}`))
      .finally(() => {
        running = false;
      });
  };

  ctx.onStop(() => {
    stopped = true;
    clearTimeout(timer);
  });
  return tick;
}
