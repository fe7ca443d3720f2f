// keepalived's notify_fifo / vrrp_notify_fifo: every VRRP state change as one line on a FIFO,
// in keepalived 2.2's format, so existing readers (doc/samples/sample_notify_fifo.sh and the
// like) keep working:
//
//   INSTANCE "VI_1" MASTER 100        (state: MASTER, BACKUP, FAULT, STOP; effective priority)
//   GROUP "G1" BACKUP 0               (keepalived always writes 0 for a group)
//   INSTANCE "VI_1" MASTER_PRIORITY 90  (only with priority_changes, keepalived's notify_priority_changes)
//
// and the load balancer's (keepalived's checker, ipwrapper.c notify_fifo_vs / notify_fifo_rs),
// with keepalived's names, a fwmark virtual server as `FWM 5` (one field more):
//
//   VS [192.0.2.100]:tcp:80 UP        (virtualserver.quorum: UP or DOWN)
//   RS [198.51.100.10]:tcp:8080 [192.0.2.100]:tcp:80 DOWN   (realserver.up / .down; inhibited is DOWN)
//
// notify_fifo gets both kinds, vrrp_notify_fifo the VRRP lines, lvs_notify_fifo the LVS lines.
//
// Never blocking: like keepalived, the FIFO is opened O_RDWR | O_NONBLOCK. Holding both ends,
// the open cannot fail with ENXIO or wait for a reader, and lines written while no reader is
// attached wait in the pipe (64 KiB on Linux) for the next one. Where keepalived drops a line
// when the pipe is full (EAGAIN), we keep it in a bounded queue and retry, so a reader that
// comes late still sees every transition in order; only beyond `queue_limit` lines are the
// oldest dropped (with a warning).
//
// The daemon runs as root and the path comes from the config, often in /tmp: nothing but a FIFO
// owned by the daemon (or by the script's user, as keepalived allows) is opened or written.
// A symbolic link is never followed (O_NOFOLLOW); a FIFO in a directory someone else can change
// (writable by others without the sticky bit, or owned by another user) is refused, since they
// could swap it under the daemon and its reader; what was opened is checked again (fstat), and
// the FIFO made for a script user is handed over on the open descriptor (fchown), never through
// the path. A FIFO others may write to is used, with a warning: they could feed its reader.

import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, constants, fchownSync, fstatSync, lstatSync, openSync, unlinkSync, writeSync, type Stats } from 'node:fs';
import { definePlugin, dirProblem, formatMode, lookupUser, writableByOthers, type PluginLogger } from 'vigil/plugin';
import { configSchema, type NotifyFifoConfig } from './config.ts';

const RETRY_MS = 100;

const STATE_WORD: Record<string, string> = { master: 'MASTER', backup: 'BACKUP', fault: 'FAULT' };

type Kind = 'vrrp' | 'lvs';

class Fifo {
  private fd: number | undefined;
  private created = false;
  /** The inode opened: only that one is removed at stop. */
  private ino: number | undefined;
  private readonly queue: Buffer[] = [];
  private retry: NodeJS.Timeout | undefined;
  private dropped = 0;
  private child: ChildProcess | undefined;

  constructor(
    private readonly spec: NotifyFifoConfig['fifos'][number],
    private readonly limit: number,
    private readonly log: PluginLogger,
  ) {}

  get path(): string {
    return this.spec.path;
  }

  /** Whether it gets lines of this kind (no `lines`: every kind). */
  takes(kind: Kind): boolean {
    return this.spec.lines?.includes(kind) ?? true;
  }

  /** mkfifo if missing, open, check what was opened, start the reader script. False when the
   * FIFO cannot (or must not) be used; the log says why. */
  async open(run: (argv: string[]) => Promise<{ ok: boolean; stderr: string }>): Promise<boolean> {
    const path = this.spec.path;
    // keepalived's words first, then ours
    const refuse = (why: string, detail: string) => {
      this.log.error(`notify fifo ${path} ${why} - not using (${detail})`);
      return false;
    };
    const ids = this.spec.user !== undefined ? lookupUser(this.spec.user, this.spec.group) : undefined;
    // keepalived accepts a FIFO owned by itself or by the script's user
    const ours = process.geteuid?.() ?? 0;
    const allowedUids = new Set([ours]);
    if (ids) allowedUids.add(ids.uid);
    // A directory someone else may change (writable by others without the sticky bit, or
    // theirs) lets them swap the FIFO under the daemon and its reader at any time.
    const dir = dirProblem(path, { euid: ours, ...(ids ? { also: ids.uid } : {}) });
    if (dir) return refuse('is in a directory others can change', `${dir.dir} ${dir.reason}: they could replace the fifo`);

    let st = lstatSync(path, { throwIfNoEntry: false });
    if (!st) {
      // Node has no mkfifo(); the coreutils command makes it. Mode 0644 as keepalived.
      const r = await run(['mkfifo', '-m', '0644', path]);
      st = lstatSync(path, { throwIfNoEntry: false });
      if (!r.ok && !st) {
        this.log.error(`unable to create notify fifo ${path}: ${r.stderr}`);
        return false;
      }
      this.created = r.ok;
    }
    // An existing path may be anything, even planted by someone else: a link (to /etc/passwd,
    // say) is never followed, and nothing but a FIFO we own is opened, nor written to. Checked
    // on the path first (no open of a device or a file at all), then on what was opened.
    if (st?.isSymbolicLink()) return refuse('is not a fifo we own', 'a symbolic link: never followed');
    const what = (s: Stats) => `${describe(s)} owned by uid ${s.uid}`;
    if (!st?.isFIFO() || !allowedUids.has(st.uid)) return refuse('is not a fifo we own', st ? what(st) : 'gone');
    try {
      this.fd = openSync(path, constants.O_RDWR | constants.O_NONBLOCK | constants.O_NOFOLLOW | constants.O_NOCTTY);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ELOOP') return refuse('is not a fifo we own', 'a symbolic link: never followed');
      this.log.error(`unable to open notify fifo ${path}: ${(e as Error).message}`);
      return false;
    }
    const opened = fstatSync(this.fd);
    if (!opened.isFIFO() || !allowedUids.has(opened.uid)) {
      closeSync(this.fd);
      this.fd = undefined;
      return refuse('is not a fifo we own', `${what(opened)}, swapped in after the check`);
    }
    this.ino = opened.ino;
    if (writableByOthers(opened)) {
      this.log.warn(`notify fifo ${path} is writable by others (mode ${formatMode(opened.mode)}): anyone could feed its reader false state lines; chmod 0644 ${path}`);
    }
    if (this.spec.user !== undefined && ids && this.created && (opened.uid !== ids.uid || opened.gid !== ids.gid)) {
      // keepalived chowns the FIFO it creates to the configured user; done on the open FIFO,
      // never through the path (which someone could point elsewhere meanwhile)
      try {
        fchownSync(this.fd, ids.uid, ids.gid);
      } catch (e) {
        this.log.warn(`failed to set uid:gid for fifo ${path}: ${(e as Error).message}`);
      }
    }
    if (this.spec.script) this.startScript(ids);
    return true;
  }

  private startScript(ids: { uid: number; gid: number } | undefined): void {
    const [file, ...args] = this.spec.script ?? [];
    if (!file) return;
    if (this.spec.user !== undefined && !ids) {
      this.log.error(`notify fifo script ${file}: unknown user ${this.spec.user}`);
      return;
    }
    // A long-running reader, not a command with a result: spawned directly (ctx.run would
    // time it out) and ended by its PID when the plugin stops.
    const child = spawn(file, [...args, this.spec.path], { stdio: ['ignore', 'pipe', 'pipe'], ...(ids ? { uid: ids.uid, gid: ids.gid } : {}) });
    this.child = child;
    child.on('error', (e) => this.log.error(`notify fifo script ${file}: ${e.message}`));
    child.on('spawn', () => this.log.info(`started notify fifo script ${file} ${this.spec.path} (pid ${child.pid})`));
    child.stdout?.on('data', (d: Buffer) => this.log.info(`notify fifo script: ${d.toString().trimEnd()}`));
    child.stderr?.on('data', (d: Buffer) => this.log.warn(`notify fifo script: ${d.toString().trimEnd()}`));
    child.on('exit', (code, signal) => {
      // keepalived only logs this; it does not restart the script
      this.log.info(`notify fifo script ${file} terminated (${signal ?? `exit ${code}`})`);
    });
  }

  write(line: string): void {
    if (this.fd === undefined) return;
    this.queue.push(Buffer.from(line));
    if (this.queue.length > this.limit) {
      this.queue.shift();
      if (this.dropped++ === 0) this.log.warn(`notify fifo ${this.spec.path} full and unread: dropping the oldest lines`);
    }
    if (!this.retry) this.flush();
  }

  private flush(): void {
    this.retry = undefined;
    while (this.fd !== undefined && this.queue.length > 0) {
      const buf = this.queue[0] as Buffer;
      let n: number;
      try {
        n = writeSync(this.fd, buf);
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code === 'EAGAIN' || code === 'EWOULDBLOCK') {
          // the pipe is full: nobody reads; try again shortly, without blocking the plugin
          this.retry = setTimeout(() => this.flush(), RETRY_MS);
          return;
        }
        this.log.warn(`notify fifo ${this.spec.path} write error: ${(e as Error).message}`);
        this.queue.shift();
        continue;
      }
      // lines up to PIPE_BUF bytes are written whole; a longer one may go in parts
      if (n < buf.length) this.queue[0] = buf.subarray(n);
      else this.queue.shift();
    }
    if (this.dropped > 0) {
      this.log.warn(`notify fifo ${this.spec.path}: ${this.dropped} line(s) dropped while it was full`);
      this.dropped = 0;
    }
  }

  async close(): Promise<void> {
    if (this.retry) clearTimeout(this.retry);
    this.retry = undefined;
    // last chance for lines still queued (e.g. the STOP lines), without waiting
    this.flush();
    if (this.retry) clearTimeout(this.retry);
    if (this.queue.length > 0) this.log.warn(`notify fifo ${this.spec.path}: ${this.queue.length} line(s) unwritten at stop`);
    // keepalived unlinks first, so a script that reopens the FIFO in a loop cannot reopen it
    // (only the FIFO we made and opened: never what someone put in its place meanwhile)
    if (this.created && this.ino !== undefined) {
      try {
        const st = lstatSync(this.spec.path);
        if (st.isFIFO() && st.ino === this.ino) unlinkSync(this.spec.path);
      } catch {
        // already gone
      }
    }
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
    await stopChild(this.child);
  }
}

function describe(st: Stats): string {
  if (st.isFIFO()) return 'a fifo';
  if (st.isFile()) return 'a regular file';
  if (st.isDirectory()) return 'a directory';
  if (st.isSocket()) return 'a socket';
  if (st.isCharacterDevice() || st.isBlockDevice()) return 'a device';
  return 'not a fifo';
}

/** SIGTERM by PID, SIGKILL after 1 s; resolves once it has exited. */
function stopChild(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const kill = setTimeout(() => child.kill('SIGKILL'), 1000);
    child.once('exit', () => {
      clearTimeout(kill);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

export default definePlugin({
  apiVersion: 1,
  name: 'notify-fifo',
  configSchema,
  async setup(ctx) {
    const fifos: Fifo[] = [];
    // The runtime runs each instance's (and group's) handlers on its own promise chain, so
    // events of different instances published in the same tick can reach us out of order.
    // Lines are gathered for the current tick and written sorted by the bus's sequence number:
    // the FIFO shows transitions in the order they happened, as keepalived's does.
    let batch: Array<{ seq: number; line: string; kind: Kind }> = [];
    let scheduled: NodeJS.Immediate | undefined;
    const flushBatch = () => {
      scheduled = undefined;
      const lines = batch.sort((a, b) => a.seq - b.seq);
      batch = [];
      for (const { line, kind } of lines) for (const f of fifos) if (f.takes(kind)) f.write(line);
    };
    const write = (seq: number, line: string, kind: Kind = 'vrrp') => {
      batch.push({ seq, line, kind });
      scheduled ??= setImmediate(flushBatch);
    };
    ctx.onStop(async () => {
      if (scheduled) clearImmediate(scheduled);
      flushBatch();
      await Promise.all(fifos.map((f) => f.close()));
    });
    for (const spec of ctx.config.fifos) {
      const f = new Fifo(spec, ctx.config.queue_limit, ctx.log);
      if (await f.open((argv) => ctx.run(argv, { timeoutMs: 5000 }))) fifos.push(f);
      else await f.close();
    }
    // keepalived quotes the name but does not escape it; names cannot hold quotes or blanks there
    const word = (to: string, reason: string) => STATE_WORD[to] ?? (to === 'initialize' && reason === 'shutdown' ? 'STOP' : undefined);

    const state = new Map<string, string>();
    ctx.on('instance.transition', (e) => {
      state.set(e.instance, e.to);
      const w = word(e.to, e.reason);
      if (w) write(e.seq, `INSTANCE "${e.instance}" ${w} ${e.priority}\n`);
    });
    ctx.on('instance.reasserted', (e) => {
      write(e.seq, `INSTANCE "${e.instance}" MASTER_RX_LOWER_PRI ${e.priority}\n`);
    });
    ctx.on('group.transition', (e) => {
      const w = word(e.to, e.reason);
      if (w) write(e.seq, `GROUP "${e.group}" ${w} 0\n`);
    });
    const watchPriority = new Set(ctx.config.priority_changes);
    if (watchPriority.size > 0) {
      ctx.on('instance.priority', (e) => {
        if (!watchPriority.has(e.instance) || e.effective === e.previous) return;
        write(e.seq, `INSTANCE "${e.instance}" ${state.get(e.instance) === 'master' ? 'MASTER_PRIORITY' : 'BACKUP_PRIORITY'} ${e.effective}\n`);
      });
    }

    // the load balancer's lines: only when some FIFO takes them
    if (fifos.some((f) => f.takes('lvs'))) {
      ctx.on('virtualserver.quorum', (e) => {
        write(e.seq, `VS ${e.virtualServer} ${e.up ? 'UP' : 'DOWN'}\n`, 'lvs');
      });
      ctx.on('realserver.up', (e) => {
        write(e.seq, `RS ${e.realServer} ${e.virtualServer} UP\n`, 'lvs');
      });
      ctx.on('realserver.down', (e) => {
        write(e.seq, `RS ${e.realServer} ${e.virtualServer} DOWN\n`, 'lvs');
      });
    }
  },
});
