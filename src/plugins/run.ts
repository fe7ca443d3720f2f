// Running a command for a plugin (notify scripts, vrrp_script checks): node's spawn without a
// shell unless asked, as a given user, with a timeout that kills, and a result that never
// throws, because a failing script is an outcome to report, not an exception.
//
// Each command leads a process group of its own, and a timeout (or the caller's abort) kills
// the whole group, as keepalived does: a shell script's `sleep` child would otherwise hold the
// output pipes open and the run would last as long as the child, timeout or not.
//
// child_process.spawn directly, not execa: a notify script is on the path from a transition to
// the operator's reaction, and execa's option handling, stream plumbing and result building
// cost ~2 ms more per run (a third of the transition -> script start latency), for features
// this module does not use.

import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import type { RunOptions, RunResult } from './api.ts';
import { monoMs } from '../clock.ts';

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

/** Entries being refreshed in the background. */
const refreshing = new Set<string>();

export function lookupUser(user: string, group?: string): UserIds | undefined {
  // a vrrp_script runs every second or so: the passwd database need not be asked each time.
  // An entry older than USER_CACHE_MS is still answered, and refreshed in the background: a
  // synchronous getent (a process, ~5 ms) must not land on a notify script's path every minute.
  const key = `${user}:${group ?? ''}`;
  const hit = userCache.get(key);
  if (hit) {
    if (Date.now() - hit.at >= USER_CACHE_MS && !refreshing.has(key)) {
      refreshing.add(key);
      void lookupUserWith(getentAsync, user, group)
        .then((ids) => userCache.set(key, { ids, at: Date.now() }))
        .finally(() => refreshing.delete(key));
    }
    return hit.ids;
  }
  const ids = lookupUserWith(getentSync, user, group);
  userCache.set(key, { ids, at: Date.now() });
  return ids;
}

type Getent<R> = (db: string, key: string) => R;

function lookupUserWith(getent: Getent<string | undefined>, user: string, group?: string): UserIds | undefined;
function lookupUserWith(getent: Getent<Promise<string | undefined>>, user: string, group?: string): Promise<UserIds | undefined>;
function lookupUserWith(getent: Getent<string | undefined> | Getent<Promise<string | undefined>>, user: string, group?: string): UserIds | undefined | Promise<UserIds | undefined> {
  const ids = (entry: string | undefined, g: string | undefined): UserIds | undefined => {
    if (!entry || (group !== undefined && !g)) return undefined;
    const fields = entry.split(':');
    const uid = Number(fields[2]);
    const gid = Number(g !== undefined ? g.split(':')[2] : fields[3]);
    return Number.isInteger(uid) && Number.isInteger(gid) ? { uid, gid } : undefined;
  };
  const entry = getent('passwd', user);
  const grp = group === undefined ? undefined : getent('group', group);
  if (entry instanceof Promise || grp instanceof Promise) return Promise.all([entry, grp]).then(([e, g]) => ids(e, g));
  return ids(entry, grp);
}

function getentSync(db: string, key: string): string | undefined {
  try {
    return execFileSync('getent', [db, key], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).split('\n')[0] || undefined;
  } catch {
    return undefined;
  }
}

function getentAsync(db: string, key: string): Promise<string | undefined> {
  return new Promise((resolve) => {
    execFile('getent', [db, key], { encoding: 'utf8' }, (err, stdout) => resolve(err ? undefined : stdout.split('\n')[0] || undefined));
  });
}

/** Options only vigil's own callers use, beyond the plugin API's RunOptions. */
export interface RunnerOptions extends RunOptions {
  /** Between SIGTERM and SIGKILL to the group; default 1 s (MISC_CHECK uses keepalived's 2 s). */
  killGraceMs?: number;
}

export async function runCommand(argv: readonly string[], opts: RunnerOptions = {}): Promise<RunResult> {
  const command = argv.join(' ');
  const started = monoMs();
  const fail = (msg: string): RunResult => ({
    command,
    exitCode: undefined,
    signal: undefined,
    timedOut: false,
    failedToStart: true,
    stdout: '',
    stderr: msg,
    durationMs: monoMs() - started,
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
  let child: ChildProcess;
  try {
    child = spawn(file as string, args, {
      // a process group of its own, killed as a whole (see the top of the file)
      detached: true,
      stdio: [opts.input !== undefined ? 'pipe' : 'ignore', 'pipe', 'pipe'],
      ...(ids ? { uid: ids.uid, gid: ids.gid } : {}),
      ...(opts.env ? { env: { ...process.env, ...opts.env } } : {}),
      ...(opts.cwd ? { cwd: opts.cwd } : {}),
    });
  } catch (e) {
    // what spawn throws rather than reports (EPERM switching users, bad options)
    return fail((e as Error).message);
  }
  const stdout = collect(child.stdout);
  const stderr = collect(child.stderr);
  if (opts.input !== undefined && child.stdin) {
    // a command that exits without reading its input is no error of ours
    child.stdin.on('error', () => undefined);
    child.stdin.end(opts.input);
  }
  let timedOut = false;
  let hardKill: NodeJS.Timeout | undefined;
  const killGroup = (signal: NodeJS.Signals) => {
    if (child.pid === undefined) return;
    try {
      process.kill(-child.pid, signal);
    } catch {
      // the group is gone already
    }
  };
  const stop = () => {
    if (hardKill) return;
    killGroup('SIGTERM');
    hardKill = setTimeout(() => killGroup('SIGKILL'), opts.killGraceMs ?? 1000);
  };
  const timer = setTimeout(() => {
    timedOut = true;
    stop();
  }, timeoutMs);
  const onAbort = () => stop();
  opts.signal?.addEventListener('abort', onAbort, { once: true });
  // done when the command has exited and its output pipes are closed ('close'), or when it
  // could not be started at all ('error' with no pid; a 'close' with -errno follows, ignored)
  const outcome = await new Promise<{ code: number | null; signal: NodeJS.Signals | null } | Error>((resolve) => {
    child.on('error', (e) => {
      if (child.pid === undefined) resolve(e);
    });
    child.once('close', (code, signal) => resolve({ code, signal }));
  });
  clearTimeout(timer);
  if (hardKill) clearTimeout(hardKill);
  opts.signal?.removeEventListener('abort', onAbort);
  if (outcome instanceof Error) return fail(outcome.message);
  // the leader is gone; anything it left in its group goes with it
  if (timedOut || opts.signal?.aborted) killGroup('SIGKILL');
  const exitCode = outcome.code ?? undefined;
  return {
    command,
    exitCode,
    signal: outcome.signal ?? undefined,
    timedOut,
    failedToStart: false,
    stdout: stdout(),
    stderr: stderr(),
    durationMs: monoMs() - started,
    ok: exitCode === 0 && !timedOut,
  };
}

/** Reads a stream to its end, keeping its first MAX_OUTPUT bytes; returns the text so far
 * without its final newline. The rest is read and dropped: a chatty command neither grows the
 * daemon nor blocks on a full pipe. */
function collect(stream: NodeJS.ReadableStream | null): () => string {
  const chunks: Buffer[] = [];
  let size = 0;
  stream?.on('data', (chunk: Buffer) => {
    if (size >= MAX_OUTPUT) return;
    const part = chunk.subarray(0, MAX_OUTPUT - size);
    chunks.push(part);
    size += part.length;
  });
  return () => Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
}

