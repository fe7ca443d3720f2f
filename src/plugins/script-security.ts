// Who runs a configured script, and whether it may run at all: keepalived 2.2's rules
// (lib/notify.c: get_default_script_user, find_path, check_script_secure, check_security), so a
// keepalived.conf that keepalived refuses to run a script from is refused here too, with the
// same reasons in the log. The checks run once, when a plugin starts (keepalived: at config
// load), not before every run.
//
// - User: a script's own user (`user` in vrrp_script, the words after a notify line); else
//   global_defs script_user; else `keepalived_script` if that user exists; else the daemon's own
//   user (root) with a warning, or, under enable_script_security, no user at all: every script
//   without its own user is then disabled.
// - A bare name (no /) is searched in PATH, with a warning to give the full path.
// - The script must resolve (realpath) and be executable by its user, else it is disabled.
// - When the script runs as root (uid or gid 0) or is set-uid/set-gid root, every component of
//   its path, from / to the file, must be owned by root and not writable by group (unless the
//   group is root) or others; a directory with the sticky bit (like /tmp) may be. A violation
//   is logged as unsafe; under enable_script_security the script is disabled.
// - A file with neither #! nor an ELF header is run by /bin/sh, as keepalived (with libmagic)
//   hands it to system(); a line starting `</path` is a shell redirection test, run by /bin/sh
//   unchecked.
//
// Not like keepalived: keepalived resolves the path and tests execute permission with its
// effective uid switched to the script user; a Node worker cannot switch its uid, so directory
// search permissions are those of the daemon (root) and only the file's own mode bits are
// checked against the script user.

import { closeSync, lstatSync, openSync, readSync, realpathSync, statSync, type Stats } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import type { RunOptions } from './api.ts';
import { shellQuote, splitCommandLine } from './command-line.ts';
import { lookupUser, type UserIds } from './run.ts';
import { parseUserWords } from '../config/user-words.ts';

/** The user a script runs as: `user`/`group` are passed on to ctx.run; none means the daemon's
 * own user. */
export interface ScriptUser extends UserIds {
  user?: string;
  group?: string;
}

export type UserResult = { ok: true; who: ScriptUser; warning?: string } | { ok: false; error: string };

export type Lookup = (user: string, group?: string) => UserIds | undefined;

const DEFAULT_USER = 'keepalived_script';

export { parseUserWords };

/** The default user for scripts that name none (global_defs script_user, else keepalived_script,
 * else the daemon's own). */
export function defaultScriptUser(scriptUser: string | undefined, enableScriptSecurity: boolean, lookup: Lookup = lookupUser): UserResult {
  if (scriptUser !== undefined) {
    const words = parseUserWords(scriptUser);
    const ids = words && lookup(words.user, words.group);
    if (!words || !ids) return { ok: false, error: `script_user '${scriptUser}' does not exist; scripts without their own user are disabled` };
    return { ok: true, who: { ...words, ...ids } };
  }
  const ids = lookup(DEFAULT_USER);
  if (ids) return { ok: true, who: { user: DEFAULT_USER, ...ids } };
  if (enableScriptSecurity) {
    return { ok: false, error: `default script user ${DEFAULT_USER} does not exist and enable_script_security is set; scripts without their own user are disabled (set global_defs script_user)` };
  }
  const uid = process.geteuid?.() ?? 0;
  const gid = process.getegid?.() ?? 0;
  return { ok: true, who: { uid, gid }, warning: `user ${DEFAULT_USER} does not exist: scripts without their own user run as uid ${uid} (set global_defs script_user)` };
}

/** A script's user: its own if it names one, else the default. */
export function scriptUser(own: { user?: string | undefined; group?: string | undefined }, fallback: UserResult, lookup: Lookup = lookupUser): UserResult {
  if (own.user === undefined) return fallback;
  const ids = lookup(own.user, own.group);
  if (!ids) return { ok: false, error: `user ${own.user}${own.group ? `:${own.group}` : ''} does not exist` };
  return { ok: true, who: { user: own.user, ...(own.group ? { group: own.group } : {}), ...ids } };
}

export interface ScriptCheck {
  /** May run. */
  ok: boolean;
  /** argv with argv[0] resolved (PATH search, realpath). */
  argv: string[];
  /** Run by /bin/sh (see the top of this file). */
  shell: boolean;
  /** Unsafe permissions found (a warning unless enable_script_security). */
  insecure: boolean;
  /** Warnings to log, even when it may run. */
  warnings: string[];
  /** Why it is disabled. */
  error?: string;
}

export function checkScript(argv: readonly string[], who: UserIds, enableScriptSecurity: boolean, pathEnv: string = process.env.PATH ?? '/bin:/usr/bin'): ScriptCheck {
  const out: ScriptCheck = { ok: false, argv: [...argv], shell: false, insecure: false, warnings: [] };
  const first = argv[0];
  if (!first) return { ...out, error: 'empty command' };
  if (/^<[ \t]*\//.test(first)) return { ...out, ok: true, shell: true };

  let file = first;
  if (!file.includes('/')) {
    const found = searchPath(file, who, pathEnv);
    if (typeof found !== 'string') {
      return { ...out, error: found.eacces ? `permissions failure for script ${file} in path - disabling` : `cannot find script ${file} in path - disabling` };
    }
    out.warnings.push(`script '${file}' resolved by path search to '${found}'; please specify the full path`);
    file = found;
  }

  let real: string;
  try {
    real = realpathSync(file);
  } catch (e) {
    return { ...out, error: `script ${file} cannot be accessed - ${(e as NodeJS.ErrnoException).code ?? String(e)} - disabling` };
  }
  // keepalived runs the resolved path but keeps the name the user gave, since some programs
  // behave by the name they are called by; the target itself is then checked as well
  let realFile: string | undefined;
  if (file !== real && basename(file) !== basename(real)) {
    const named = join(dirname(real), basename(file));
    const a = statOrUndefined(real);
    const b = statOrUndefined(named);
    if (a && (!b || a.dev !== b.dev || a.ino !== b.ino)) {
      file = real;
    } else {
      realFile = real;
      file = named;
    }
  } else {
    file = real;
  }
  out.argv[0] = file;

  const st = statOrUndefined(realFile ?? file);
  if (!st) return { ...out, error: `unable to access script ${file} - disabling` };
  if (!st.isFile() || !isExecutable(st, who.uid, who.gid)) {
    return { ...out, error: `script '${file}' is not executable for uid:gid ${who.uid}:${who.gid} - disabling` };
  }
  if (!hasInterpreterHeader(realFile ?? file)) {
    out.shell = true;
    out.warnings.push(`please add a #! shebang to script ${file}; it is run by /bin/sh`);
  }

  const needsProtection =
    who.uid === 0 || who.gid === 0 || (st.uid === 0 && (st.mode & 0o100) !== 0 && (st.mode & 0o4000) !== 0) || (st.gid === 0 && (st.mode & 0o010) !== 0 && (st.mode & 0o2000) !== 0);
  if (needsProtection) {
    for (const p of realFile ? [file, realFile] : [file]) {
      const problem = pathProblem(p);
      if (!problem) continue;
      if (problem.kind === 'type') return { ...out, error: problem.message };
      out.insecure = true;
      if (enableScriptSecurity) return { ...out, error: `${problem.message} - disabling` };
      out.warnings.push(problem.message);
      break;
    }
  }
  return { ...out, ok: true };
}

/** keepalived's is_executable(): root needs any x bit; otherwise the bits of owner, group or
 * others, whichever class the user falls in. */
export function isExecutable(st: Pick<Stats, 'mode' | 'uid' | 'gid'>, uid: number, gid: number): boolean {
  if (uid === 0 && (st.mode & 0o111) !== 0) return true;
  if (uid === st.uid) return (st.mode & 0o100) !== 0;
  return gid === st.gid ? (st.mode & 0o010) !== 0 : (st.mode & 0o001) !== 0;
}

/** The first component of `path`, from / down to the file, that a non-root user could change
 * (keepalived's check_security), or a component of the wrong type. */
export function pathProblem(path: string): { kind: 'type' | 'unsafe'; message: string } | undefined {
  const parts = path.split('/');
  for (let i = 1; i <= parts.length; i++) {
    const last = i === parts.length;
    const prefix = last ? path : parts.slice(0, i).join('/') || '/';
    let st: Stats;
    try {
      st = lstatSync(prefix);
    } catch {
      return { kind: 'type', message: `could not find script '${path}' - disabling` };
    }
    if ((!last && !st.isDirectory()) || (last && !st.isFile() && !st.isSymbolicLink())) {
      return { kind: 'type', message: `wrong file type found in script path '${path}' (${prefix}) - disabling` };
    }
    const stickyDir = st.isDirectory() && (st.mode & 0o1000) !== 0;
    const writable = (st.gid !== 0 && (st.mode & 0o020) !== 0) || (st.mode & 0o002) !== 0;
    if (st.uid !== 0 || ((st.isFile() || (st.isDirectory() && !stickyDir)) && writable)) {
      return { kind: 'unsafe', message: `unsafe permissions found for script '${path}' (${prefix} is ${st.uid !== 0 ? `owned by uid ${st.uid}` : 'writable by non-root'})` };
    }
  }
  return undefined;
}

function searchPath(file: string, who: UserIds, pathEnv: string): string | { eacces: boolean } {
  let eacces = false;
  for (const dir of pathEnv.split(':')) {
    const candidate = dir ? `${dir}/${file}` : file;
    const st = statOrUndefined(candidate);
    if (!st) continue;
    if (st.isFile() && isExecutable(st, who.uid, who.gid)) return candidate;
    eacces = true;
  }
  return { eacces };
}

function statOrUndefined(p: string): Stats | undefined {
  try {
    return statSync(p);
  } catch {
    return undefined;
  }
}

/** #! or an ELF header: what libmagic calls an executable. */
function hasInterpreterHeader(p: string): boolean {
  const buf = Buffer.alloc(4);
  let fd: number | undefined;
  try {
    fd = openSync(p, 'r');
    const n = readSync(fd, buf, 0, 4, 0);
    return (n >= 2 && buf[0] === 0x23 && buf[1] === 0x21) || (n === 4 && buf.toString('latin1') === '\x7fELF');
  } catch {
    return true; // unreadable by root is odd; let exec report it
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/** keepalived's warning when scripts run without enable_script_security. */
export function securityViolation(checks: readonly ScriptCheck[], enableScriptSecurity: boolean): string | undefined {
  if (enableScriptSecurity || !checks.some((c) => c.ok)) return undefined;
  return `SECURITY VIOLATION - scripts are being executed but enable_script_security is not set.${checks.some((c) => c.insecure) ? ' There are insecure scripts.' : ''}`;
}

/** A configured script line, ready to run (or refused, with the reason). */
export type PreparedScript =
  | { ok: true; line: string; argv: string[]; shell: boolean; user?: string; group?: string; check: ScriptCheck; warnings: string[] }
  | { ok: false; line: string; error: string; check?: ScriptCheck; warnings: string[] };

/** Splits, picks the user, checks: everything keepalived does to a script at config load. */
export function prepareScript(
  line: string,
  own: { user?: string | undefined; group?: string | undefined },
  fallback: UserResult,
  enableScriptSecurity: boolean,
  lookup: Lookup = lookupUser,
): PreparedScript {
  const split = splitCommandLine(line);
  if (!split.ok) return { ok: false, line, error: `unable to parse script: ${split.error}`, warnings: [] };
  if (split.argv.length === 0) return { ok: false, line, error: 'empty script', warnings: [] };
  const who = scriptUser(own, fallback, lookup);
  if (!who.ok) return { ok: false, line, error: who.error, warnings: [] };
  const check = checkScript(split.argv, who.who, enableScriptSecurity);
  if (!check.ok) return { ok: false, line, error: check.error ?? 'disabled', check, warnings: check.warnings };
  return {
    ok: true,
    line,
    argv: check.argv,
    shell: check.shell,
    ...(who.who.user !== undefined ? { user: who.who.user } : {}),
    ...(who.who.group !== undefined ? { group: who.who.group } : {}),
    check,
    warnings: check.warnings,
  };
}

/** The argv and run options for ctx.run, with extra arguments appended (notify's four). */
export function invocation(p: Extract<PreparedScript, { ok: true }>, extra: readonly string[], timeoutMs: number): { argv: string[]; opts: RunOptions } {
  const argv = [...p.argv, ...extra];
  const opts: RunOptions = { timeoutMs, ...(p.user !== undefined ? { user: p.user } : {}), ...(p.group !== undefined ? { group: p.group } : {}) };
  return p.shell ? { argv: [shellQuote(argv)], opts: { ...opts, shell: true } } : { argv, opts };
}
