// MISC_CHECK (keepalived check_misc.c): run misc_path, judge its exit status.
// - without misc_dynamic: 0 passes, anything else fails;
// - with misc_dynamic: 0 passes (and gives back any weight an earlier run set), 1 fails, and
//   2..255 passes and asks for the real server's weight to be status - 2.
// A run that outlives misc_timeout (the attempt's timeoutMs) is a failure, and its whole process
// group is killed: SIGTERM, then SIGKILL 2 s later as keepalived does (a script that traps TERM
// to clean up gets that long). The script is run as the notify scripts are: split without a
// shell unless the line asks for one, checked by keepalived's script-security rules (script-security.ts) on every run (a
// script made unsafe while the daemon runs is refused from then on), as its `user`, else
// global_defs script_user, else keepalived_script, else root. It runs in the probe worker, so
// spawning it costs the engine's loop nothing.

import { runCommand } from '../plugins/run.ts';
import { defaultScriptUser, invocation, prepareScript } from '../plugins/script-security.ts';
import type { MiscCheck, ProbeResult } from './checks.ts';
import { monoMs } from '../clock.ts';

/** check_misc.c: SIGTERM to the group at misc_timeout, SIGKILL 2 s after. */
const KILL_GRACE_MS = 2000;

export async function miscProbe(check: MiscCheck, signal?: AbortSignal): Promise<ProbeResult> {
  const started = monoMs();
  const ms = () => monoMs() - started;
  if (signal?.aborted) return { ok: false, error: 'aborted', ms: 0 };
  const prepared = prepareScript(check.command, { user: check.user, group: check.group }, defaultScriptUser(undefined, check.scriptSecurity), check.scriptSecurity);
  if (!prepared.ok) return { ok: false, error: `cannot run '${check.command}': ${prepared.error}`, ms: ms() };
  const { argv, opts } = invocation(prepared, [], check.timeoutMs);
  const r = await runCommand(argv, { ...opts, killGraceMs: KILL_GRACE_MS, ...(signal ? { signal } : {}) });
  if (signal?.aborted) return { ok: false, error: 'aborted', ms: ms() };
  if (r.failedToStart) return { ok: false, error: `cannot run '${check.command}': ${r.stderr}`, ms: ms() };
  if (r.timedOut) return { ok: false, error: `timed out after ${check.timeoutMs} ms`, ms: ms() };
  if (r.exitCode === undefined) return { ok: false, error: `killed by ${r.signal ?? 'a signal'}`, ms: ms() };
  const code = r.exitCode;
  if (code === 0) return { ok: true, ms: ms() };
  if (check.dynamic && code >= 2 && code <= 255) return { ok: true, weight: code - 2, ms: ms() };
  return { ok: false, error: `exit status ${code}`, ms: ms() };
}
