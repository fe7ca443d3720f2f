// keepalived's notify scripts. On an instance's transition to MASTER, BACKUP or FAULT (and STOP:
// to initialize at shutdown) it runs that state's notify_<state> script, then the generic
// `notify` script with four more arguments: INSTANCE, the instance's name, the state, the
// effective priority. A sync group's transitions do the same with GROUP and priority 0, as
// keepalived 2.2 does (vrrp_notify.c).
//
// Differences from keepalived, each on purpose:
// - keepalived forks the scripts and never waits (only STOP scripts get killed after 1 s). Here
//   one instance's (or group's) scripts run one after another: the generic one after the
//   specific one, and a later transition's after an earlier one's have finished (the runtime
//   queues handlers per instance), so a script never sees the states out of order. Hence the
//   timeout, which keepalived lacks.
// - Output goes to the log (keepalived sends it to /dev/null).
// Scripts are checked once at start by keepalived's script security rules; a refused script is
// logged as an error and never run.

import { definePlugin, type PluginContext } from '../../src/plugins/api.ts';
import type { EventOf } from '../../src/bus/events.ts';
import { defaultScriptUser, invocation, prepareScript, securityViolation, type PreparedScript } from '../../src/plugins/script-security.ts';
import { schema, type NotifyScriptConfig, type ScriptSet } from './config.ts';

type State = 'MASTER' | 'BACKUP' | 'FAULT' | 'STOP';
type Kind = 'INSTANCE' | 'GROUP';
const KEY: Record<State, keyof ScriptSet> = { MASTER: 'master', BACKUP: 'backup', FAULT: 'fault', STOP: 'stop' };

/** keepalived's state names; initialize counts only at shutdown (STOP). */
export function notifyState(to: string, reason: string): State | undefined {
  switch (to) {
    case 'master':
      return 'MASTER';
    case 'backup':
      return 'BACKUP';
    case 'fault':
      return 'FAULT';
    case 'initialize':
      return reason === 'shutdown' ? 'STOP' : undefined;
    default:
      return undefined;
  }
}

const nowMicros = (): number => Number(process.hrtime.bigint() / 1000n);

export default definePlugin({
  name: 'notify-script',
  configSchema: schema,
  setup(ctx) {
    const cfg = ctx.config;
    const prepared = prepareAll(ctx, cfg);

    const run = async (kind: Kind, name: string, state: State, priority: number, eventMono: number): Promise<void> => {
      const scripts = prepared.get(`${kind}:${name}`);
      if (!scripts) return;
      const timeoutMs = (state === 'STOP' ? cfg.stop_timeout : cfg.timeout) * 1000;
      const specific = scripts[KEY[state]];
      if (specific?.ok) await runOne(ctx, `notify_${KEY[state]} for ${name}`, specific, [], timeoutMs, eventMono);
      const generic = scripts.notify;
      if (generic?.ok) await runOne(ctx, `notify for ${name}`, generic, [kind, name, state, String(priority)], timeoutMs, eventMono);
    };

    ctx.on('instance.transition', (e: EventOf<'instance.transition'>) => {
      const state = notifyState(e.to, e.reason);
      return state ? run('INSTANCE', e.instance, state, e.priority, e.mono) : undefined;
    });
    ctx.on('instance.reasserted', (e: EventOf<'instance.reasserted'>) => {
      const script = prepared.get(`INSTANCE:${e.instance}`)?.rx_lower_pri;
      if (!script?.ok) return undefined;
      return runOne(ctx, `notify_master_rx_lower_pri for ${e.instance}`, script, [], cfg.timeout * 1000, e.mono);
    });
    ctx.on('group.transition', (e: EventOf<'group.transition'>) => {
      const state = notifyState(e.to, e.reason);
      // keepalived reports a group's priority as 0
      return state ? run('GROUP', e.group, state, 0, e.mono) : undefined;
    });
  },
});

type PreparedSet = Partial<Record<keyof ScriptSet, PreparedScript>>;

/** Every configured script, split, given its user and checked, with keepalived's messages. */
function prepareAll(ctx: PluginContext<NotifyScriptConfig>, cfg: NotifyScriptConfig): Map<string, PreparedSet> {
  const fallback = defaultScriptUser(cfg.script_user, cfg.enable_script_security);
  const out = new Map<string, PreparedSet>();
  const all: PreparedScript[] = [];
  let fallbackUsed = false;
  const sets: Array<[Kind, string, ScriptSet]> = [
    ...Object.entries(cfg.instances).map(([n, s]): [Kind, string, ScriptSet] => ['INSTANCE', n, s]),
    ...Object.entries(cfg.groups).map(([n, s]): [Kind, string, ScriptSet] => ['GROUP', n, s]),
  ];
  for (const [kind, name, set] of sets) {
    const p: PreparedSet = {};
    for (const key of Object.keys(set) as Array<keyof ScriptSet>) {
      const s = set[key];
      if (!s) continue;
      fallbackUsed ||= s.user === undefined;
      const what = `${key === 'notify' ? 'notify' : key === 'rx_lower_pri' ? 'notify_master_rx_lower_pri' : `notify_${key}`} of ${kind === 'GROUP' ? 'sync group' : 'instance'} ${name}`;
      const r = prepareScript(s.line, s, fallback, cfg.enable_script_security);
      for (const w of r.warnings) ctx.log.warn(`${what}: ${w}`);
      if (!r.ok) ctx.log.error(`${what} ('${s.line}') disabled: ${r.error}`);
      p[key] = r;
      all.push(r);
    }
    out.set(`${kind}:${name}`, p);
  }
  if (fallbackUsed && fallback.ok && fallback.warning) ctx.log.warn(fallback.warning);
  const violation = securityViolation(
    all.flatMap((r) => (r.check ? [r.check] : [])),
    cfg.enable_script_security,
  );
  if (violation) ctx.log.warn(violation);
  return out;
}

async function runOne(
  ctx: PluginContext<NotifyScriptConfig>,
  what: string,
  script: Extract<PreparedScript, { ok: true }>,
  extra: string[],
  timeoutMs: number,
  eventMono: number,
): Promise<void> {
  const { argv, opts } = invocation(script, extra, timeoutMs);
  ctx.log.debug(`${what}: starting ${JSON.stringify(argv)} ${((nowMicros() - eventMono) / 1000).toFixed(1)} ms after the event`);
  const r = await ctx.run(argv, opts);
  for (const line of r.stdout.split('\n')) if (line) ctx.log.info(`${what}: ${line}`);
  for (const line of r.stderr.split('\n')) if (line && !r.failedToStart) ctx.log.warn(`${what}: ${line}`);
  const took = `${Math.round(r.durationMs)} ms`;
  if (r.failedToStart) ctx.log.error(`${what}: could not start '${script.line}': ${r.stderr}`);
  else if (r.timedOut) ctx.log.error(`${what}: killed after ${timeoutMs / 1000} s (timeout)`);
  else if (!r.ok) ctx.log.warn(`${what}: ${r.signal ? `killed by ${r.signal}` : `exit status ${r.exitCode}`} after ${took}`);
  else ctx.log.info(`${what}: done in ${took}`);
}
