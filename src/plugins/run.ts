// Running a command for a plugin (notify scripts, vrrp_script checks): execa without a shell
// unless asked, as a given user, with a timeout that kills, and a result that never throws,
// because a failing script is an outcome to report, not an exception.
//
// Each command leads a process group of its own, and a timeout (or the caller's abort) kills
// the whole group, as keepalived does: a shell script's `sleep` child would otherwise hold the
// output pipes open and the run would last as long as the child, timeout or not.

import { execFileSync } from 'node:child_process';
import { execa } from 'execa';
import type { RunOptions, RunResult } from './api.ts';

const DEFAULT_TIMEOUT_MS = 30_000;
/** Output kept per stream; a chatty script must not grow the daemon. */
const MAX_OUTPUT = 64 * 1024;

export interface UserIds {
  uid: number;
  gid: number;
}

/** uid and gid for a user name or number (and optional group), via the system's databases
 * (getent covers files, LDAP, sssd alike). Undefined when the user does not exist. */
const userCache = new Map<string, { ids: UserIds | undefined; at: number }>();
const USER_CACHE_MS = 60_000;

export function lookupUser(user: string, group?: string): UserIds | undefined {
  // a vrrp_script runs every second or so: the passwd database need not be asked each time
  const key = `${user}:${group ?? ''}`;
  const hit = userCache.get(key);
  if (hit && Date.now() - hit.at < USER_CACHE_MS) return hit.ids;
  const ids = lookupUserUncached(user, group);
  userCache.set(key, { ids, at: Date.now() });
  return ids;
}

function lookupUserUncached(user: string, group?: string): UserIds | undefined {
  const entry = getent('passwd', user);
  if (!entry) return undefined;
  const fields = entry.split(':');
  const uid = Number(fields[2]);
  let gid = Number(fields[3]);
  if (group !== undefined) {
    const g = getent('group', group);
    if (!g) return undefined;
    gid = Number(g.split(':')[2]);
  }
  return Number.isInteger(uid) && Number.isInteger(gid) ? { uid, gid } : undefined;
}

function getent(db: string, key: string): string | undefined {
  try {
    return execFileSync('getent', [db, key], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).split('\n')[0] || undefined;
  } catch {
    return undefined;
  }
}

/** Options only vigil's own callers use, beyond the plugin API's RunOptions. */
export interface RunnerOptions extends RunOptions {
  /** Between SIGTERM and SIGKILL to the group; default 1 s (MISC_CHECK uses keepalived's 2 s). */
  killGraceMs?: number;
}

export async function runCommand(argv: readonly string[], opts: RunnerOptions = {}): Promise<RunResult> {
  const command = argv.join(' ');
  const started = performance.now();
  const fail = (msg: string): RunResult => ({
    command,
    exitCode: undefined,
    signal: undefined,
    timedOut: false,
    failedToStart: true,
    stdout: '',
    stderr: msg,
    durationMs: performance.now() - started,
    ok: false,
  });
  if (argv.length === 0 || !argv[0]) return fail('empty command');
  let ids: UserIds | undefined;
  if (opts.user !== undefined) {
    ids = lookupUser(opts.user, opts.group);
    if (!ids) return fail(`unknown user or group: ${opts.user}${opts.group ? `:${opts.group}` : ''}`);
  }
  const [file, ...args] = opts.shell ? ['/bin/sh', '-c', command] : argv;
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  try {
    const child = execa(file as string, args, {
      reject: false,
      detached: true,
      cleanup: true,
      maxBuffer: MAX_OUTPUT,
      stripFinalNewline: true,
      ...(ids ? { uid: ids.uid, gid: ids.gid } : {}),
      ...(opts.env ? { env: opts.env, extendEnv: true } : {}),
      ...(opts.cwd ? { cwd: opts.cwd } : {}),
      ...(opts.input !== undefined ? { input: opts.input } : { stdin: 'ignore' as const }),
    });
    let timedOut = false;
    const killGroup = (signal: NodeJS.Signals) => {
      if (child.pid === undefined) return;
      try {
        process.kill(-child.pid, signal);
      } catch {
        // the group is gone already
      }
    };
    const stop = () => {
      killGroup('SIGTERM');
      hardKill = setTimeout(() => killGroup('SIGKILL'), opts.killGraceMs ?? 1000);
    };
    let hardKill: NodeJS.Timeout | undefined;
    const timer = setTimeout(() => {
      timedOut = true;
      stop();
    }, timeoutMs);
    const onAbort = () => stop();
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    const r = await child;
    clearTimeout(timer);
    if (hardKill) clearTimeout(hardKill);
    opts.signal?.removeEventListener('abort', onAbort);
    // the leader is gone; anything it left in its group goes with it
    if (timedOut || opts.signal?.aborted) killGroup('SIGKILL');
    const failedToStart = r.exitCode === undefined && !r.signal;
    return {
      command,
      exitCode: r.exitCode,
      signal: r.signal,
      timedOut,
      failedToStart,
      stdout: String(r.stdout ?? ''),
      stderr: failedToStart ? (r.originalMessage ?? r.shortMessage ?? '') : String(r.stderr ?? ''),
      durationMs: performance.now() - started,
      ok: r.exitCode === 0 && !timedOut,
    };
  } catch (e) {
    return fail((e as Error).message);
  }
}
