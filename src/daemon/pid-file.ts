// Pid files, written by root into directories a careful operator keeps root's (/run), and a
// careless one may not (-p /tmp/vigil.pid). Opened without following a symbolic link and
// without truncating, then checked on the open descriptor: a link planted at the path, or a
// hard link to /etc/shadow, must not make root overwrite another file. Only a regular file with
// one name, owned by us, is then truncated and written.

import { createHash } from 'node:crypto';
import { closeSync, constants, fstatSync, ftruncateSync, mkdirSync, openSync, readFileSync, realpathSync, rmSync, writeSync } from 'node:fs';
import { basename, dirname, extname, resolve } from 'node:path';

export function writePidFile(path: string, pid: number = process.pid): void {
  let fd: number;
  try {
    fd = openSync(path, constants.O_WRONLY | constants.O_CREAT | constants.O_NOFOLLOW | constants.O_NONBLOCK, 0o644);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ELOOP') throw new Error(`pid file ${path} is a symbolic link; refusing to write through it (remove it)`);
    throw new Error(`cannot write pid file ${path}: ${code ?? (e as Error).message}`);
  }
  try {
    const st = fstatSync(fd);
    const euid = process.geteuid?.() ?? 0;
    if (!st.isFile()) throw new Error(`pid file ${path} is not a regular file; refusing to write to it`);
    if (st.nlink !== 1) throw new Error(`pid file ${path} has ${st.nlink} names (a hard link to another file?); refusing to write to it`);
    if (st.uid !== euid) throw new Error(`pid file ${path} is owned by uid ${st.uid}, not ${euid}; refusing to write to it (remove it)`);
    ftruncateSync(fd, 0);
    writeSync(fd, `${pid}\n`);
  } finally {
    closeSync(fd);
  }
}

// --- default pid files ------------------------------------------------------------------------
//
// keepalived writes /run/keepalived.pid and /run/keepalived_vrrp.pid unless told otherwise;
// vigil writes its own names, so a keepalived left installed (its unit's PIDFile=) and vigil
// never touch each other's files. Only with neither -p nor -r, and:
// - for the host's daemon (config /etc/vigil/vigil.yaml or /etc/keepalived/keepalived.conf, the
//   installed unit's and keepalived's default): /run/vigil.pid and /run/vigil_vrrp.pid;
// - for any other config: /run/vigil/NAME-HASH.pid and NAME-HASH_vrrp.pid, named as its control
//   socket (NAME-HASH.sock), so daemons with different configs (one per network namespace:
//   `ip netns exec` shares /run) never share a file.
// A default pid file that names another live process (the same config started twice) is left
// alone: the second daemon runs without pid files and says so, where keepalived would refuse
// to start; the tests start daemons in many namespaces at once.

export const DEFAULT_PID_FILE = '/run/vigil.pid';
export const DEFAULT_VRRP_PID_FILE = '/run/vigil_vrrp.pid';
/** Where the host's daemon keeps its config: the installed unit's, then keepalived's default. */
export const SYSTEM_CONFIGS = ['/etc/vigil/vigil.yaml', '/etc/keepalived/keepalived.conf'];
export const RUN_DIR = '/run/vigil';

/** The config's absolute path with symlinks resolved when it exists, so `-f conf` from its
 * directory and `-f /etc/x/conf` name the same daemon. */
export function canonicalConfig(file: string): string {
  try {
    return realpathSync(file);
  } catch {
    return resolve(file);
  }
}

/** Is this the host's daemon's config (one of SYSTEM_CONFIGS)? */
export function isSystemConfig(file: string): boolean {
  const abs = canonicalConfig(file);
  return SYSTEM_CONFIGS.some((c) => canonicalConfig(c) === abs);
}

/** `NAME-HASH` for a config: its name without extension and 8 hex digits of the sha256 of its
 * absolute path; the stem of a daemon's default pid files and control socket. */
export function configStem(file: string): string {
  const abs = canonicalConfig(file);
  return `${basename(abs, extname(abs))}-${createHash('sha256').update(abs).digest('hex').slice(0, 8)}`;
}

export function defaultPidFiles(file: string, runDir = RUN_DIR): { pidFile: string; vrrpPidFile: string } {
  if (isSystemConfig(file)) return { pidFile: DEFAULT_PID_FILE, vrrpPidFile: DEFAULT_VRRP_PID_FILE };
  const stem = resolve(runDir, configStem(file));
  return { pidFile: `${stem}.pid`, vrrpPidFile: `${stem}_vrrp.pid` };
}

/** The pid a pid file names, if it holds one. */
export function readPidFile(path: string): number | undefined {
  try {
    const n = Number(readFileSync(path, 'utf8').trim());
    return Number.isInteger(n) && n > 0 ? n : undefined;
  } catch {
    return undefined;
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Writes a default pid file unless it names another live process. Never throws: a default
 * that cannot be written (not root, /run read-only) is a warning, not a reason to stop. */
export function claimDefaultPidFile(path: string, pid: number = process.pid): { ok: true } | { ok: false; why: string } {
  const other = readPidFile(path);
  if (other !== undefined && other !== pid && alive(other)) return { ok: false, why: `${path} belongs to running process ${other} (a vigil with the same config?)` };
  try {
    if (dirname(path) === RUN_DIR) mkdirSync(RUN_DIR, { recursive: true, mode: 0o755 });
    writePidFile(path, pid);
    return { ok: true };
  } catch (e) {
    return { ok: false, why: (e as Error).message };
  }
}

/** Removes a pid file if it still names `pid` (another daemon may have taken a default one). */
export function removePidFile(path: string, pid: number = process.pid): void {
  const named = readPidFile(path);
  if (named === undefined || named === pid) rmSync(path, { force: true });
}
