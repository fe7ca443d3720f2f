// `vigil -t` on the configured scripts: the same checks the daemon's plugins make when they start
// (script-security.ts: user, path search, access, execute permission, unsafe paths), reported as
// diagnostics at the script's line, so `-t` and the daemon agree: a script the daemon would
// disable is a warning here, with the daemon's own words. keepalived -t checks its scripts the
// same way.

import type { Diagnostic, PositionMap } from '../config/diagnostics.ts';
import type { NotifyScript, Config } from '../config/schema.ts';
import { defaultScriptUser, prepareScript, securityViolation, type ScriptCheck } from './script-security.ts';

interface ScriptRef {
  path: Array<string | number>;
  line: string;
  user?: string;
  group?: string;
}

const NOTIFY_KEYS = ['notify_master', 'notify_backup', 'notify_fault', 'notify_stop', 'notify', 'notify_master_rx_lower_pri'] as const;

function fromNotify(path: Array<string | number>, n: NotifyScript | undefined): ScriptRef[] {
  if (n === undefined) return [];
  return typeof n === 'string' ? [{ path, line: n }] : [{ path, line: n.script, user: n.user, ...(n.group !== undefined ? { group: n.group } : {}) }];
}

/** Every script line the config would run, with where it was written. */
export function configuredScripts(config: Config): ScriptRef[] {
  const out: ScriptRef[] = [];
  for (const [name, s] of Object.entries(config.vrrp_script)) {
    out.push({ path: ['vrrp_script', name, 'script'], line: s.script, ...(s.user !== undefined ? { user: s.user } : {}), ...(s.group !== undefined ? { group: s.group } : {}) });
  }
  for (const section of ['vrrp_instance', 'vrrp_sync_group'] as const) {
    for (const [name, o] of Object.entries(config[section])) for (const k of NOTIFY_KEYS) out.push(...fromNotify([section, name, k], o[k]));
  }
  config.virtual_server.forEach((vs, i) => {
    out.push(...fromNotify(['virtual_server', i, 'quorum_up'], vs.quorum_up), ...fromNotify(['virtual_server', i, 'quorum_down'], vs.quorum_down));
    vs.real_server.forEach((rs, j) => {
      out.push(...fromNotify(['virtual_server', i, 'real_server', j, 'notify_up'], rs.notify_up), ...fromNotify(['virtual_server', i, 'real_server', j, 'notify_down'], rs.notify_down));
      // MISC_CHECK scripts run under the same rules (script-security.ts), as in keepalived
      rs.misc_check.forEach((c, k) => {
        out.push({ path: ['virtual_server', i, 'real_server', j, 'misc_check', k, 'misc_path'], line: c.misc_path, ...(c.user !== undefined ? { user: c.user } : {}), ...(c.group !== undefined ? { group: c.group } : {}) });
      });
    });
  });
  return out;
}

export function scriptDiagnostics(config: Config, positions: PositionMap | undefined, file: string): Diagnostic[] {
  const out: Diagnostic[] = [];
  const at = (path: Array<string | number>, message: string) =>
    out.push({ ...(positions?.get(path) ?? { file, line: 1, col: 1 }), severity: 'warning', field: path.join('.'), message });
  const scripts = configuredScripts(config);
  if (scripts.length === 0) return out;
  const ess = config.global_defs.enable_script_security;
  const fallback = defaultScriptUser(config.global_defs.script_user, ess);
  if (fallback.ok && fallback.warning) at(['global_defs', 'script_user'], fallback.warning);
  const checks: ScriptCheck[] = [];
  for (const s of scripts) {
    const p = prepareScript(s.line, { user: s.user, group: s.group }, fallback, ess);
    if (p.check) checks.push(p.check);
    for (const w of p.warnings) at(s.path, w);
    if (!p.ok) at(s.path, `${p.error}; the daemon will not run it`);
  }
  const violation = securityViolation(checks, ess);
  if (violation) at(['global_defs', 'enable_script_security'], violation);
  return out;
}
