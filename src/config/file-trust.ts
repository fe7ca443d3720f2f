// Files and directories a root daemon trusts: who, besides root (and the daemon's own user),
// could change them. keepalived's rule for the path of a script run as root (check_security in
// lib/notify.c) applied to the daemon's other inputs: an entry is safe when it is owned by root
// (or the daemon's user) and not writable by others, nor by its group unless that group is
// root; a directory with the sticky bit (like /tmp) may be writable by all, since nobody but
// an entry's owner (and root) can then remove or rename it.
//
// Used for the config file and its includes (warnings), the HTTP token file (refused) and the
// control socket's directory (refused).

import { closeSync, fstatSync, openSync, readFileSync, realpathSync, statSync, type Stats } from 'node:fs';
import { dirname, resolve } from 'node:path';

/** The daemon's effective uid (0 where there is none, as on Windows: nothing to compare). */
export function effectiveUid(): number {
  return process.geteuid?.() ?? 0;
}

export function octal(mode: number): string {
  return (mode & 0o7777).toString(8).padStart(4, '0');
}

/** Writable by someone who is neither the owner nor root: others, or a group other than root. */
export function writableByOthers(st: Pick<Stats, 'mode' | 'gid'>): boolean {
  return (st.mode & 0o002) !== 0 || ((st.mode & 0o020) !== 0 && st.gid !== 0);
}

/** Owners a daemon running as `euid` trusts: root, and itself. */
export function trustedOwner(uid: number, euid: number = effectiveUid()): boolean {
  return uid === 0 || uid === euid;
}

/** What is wrong with one file the daemon reads as its own input (the config, an include), as
 * short phrases: writable by others, or owned by a user other than root / the daemon. */
export function fileProblems(st: Pick<Stats, 'mode' | 'gid' | 'uid'>, euid: number = effectiveUid()): string[] {
  const out: string[] = [];
  if (writableByOthers(st)) out.push(`is writable by ${(st.mode & 0o002) !== 0 ? 'others' : `group ${st.gid}`} (mode ${octal(st.mode)})`);
  if (!trustedOwner(st.uid, euid)) out.push(`is owned by uid ${st.uid}, not ${euid === 0 ? 'root' : `root or uid ${euid}`}`);
  return out;
}

export interface DirProblem {
  dir: string;
  reason: string;
}

/** The first directory, from / down to the one holding `path`, that someone other than root
 * (or the daemon's user, or `also`) could change: owned by another user, or writable by others
 * without the sticky bit (or, with `sticky: false`, the one holding `path` writable by others
 * at all: where anyone may create an entry of their own). Symlinks on the way are resolved
 * first: what counts is where the file really is. */
export function dirProblem(path: string, opts: { euid?: number; sticky?: boolean; also?: number } = {}): DirProblem | undefined {
  const euid = opts.euid ?? effectiveUid();
  let dir: string;
  try {
    dir = realpathSync(dirname(resolve(path)));
  } catch (e) {
    return { dir: dirname(resolve(path)), reason: `cannot be resolved (${(e as NodeJS.ErrnoException).code ?? String(e)})` };
  }
  const chain: string[] = [];
  for (let d = dir; ; d = dirname(d)) {
    chain.unshift(d);
    if (d === '/' || dirname(d) === d) break;
  }
  for (const d of chain) {
    let st: Stats;
    try {
      st = statSync(d);
    } catch (e) {
      return { dir: d, reason: `cannot be read (${(e as NodeJS.ErrnoException).code ?? String(e)})` };
    }
    if (!trustedOwner(st.uid, euid) && st.uid !== opts.also) return { dir: d, reason: `is owned by uid ${st.uid}` };
    const sticky = (st.mode & 0o1000) !== 0 && (opts.sticky !== false || d !== dir);
    if (writableByOthers(st) && !sticky) return { dir: d, reason: `is writable by ${(st.mode & 0o002) !== 0 ? 'others' : `group ${st.gid}`} (mode ${octal(st.mode)})${(st.mode & 0o1000) !== 0 ? '' : ' without the sticky bit'}` };
  }
  return undefined;
}

/** Reads a file and stats what was read (the open file, not the path again, so a file swapped
 * in between is not checked in place of the one read). */
export function readWithStat(path: string): { text: string; stat: Stats } {
  const fd = openSync(path, 'r');
  try {
    return { stat: fstatSync(fd), text: readFileSync(fd, 'utf8') };
  } finally {
    closeSync(fd);
  }
}

/** Warnings for a config file (or include) the daemon reads: the file itself and the
 * directories above it. Each names the fix. */
export function configFileWarnings(path: string, st: Pick<Stats, 'mode' | 'gid' | 'uid'>, euid: number = effectiveUid()): string[] {
  const who = euid === 0 ? 'root' : `uid ${euid}`;
  const out: string[] = [];
  for (const p of fileProblems(st, euid)) {
    const fix = p.startsWith('is writable') ? `chmod go-w ${path}` : `chown ${euid === 0 ? 'root' : euid} ${path}`;
    out.push(`config file ${p}: whoever can change it controls what the daemon (running as ${who}) does; ${fix}`);
  }
  const d = dirProblem(path, { euid });
  if (d) out.push(`directory ${d.dir}, which holds this config file, ${d.reason}: whoever can change it can replace the file; make it root's and not writable by others`);
  return out;
}
