// Whether a user plugin's code may be loaded at all. A plugin runs inside the daemon, as root,
// with the daemon's sockets: anyone who can change a file it loads, or a directory above one,
// owns the machine. So every file a user plugin loads from outside vigil's own install (the
// plugin module, its sibling modules, packages in the plugins directory), every directory on
// its path up to /, and every symlink on the way (and, when the path goes through one, its
// real path too) must be owned by root and not writable by group or others: keepalived's rule
// for scripts that run as root (script-security.ts, lib/notify.c check_security), applied
// whether or not enable_script_security is set, because a plugin is more than a script.
//
// Like keepalived, a group-writable entry whose group is root (gid 0) is accepted, and so is a
// world-writable directory with the sticky bit (/tmp): nobody but root can replace an entry
// root owns there.
//
// global_defs.allow_unsafe_plugins turns the refusal into a warning, for development only.

import { lstatSync, realpathSync, type Stats } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';

export interface UnsafeFile {
  /** The file whose load was refused. */
  file: string;
  /** The component that makes it unsafe (the file itself or a directory above it). */
  at: string;
  /** Why, in words an operator acts on. */
  reason: string;
}

/** The rule, said once for messages and docs. */
export const PLUGIN_FILE_RULE =
  'a plugin runs as root: its files and every directory above them must be owned by root and writable only by root';

/** Undefined when `file` is safe to load as root; else what is wrong, and where. `kind`
 * 'directory': the plugins directory itself (every plugin in an unsafe one is refused). */
export function pluginFileProblem(file: string, kind: 'file' | 'directory' = 'file'): UnsafeFile | undefined {
  const abs = isAbsolute(file) ? file : resolve(file);
  const given = walk(abs, kind);
  if (given) return { file: abs, ...given };
  let real: string;
  try {
    real = realpathSync(abs);
  } catch (e) {
    return { file: abs, at: abs, reason: `cannot be resolved (${(e as NodeJS.ErrnoException).code ?? String(e)})` };
  }
  if (real !== abs) {
    const target = walk(real, kind);
    if (target) return { file: abs, at: target.at, reason: `${target.reason} (${abs} resolves to ${real})` };
  }
  return undefined;
}

/** Every problem among `files` (each file at most once). */
export function pluginFilesProblems(files: Iterable<string>): UnsafeFile[] {
  const out: UnsafeFile[] = [];
  for (const f of new Set(files)) {
    const p = pluginFileProblem(f);
    if (p) out.push(p);
  }
  return out;
}

const UNSAFE_PREFIX = 'unsafe plugin file ';

/** One line for logs, events and `vigil status`. */
export function describeUnsafe(p: UnsafeFile): string {
  const where = p.at === p.file ? p.file : `${p.file}: ${p.at}`;
  return `${UNSAFE_PREFIX}${where} ${p.reason}; ${PLUGIN_FILE_RULE}`;
}

/** Whether an import failed because the resolver refused an unsafe file (the error crosses the
 * module hooks thread as its message). */
export function isUnsafeError(message: string): boolean {
  return message.startsWith(UNSAFE_PREFIX);
}

/** Each component of an absolute path, from / down, as lstat sees it (symlinks not followed:
 * whoever can change a symlink chooses what is loaded). */
function walk(abs: string, kind: 'file' | 'directory'): { at: string; reason: string } | undefined {
  const parts = abs.split('/').filter(Boolean);
  let prefix = '';
  const chain = ['/', ...parts.map((p) => (prefix += `/${p}`))];
  for (let i = 0; i < chain.length; i++) {
    const at = chain[i] as string;
    const last = i === chain.length - 1;
    let st: Stats;
    try {
      st = lstatSync(at);
    } catch (e) {
      return { at, reason: `cannot be read (${(e as NodeJS.ErrnoException).code ?? String(e)})` };
    }
    const problem = componentProblem(st, last && kind === 'file');
    if (problem) return { at, reason: problem };
  }
  return undefined;
}

/** `file`: the component must be a regular file, else a directory. */
function componentProblem(st: Stats, file: boolean): string | undefined {
  if (st.uid !== 0) return `is owned by uid ${st.uid}, not root`;
  if (st.isSymbolicLink()) return undefined; // its mode means nothing; its target is walked too
  if (!file && !st.isDirectory()) return 'is not a directory';
  if (file && !st.isFile()) return 'is not a regular file';
  const mode = st.mode & 0o7777;
  const sticky = st.isDirectory() && (mode & 0o1000) !== 0;
  if (sticky) return undefined;
  if (mode & 0o002) return `is writable by others (mode ${octal(mode)})`;
  if (mode & 0o020 && st.gid !== 0) return `is writable by group ${st.gid} (mode ${octal(mode)})`;
  return undefined;
}

function octal(mode: number): string {
  return mode.toString(8).padStart(4, '0');
}
