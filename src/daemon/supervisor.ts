// The supervisor: what keepalived's parent process is to its VRRP child. `vigil -n` runs a small
// parent that forks the engine (bin/vigil --engine-child), forwards the operator's signals to
// it, and restarts it when it dies unexpectedly, at most `maxRestarts` times in `windowMs`
// (then it gives up and exits non-zero, for systemd's Restart=on-failure or a person to look).
// A restarted engine starts like any other: it removes addresses a dead engine left behind
// before its first election.
//
// Files: -p holds the parent's pid (the one to signal, systemd's MAINPID), -r the engine's.
//
// The child must never outlive the parent: an orphaned engine would keep advertising and
// holding the VIPs with no one to stop it. Node has no PR_SET_PDEATHSIG, but the fork IPC
// channel closes when the parent dies however it dies (SIGKILL included), and the child then
// kills itself at once, without a goodbye advert: the parent's death is treated as the node's
// death, which is what a SIGKILLed keepalived looks like too (its VRRP child is frozen and
// killed with it in the tests), and a Backup takes over after Master_Down_Interval.
//
// systemd accepts notifications from the main PID only (NotifyAccess=main): the child sends its
// READY=1 / RELOADING=1 / WATCHDOG=1 over the IPC channel and the parent relays them.

import { fork, type ChildProcess } from 'node:child_process';
import { isSdNotifyMessage, reloadingState, sdNotify } from '../control/systemd.ts';
import type { DaemonLogger } from './log.ts';
import { claimDefaultPidFile, removePidFile, writePidFile } from './pid-file.ts';
import { monoMs, processStartMicros } from '../clock.ts';
import { EXEC_AT_ENV } from './exec-at.ts';

export interface SuperviseOptions {
  /** The command line to run the engine with (--engine-child is added). */
  argv: string[];
  /** The script to fork (bin/vigil). */
  entry: string;
  /** -p: the parent's pid file. */
  pidFile?: string | undefined;
  /** -r: the engine's pid file (written by the engine; removed here if the engine could not). */
  vrrpPidFile?: string | undefined;
  /** The two files are the defaults (neither -p nor -r given): taken only when no other live
   * process holds them, and a failure to write them is a warning. */
  defaultPidFiles?: boolean;
  log: DaemonLogger;
  maxRestarts?: number;
  windowMs?: number;
  /** Pause before a restart, so a crash loop does not spin. */
  restartDelayMs?: number;
}

const FORWARDED = ['SIGTERM', 'SIGINT', 'SIGHUP', 'SIGUSR1', 'SIGUSR2'] as const;

/** The engine's V8 options. Its young generation is capped at 1 MiB per semi-space (V8's default
 * lets it grow to 16): the engine allocates a little for every advert, so under load the young
 * generation grows to its cap and stays there, all of it resident. Measured with 1,000
 * instances: engine PSS 116 -> 66 MiB; what survives a scavenge is small, so the more frequent
 * scavenges cost little (BENCHMARKS.md). The operator's own node options come after and win. */
export const ENGINE_NODE_OPTIONS = ['--max-semi-space-size=1'];

/** The engine's malloc: one arena. glibc gives every thread that mallocs an arena of its own
 * and keeps what was freed there; V8's compiler threads and libuv's pool touch several at start
 * and hold them for good. Measured on the example config: engine PSS ~63 -> ~51 MiB. Set only
 * when the operator did not, and taken out of the engine's environment again as it starts
 * (ENGINE_MALLOC_MARK), so its scripts do not inherit it. */
const ENGINE_MALLOC = { MALLOC_ARENA_MAX: '1' };
const ENGINE_MALLOC_MARK = 'VIGIL_MALLOC_ARENA_MAX_SET';

/** Runs the engine as a supervised child; resolves with the exit code. */
export function supervise(opts: SuperviseOptions): Promise<number> {
  const { log } = opts;
  const maxRestarts = opts.maxRestarts ?? 5;
  const windowMs = opts.windowMs ?? 60_000;
  const restartDelayMs = opts.restartDelayMs ?? 200;
  const relay = (state: string) => {
    try {
      sdNotify(state);
    } catch (e) {
      log.warn(`systemd notify: ${(e as Error).message}`);
    }
  };
  let { pidFile, vrrpPidFile } = opts;
  if (opts.defaultPidFiles && pidFile) {
    const claim = claimDefaultPidFile(pidFile);
    if (!claim.ok) {
      log.warn(`no pid files: ${claim.why}; vigil status/events/reload find this daemon by -f or --socket`);
      pidFile = vrrpPidFile = undefined;
    }
  } else if (pidFile) {
    try {
      writePidFile(pidFile);
    } catch (e) {
      log.error((e as Error).message);
      return Promise.resolve(1);
    }
  }
  // the engine writes its own file; a default one is handed down as its -r
  const childArgv = opts.defaultPidFiles && vrrpPidFile ? [...opts.argv, '-r', vrrpPidFile] : opts.argv;

  // the child's environment: it knows it is supervised (and relays systemd messages through
  // us); NOTIFY_SOCKET is ours alone, so neither the engine nor its scripts talk to systemd
  // behind our back
  const env: NodeJS.ProcessEnv = { ...process.env, VIGIL_SUPERVISED: '1' };
  if (env.MALLOC_ARENA_MAX === undefined) Object.assign(env, ENGINE_MALLOC, { [ENGINE_MALLOC_MARK]: '1' });
  delete env.NOTIFY_SOCKET;

  return new Promise<number>((resolveExit) => {
    let child: ChildProcess | undefined;
    let forks = 0;
    let stopping: NodeJS.Signals | undefined;
    let everReady = false;
    let restartTimer: NodeJS.Timeout | undefined;
    const restarts: number[] = [];

    const finish = (code: number) => {
      for (const s of FORWARDED) process.off(s, handlers[s]);
      clearTimeout(restartTimer);
      if (pidFile) removePidFile(pidFile);
      log.flush();
      resolveExit(code);
    };

    const start = () => {
      restartTimer = undefined;
      const c = fork(opts.entry, [...childArgv, '--engine-child'], {
        // the first engine counts its instances' first Master_Down_Timer from our exec; a
        // restarted one from its own (exec-at.ts)
        env: forks++ === 0 ? { ...env, [EXEC_AT_ENV]: String(processStartMicros()) } : env,
        execArgv: [...ENGINE_NODE_OPTIONS, ...process.execArgv],
        // the engine's log lines go straight to our stderr; the IPC channel carries the rest.
        // Its own process group: a terminal's Ctrl-C reaches the engine once, through us.
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
        detached: true,
      });
      child = c;
      let ready = false;
      log.info(`supervisor: engine child ${c.pid} started`);
      c.on('message', (m) => {
        if (!isSdNotifyMessage(m)) return;
        if (!ready && /^READY=1$/m.test(m.state)) {
          ready = everReady = true;
          log.debug(`supervisor: engine child ${c.pid} ready`);
        }
        relay(m.state);
      });
      c.on('error', (e) => log.error(`supervisor: engine child: ${e.message}`));
      c.on('exit', (code, signal) => {
        child = undefined;
        const how = signal ? `signal ${signal}` : `exit code ${code}`;
        if (stopping) {
          log.info(`supervisor: engine child ${c.pid} stopped (${how}); exiting`);
          return finish(signal ? 1 : (code ?? 1));
        }
        if (!everReady) {
          // it never came up (an invalid config, a missing file): restarting cannot help
          log.error(`supervisor: engine child ${c.pid} exited during start (${how}); not restarting`);
          if (vrrpPidFile) removePidFile(vrrpPidFile, c.pid);
          return finish(code || 1);
        }
        const now = monoMs(); // monotonic: a wall clock step must not reopen or shut the window
        while (restarts.length && (restarts[0] ?? 0) <= now - windowMs) restarts.shift();
        if (restarts.length >= maxRestarts) {
          log.error(`supervisor: engine child ${c.pid} died unexpectedly (${how}); ${restarts.length} restarts within ${windowMs / 1000} s already: giving up`);
          relay(`STATUS=engine died (${how}) too often; gave up`);
          if (vrrpPidFile) removePidFile(vrrpPidFile, c.pid);
          return finish(1);
        }
        restarts.push(now);
        log.error(`supervisor: engine child ${c.pid} died unexpectedly (${how}); restarting it (${restarts.length} of at most ${maxRestarts} within ${windowMs / 1000} s)`);
        relay(`STATUS=engine died (${how}); restarting`);
        restartTimer = setTimeout(start, restartDelayMs);
      });
    };

    const handlers = Object.fromEntries(
      FORWARDED.map((s) => [
        s,
        () => {
          if (s === 'SIGTERM' || s === 'SIGINT') {
            // the engine first: its goodbye advert starts the handover; logging can follow
            child?.kill(s);
            if (!stopping) {
              stopping = s;
              log.info(`supervisor: ${s}: stopping the engine`);
              relay('STOPPING=1');
            }
            // between a death and its restart there is no engine to wait for
            if (!child) return finish(0);
            return;
          }
          // systemd's reload ends when READY=1 follows; say so before the engine starts on it
          if (s === 'SIGHUP' && child) relay(reloadingState());
          child?.kill(s);
        },
      ]),
    ) as Record<(typeof FORWARDED)[number], () => void>;
    for (const s of FORWARDED) process.on(s, handlers[s]);
    start();
  });
}

/** The engine child's side: dies at once when the supervisor is gone (see the top of the file);
 * returns the function to call before exiting normally, which lets go of the channel. */
export function engineChildGuard(log: { error(msg: string): void }): () => void {
  let leaving = false;
  const orphaned = () => {
    if (leaving) return;
    log.error('supervisor gone: engine exiting at once');
    process.kill(process.pid, 'SIGKILL');
  };
  if (typeof process.send !== 'function' || !process.connected) {
    // started by hand with --engine-child, or the parent already died: no one supervises
    if (process.env.VIGIL_SUPERVISED === '1') orphaned();
    return () => undefined;
  }
  process.on('disconnect', orphaned);
  return () => {
    leaving = true;
    // the open channel would keep this process alive after the engine stopped
    process.disconnect();
  };
}

export interface LaunchOptions {
  file: string;
  configId?: string | undefined;
  detail: boolean;
  console: boolean;
  /** -p */
  pidFile?: string | undefined;
  /** -r */
  vrrpPidFile?: string | undefined;
  /** pidFile and vrrpPidFile are the defaults (neither -p nor -r given). */
  defaultPidFiles?: boolean;
  /** parent: supervise a forked engine (the default); child: the forked engine (--engine-child);
   * none: the engine in this process (--no-supervise). */
  mode: 'parent' | 'child' | 'none';
  /** The command line, for the child's. */
  argv: string[];
  /** bin/vigil, for the child. */
  entry: string;
  /** Syslog facility (-S); undefined: no syslog (-G). */
  syslogFacility?: number | undefined;
}

/** The daemon as the command line asks for it. The engine's modules are imported only where
 * the engine runs, so the supervising parent stays small. */
export async function launch(o: LaunchOptions): Promise<number> {
  // glibc read it when this process started; the engine's scripts get the operator's environment
  if (process.env[ENGINE_MALLOC_MARK] === '1') {
    delete process.env.MALLOC_ARENA_MAX;
    delete process.env[ENGINE_MALLOC_MARK];
  }
  const { createLogger } = await import('./log.ts');
  const { IDENT_PARENT, IDENT_VRRP } = await import('./syslog.ts');
  // keepalived's idents: the parent's lines as Keepalived, the VRRP child's as Keepalived_vrrp
  // (the engine in this very process, --no-supervise, is the VRRP side)
  const syslog = o.syslogFacility === undefined ? undefined : { ident: o.mode === 'parent' ? IDENT_PARENT : IDENT_VRRP, facility: o.syslogFacility };
  const log = createLogger({ detail: o.detail, console: o.console, syslog });
  const daemonOpts = { file: o.file, configId: o.configId, detail: o.detail, console: o.console, syslog: syslog && { ...syslog, ident: IDENT_VRRP } };
  if (o.mode === 'parent') return supervise({ argv: o.argv, entry: o.entry, pidFile: o.pidFile, vrrpPidFile: o.vrrpPidFile, defaultPidFiles: o.defaultPidFiles, log });
  const release = o.mode === 'child' ? engineChildGuard(log) : () => undefined;
  const { runDaemon } = await import('./run.ts');
  try {
    if (o.mode === 'child') return await runDaemon({ ...daemonOpts, pidFile: o.vrrpPidFile });
    // in-process, this one process is both keepalived's parent and its VRRP child
    let { pidFile, vrrpPidFile } = o;
    let claimed: string | undefined; // a default pid file written here, not by runDaemon
    if (o.defaultPidFiles && pidFile) {
      const claim = claimDefaultPidFile(pidFile);
      if (claim.ok) claimed = pidFile;
      else {
        log.warn(`no pid files: ${claim.why}; vigil status/events/reload find this daemon by -f or --socket`);
        vrrpPidFile = undefined;
      }
      pidFile = undefined;
    }
    if (vrrpPidFile) {
      if (o.defaultPidFiles) claimDefaultPidFile(vrrpPidFile);
      else writePidFile(vrrpPidFile);
    }
    try {
      return await runDaemon({ ...daemonOpts, pidFile });
    } finally {
      if (claimed) removePidFile(claimed);
      if (vrrpPidFile) removePidFile(vrrpPidFile);
    }
  } finally {
    release();
  }
}
