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
//
// The load balancer's scripts, as keepalived's checker runs them (ipwrapper.c): a virtual
// server's quorum_up / quorum_down on virtualserver.quorum (up / down), a real server's
// notify_up / notify_down on realserver.up / realserver.down (an inhibited server is down too),
// each run as written with no argument added (keepalived adds none), as its own user, else
// script_user, else keepalived_script, else root. vigil adds the why in the environment, which
// keepalived's scripts never read and a new script can: VIGIL_VIRTUAL_SERVER, VIGIL_REAL_SERVER,
// VIGIL_STATE (UP or DOWN) and VIGIL_REASON (the checker's words: "HTTP_GET 198.51.100.11:80:
// status 503 not in 200-299"). Events of one virtual server share an ordering key, so its
// scripts run one after another in the order of the events. At shutdown (omega: the balancer
// says which real servers and quorums go down) they get stop_timeout, keepalived's 1 s.

import {
  defaultScriptUser,
  definePlugin,
  monoMicros,
  prepareScript,
  scriptInvocation,
  securityViolation,
  type EventOf,
  type PluginContext,
  type PreparedScript,
  type ReadyScript,
} from 'vigil/plugin';
import { keepalivedState, type KeepalivedState } from '../_shared/keepalived-state.ts';
import { configSchema, type NotifyScriptConfig, type RealServerScripts, type ScriptSet } from './config.ts';

type Kind = 'INSTANCE' | 'GROUP';
const KEY: Record<KeepalivedState, keyof ScriptSet> = { MASTER: 'master', BACKUP: 'backup', FAULT: 'fault', STOP: 'stop' };

export default definePlugin({
  apiVersion: 1,
  name: 'notify-script',
  configSchema,
  setup(ctx) {
    const cfg = ctx.config;
    const { prepared, lvs } = prepareAll(ctx, cfg);

    const run = async (kind: Kind, name: string, state: KeepalivedState, priority: number, eventMono: number): Promise<void> => {
      const scripts = prepared.get(`${kind}:${name}`);
      if (!scripts) return;
      const timeoutMs = (state === 'STOP' ? cfg.stop_timeout : cfg.timeout) * 1000;
      const specific = scripts[KEY[state]];
      if (specific?.ok) await runOne(ctx, `notify_${KEY[state]} for ${name}`, specific, [], timeoutMs, eventMono);
      const generic = scripts.notify;
      if (generic?.ok) await runOne(ctx, `notify for ${name}`, generic, [kind, name, state, String(priority)], timeoutMs, eventMono);
    };

    ctx.on('instance.transition', (e: EventOf<'instance.transition'>) => {
      const state = keepalivedState(e.to, e.reason);
      return state ? run('INSTANCE', e.instance, state, e.priority, e.mono) : undefined;
    });
    ctx.on('instance.reasserted', (e: EventOf<'instance.reasserted'>) => {
      const script = prepared.get(`INSTANCE:${e.instance}`)?.rx_lower_pri;
      if (!script?.ok) return undefined;
      return runOne(ctx, `notify_master_rx_lower_pri for ${e.instance}`, script, [], cfg.timeout * 1000, e.mono);
    });
    ctx.on('group.transition', (e: EventOf<'group.transition'>) => {
      const state = keepalivedState(e.to, e.reason);
      // keepalived reports a group's priority as 0
      return state ? run('GROUP', e.group, state, 0, e.mono) : undefined;
    });

    if (lvs.size === 0) return;
    // Virtual servers going down at shutdown (omega): their scripts get stop_timeout.
    const stopping = new Set<string>();
    const lvsTimeout = (vs: string) => (stopping.has(vs) ? cfg.stop_timeout : cfg.timeout) * 1000;
    const realServer = (e: EventOf<'realserver.up'> | EventOf<'realserver.down'>, key: keyof RealServerScripts): Promise<void> | undefined => {
      const script = lvs.get(e.virtualServer)?.realServers.get(e.realServer)?.[key];
      if (!script?.ok) return undefined;
      const env = { VIGIL_VIRTUAL_SERVER: e.virtualServer, VIGIL_REAL_SERVER: e.realServer, VIGIL_STATE: key === 'notify_up' ? 'UP' : 'DOWN', VIGIL_REASON: e.reason };
      return runOne(ctx, `${key} for ${e.realServer} in VS ${e.virtualServer}`, script, [], lvsTimeout(e.virtualServer), e.mono, env);
    };
    ctx.on('realserver.up', (e: EventOf<'realserver.up'>) => {
      stopping.delete(e.virtualServer);
      return realServer(e, 'notify_up');
    });
    ctx.on('realserver.down', (e: EventOf<'realserver.down'>) => {
      if (e.reason === 'shutdown') stopping.add(e.virtualServer);
      return realServer(e, 'notify_down');
    });
    ctx.on('virtualserver.quorum', (e: EventOf<'virtualserver.quorum'>) => {
      if (e.up) stopping.delete(e.virtualServer);
      const key = e.up ? 'quorum_up' : 'quorum_down';
      const script = lvs.get(e.virtualServer)?.[key];
      if (!script?.ok) return undefined;
      return runOne(ctx, `${key} for VS ${e.virtualServer}`, script, [], lvsTimeout(e.virtualServer), e.mono);
    });
  },
});

type PreparedSet = Partial<Record<keyof ScriptSet, PreparedScript>>;
type PreparedRealServer = Partial<Record<keyof RealServerScripts, PreparedScript>>;
interface PreparedVirtualServer {
  quorum_up?: PreparedScript;
  quorum_down?: PreparedScript;
  realServers: Map<string, PreparedRealServer>;
}

/** Every configured script, split, given its user and checked, with keepalived's messages. */
function prepareAll(
  ctx: PluginContext<NotifyScriptConfig>,
  cfg: NotifyScriptConfig,
): { prepared: Map<string, PreparedSet>; lvs: Map<string, PreparedVirtualServer> } {
  const fallback = defaultScriptUser(cfg.script_user, cfg.enable_script_security);
  const out = new Map<string, PreparedSet>();
  const all: PreparedScript[] = [];
  let fallbackUsed = false;
  const prepare = (what: string, s: { line: string; user?: string | undefined; group?: string | undefined }): PreparedScript => {
    fallbackUsed ||= s.user === undefined;
    const r = prepareScript(s.line, s, fallback, cfg.enable_script_security);
    for (const w of r.warnings) ctx.log.warn(`${what}: ${w}`);
    if (!r.ok) ctx.log.error(`${what} ('${s.line}') disabled: ${r.error}`);
    all.push(r);
    return r;
  };
  const sets: Array<[Kind, string, ScriptSet]> = [
    ...Object.entries(cfg.instances).map(([n, s]): [Kind, string, ScriptSet] => ['INSTANCE', n, s]),
    ...Object.entries(cfg.groups).map(([n, s]): [Kind, string, ScriptSet] => ['GROUP', n, s]),
  ];
  for (const [kind, name, set] of sets) {
    const p: PreparedSet = {};
    for (const key of Object.keys(set) as Array<keyof ScriptSet>) {
      const s = set[key];
      if (!s) continue;
      const what = `${key === 'notify' ? 'notify' : key === 'rx_lower_pri' ? 'notify_master_rx_lower_pri' : `notify_${key}`} of ${kind === 'GROUP' ? 'sync group' : 'instance'} ${name}`;
      p[key] = prepare(what, s);
    }
    out.set(`${kind}:${name}`, p);
  }
  const lvs = new Map<string, PreparedVirtualServer>();
  for (const [vsName, vs] of Object.entries(cfg.virtual_servers)) {
    const pv: PreparedVirtualServer = { realServers: new Map() };
    if (vs.quorum_up) pv.quorum_up = prepare(`quorum_up of virtual server ${vsName}`, vs.quorum_up);
    if (vs.quorum_down) pv.quorum_down = prepare(`quorum_down of virtual server ${vsName}`, vs.quorum_down);
    for (const [rsName, rs] of Object.entries(vs.real_servers)) {
      const pr: PreparedRealServer = {};
      if (rs.notify_up) pr.notify_up = prepare(`notify_up of real server ${rsName} in virtual server ${vsName}`, rs.notify_up);
      if (rs.notify_down) pr.notify_down = prepare(`notify_down of real server ${rsName} in virtual server ${vsName}`, rs.notify_down);
      pv.realServers.set(rsName, pr);
    }
    lvs.set(vsName, pv);
  }
  if (fallbackUsed && fallback.ok && fallback.warning) ctx.log.warn(fallback.warning);
  const violation = securityViolation(
    all.flatMap((r) => (r.check ? [r.check] : [])),
    cfg.enable_script_security,
  );
  if (violation) ctx.log.warn(violation);
  return { prepared: out, lvs };
}

async function runOne(
  ctx: PluginContext<NotifyScriptConfig>,
  what: string,
  script: ReadyScript,
  extra: string[],
  timeoutMs: number,
  eventMono: number,
  env?: Record<string, string>,
): Promise<void> {
  const { argv, opts } = scriptInvocation(script, extra, timeoutMs);
  if (env) opts.env = env;
  ctx.log.debug(`${what}: starting ${JSON.stringify(argv)} ${((monoMicros() - eventMono) / 1000).toFixed(1)} ms after the event`);
  const r = await ctx.run(argv, opts);
  for (const line of r.stdout.split('\n')) if (line) ctx.log.info(`${what}: ${line}`);
  for (const line of r.stderr.split('\n')) if (line && !r.failedToStart) ctx.log.warn(`${what}: ${line}`);
  const took = `${Math.round(r.durationMs)} ms`;
  if (r.failedToStart) ctx.log.error(`${what}: could not start '${script.line}': ${r.stderr}`);
  else if (r.timedOut) ctx.log.error(`${what}: killed after ${timeoutMs / 1000} s (timeout)`);
  else if (!r.ok) ctx.log.warn(`${what}: ${r.signal ? `killed by ${r.signal}` : `exit status ${r.exitCode}`} after ${took}`);
  else ctx.log.info(`${what}: done in ${took}`);
}
