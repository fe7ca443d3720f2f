// A user plugin in a process of its own, as an unprivileged user (global_defs.plugin_user): for a
// plugin that watches and reports, and has no need of root. The process runs the same compiled
// worker runtime (worker.ts) and speaks the same protocol as a worker thread, over Node's IPC
// channel, so the host contains it as it contains a worker: heartbeats, handler timeouts,
// back-off, a heap limit. It starts as root only to load vigil's own runtime, then gives up
// root before the plugin's first line runs (worker.ts, dropPrivileges); the plugin comes
// bundled into one module (compile.ts, bundleStandalone), so the user needs no access to any
// file, vigil's included.
//
// What it costs against a worker thread (BENCHMARKS.md, "Plugin isolation"): a process of its
// own (a Node runtime: tens of MiB), and each event and adjustment crossing a pipe instead of a
// thread's message port.

import { fork, type ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { fileURLToPath } from 'node:url';
import type { HostMessage, ProcessInit, WorkerInit, WorkerMessage } from './protocol.ts';

export interface RunAs {
  uid: number;
  gid: number;
  user?: string;
}

/** The part of a Worker the host uses; a PluginProcess offers the same, and so does a built-in's
 * port into the shared thread (builtin-thread.ts). */
export interface PluginRunner {
  /** The worker thread it runs in (a Worker's threadId; the built-ins' shared thread's); none
   * for a process. */
  readonly threadId?: number;
  postMessage(m: HostMessage): void;
  on(event: 'message', fn: (m: WorkerMessage) => void): unknown;
  on(event: 'error', fn: (e: Error) => void): unknown;
  on(event: 'exit', fn: (code: number) => void): unknown;
  terminate(): Promise<number>;
}

/** How long a process asked to end (SIGTERM) has before it is killed. */
const KILL_AFTER_MS = 1000;

export class PluginProcess extends EventEmitter implements PluginRunner {
  private readonly child: ChildProcess;
  private readonly exited: Promise<number>;

  constructor(runtime: URL, init: WorkerInit, code: string, runAs: RunAs, maxHeapMb: number) {
    super();
    this.child = fork(fileURLToPath(runtime), [], {
      execArgv: [`--max-old-space-size=${maxHeapMb}`],
      serialization: 'advanced',
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      cwd: '/',
    });
    this.exited = new Promise((resolve) => {
      this.child.once('exit', (code, signal) => {
        const c = code ?? (signal ? 128 : 1);
        this.emit('exit', c);
        resolve(c);
      });
    });
    this.child.on('message', (m) => this.emit('message', m));
    this.child.on('error', (e) => this.emit('error', e));
    const first: ProcessInit = { t: 'init', init, code, runAs };
    this.child.send(first);
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  postMessage(m: HostMessage): void {
    if (this.child.connected) this.child.send(m);
  }

  async terminate(): Promise<number> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return this.exited;
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), KILL_AFTER_MS);
    timer.unref();
    const code = await this.exited;
    clearTimeout(timer);
    return code;
  }
}
