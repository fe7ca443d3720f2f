// Helpers of the public plugin API (re-exported by `vigil/plugin`, sdk.ts) beyond what the
// context offers: what the built-in plugins need from vigil, offered to every plugin on the same
// terms (DESIGN.md: first-party plugins get no private door). Each name here is public and
// stable; the modules behind it are not, so a plugin imports these, never src/.
//
// - keepalived's script security: who runs a configured script and whether it may run at all
//   (prepareScript), the argv and options to hand to ctx.run (scriptInvocation), keepalived's
//   warnings (securityViolation);
// - user lookup (lookupUser), cached, as ctx.run resolves `user`/`group`;
// - trust of files a root daemon opens for a plugin (dirProblem, writableByOthers, formatMode);
// - keepalived's track_file reading (readTrackFile, parseTrackValue, trackStatus);
// - the one monotonic clock (monoMicros, monoMs), on which events' `mono` is stamped.
//
// Event types (EventOf, VigilEvent, InstanceTransition, ...) and the context's come from api.ts.

import { octal } from '../config/file-trust.ts';
import type { RunOptions } from './api.ts';
import { lookupUser as lookupUserIds, type UserIds } from './run.ts';
import { invocation, type PreparedScript } from './script-security.ts';

// --- the monotonic clock -------------------------------------------------------------------

export { monoMicros, monoMs } from '../clock.ts';

// --- running configured scripts under keepalived's script security ---------------------------
//
// Checked once, when the plugin starts (keepalived: at config load), then run as often as needed:
//
//   const fallback = defaultScriptUser(cfg.script_user, cfg.enable_script_security);
//   const script = prepareScript(cfg.check, {}, fallback, cfg.enable_script_security);
//   for (const w of script.warnings) ctx.log.warn(w);
//   if (!script.ok) ctx.log.error(`'${script.line}' disabled: ${script.error}`);
//   else {
//     const { argv, opts } = scriptInvocation(script, [], 5000);
//     const result = await ctx.run(argv, opts);
//   }

export { defaultScriptUser, prepareScript, securityViolation } from './script-security.ts';
export type { PreparedScript, ScriptCheck, ScriptUser, UserResult } from './script-security.ts';

/** A script that passed the checks of {@link prepareScript} (`ok: true`): ready to run. */
export type ReadyScript = Extract<PreparedScript, { ok: true }>;

/**
 * The argv and run options for `ctx.run` that run a checked script as keepalived would: as its
 * user and group, through /bin/sh when keepalived would hand it to a shell (a file without #!,
 * a `</path` test), with `extra` arguments appended (a notify script's INSTANCE NAME STATE
 * PRIORITY) and the given timeout.
 *
 * ```ts
 * const { argv, opts } = scriptInvocation(script, [], 5000);
 * const result = await ctx.run(argv, opts);
 * ```
 */
export function scriptInvocation(script: ReadyScript, extra: readonly string[], timeoutMs: number): { argv: string[]; opts: RunOptions } {
  return invocation(script, extra, timeoutMs);
}

// --- users ---------------------------------------------------------------------------------

export type { UserIds };

/**
 * uid and gid of a user (name or number) and, if given, of a group instead of the user's
 * primary one, from the system's databases (getent: files, LDAP, sssd alike); undefined when
 * either does not exist. Answers are cached for a minute and refreshed in the background, so a
 * plugin may call it on every run of a script.
 */
export function lookupUser(user: string, group?: string): UserIds | undefined {
  return lookupUserIds(user, group);
}

// --- files a root daemon opens for a plugin ------------------------------------------------

export { dirProblem, writableByOthers } from '../config/file-trust.ts';
export type { DirProblem } from '../config/file-trust.ts';

/** A file mode's permission bits as four octal digits, as chmod takes them: `0644`. */
export function formatMode(mode: number): string {
  return octal(mode);
}

// --- keepalived's track_file values --------------------------------------------------------

export { parseTrackValue, readTrackFile, trackStatus } from './track-value.ts';
export type { FileReading } from './track-value.ts';
