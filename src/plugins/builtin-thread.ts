// The host's side of the built-ins' shared worker thread (builtin-worker.ts). Each built-in gets
// a PluginRunner over a MessagePort of its own, so the plugin host's slots treat it as they treat
// a plugin with a thread of its own: postMessage, 'message' / 'error' / 'exit', terminate().
//
// - terminate() unloads that plugin only (its onStop callbacks run in the thread) when the
//   thread acknowledges within UNLOAD_ACK_MS; when it does not (it spins, or is wedged), the
//   whole thread is terminated: every other built-in sees 'exit' and restarts with its back-off.
// - The thread ending (uncaught error, heap limit, the above) is every built-in's 'exit'; an
//   uncaught error is every built-in's 'error' first. The next load starts a fresh thread.
// - The thread ends when its last plugin is unloaded: nothing stays alive for nothing, and a
//   lone built-in that keeps failing gets a fresh isolate each time (old module instances, which
//   ESM cannot unload, do not pile up).

import { EventEmitter } from 'node:events';
import { MessageChannel, Worker, type MessagePort } from 'node:worker_threads';
import type { PluginRunner } from './plugin-process.ts';
import { PLUGIN_YOUNG_GENERATION_MB, type HostMessage, type SharedHostMessage, type SharedWorkerMessage, type WorkerInit, type WorkerMessage } from './protocol.ts';

/** How long the thread has to acknowledge an unload before it is taken for wedged. */
export const UNLOAD_ACK_MS = 1000;
/** What an unloaded plugin's onStop callbacks get, each (as the host's 'stop' gives them). */
const STOP_TIMEOUT_MS = 2000;

export interface BuiltinThreadOptions {
  /** The thread's entry: dist/builtin-worker.mjs, or worker-entry.mjs from the sources. */
  entry: URL;
  /** workerData for the entry (worker-entry.mjs: { shared: true }). */
  workerData?: unknown;
  maxHeapMb: number;
}

class SharedRunner extends EventEmitter implements PluginRunner {
  /** Set once terminate() was called: its outcome. */
  private ended: Promise<number> | undefined;
  private ack: (() => void) | undefined;

  constructor(
    readonly id: number,
    private readonly port: MessagePort,
    readonly thread: Worker,
    private readonly owner: BuiltinThread,
  ) {
    super();
    port.on('message', (m: WorkerMessage) => this.emit('message', m));
  }

  get threadId(): number {
    return this.thread.threadId;
  }

  postMessage(m: HostMessage): void {
    if (!this.ended) this.port.postMessage(m);
  }

  terminate(): Promise<number> {
    this.ended ??= new Promise<number>((resolve) => {
      this.port.close();
      const timer = setTimeout(() => {
        // no answer: the thread spins or is wedged, and takes every built-in with it
        this.ack = undefined;
        void this.owner.kill(this.thread).then(() => resolve(1));
      }, UNLOAD_ACK_MS);
      this.ack = () => {
        clearTimeout(timer);
        resolve(0);
      };
      this.owner.send(this.thread, { t: 'unload', id: this.id, timeoutMs: STOP_TIMEOUT_MS });
    });
    return this.ended;
  }

  /** The thread acknowledged the unload. */
  unloaded(): void {
    this.ack?.();
    this.ack = undefined;
  }

  /** An uncaught error ended the thread ('exit' follows). */
  threadFailed(e: Error): void {
    if (!this.ended) this.emit('error', e);
  }

  /** The thread ended (`crash`: what it said escaped a plugin): for a plugin not unloaded, that
   * is its end too. */
  threadExited(code: number, crash: string | undefined): void {
    this.port.close();
    if (this.ack) return this.unloaded();
    if (this.ended) return;
    this.ended = Promise.resolve(code);
    if (crash !== undefined) this.emit('message', { t: 'crashed', error: crash } satisfies WorkerMessage);
    this.emit('exit', code);
  }
}

export class BuiltinThread {
  private worker: Worker | undefined;
  private seq = 0;
  /** Plugins loaded and not yet unloaded (acknowledged), on whichever thread they run. */
  private readonly runners = new Map<number, SharedRunner>();
  /** Threads being terminated: close() waits for them. */
  private readonly ending = new Set<Promise<number>>();

  constructor(private readonly o: BuiltinThreadOptions) {}

  /** Starts a built-in in the shared thread (starting the thread when there is none). */
  load(init: WorkerInit): PluginRunner {
    const thread = this.worker ?? this.start();
    const { port1, port2 } = new MessageChannel();
    const runner = new SharedRunner(++this.seq, port1, thread, this);
    this.runners.set(runner.id, runner);
    this.send(thread, { t: 'load', id: runner.id, init, port: port2 }, [port2]);
    return runner;
  }

  /** Ends the thread (host.stop(), once every plugin has stopped). */
  async close(): Promise<void> {
    if (this.worker) void this.kill(this.worker);
    await Promise.all([...this.ending]);
  }

  send(thread: Worker, m: SharedHostMessage, transfer: MessagePort[] = []): void {
    try {
      thread.postMessage(m, transfer);
    } catch {
      // the thread is gone: its 'exit' tells every plugin on it
    }
  }

  async kill(thread: Worker): Promise<void> {
    if (this.worker === thread) this.worker = undefined;
    const ending = thread.terminate();
    this.ending.add(ending);
    await ending.finally(() => this.ending.delete(ending));
  }

  private start(): Worker {
    const thread = new Worker(this.o.entry, {
      workerData: this.o.workerData,
      execArgv: [],
      resourceLimits: { maxOldGenerationSizeMb: this.o.maxHeapMb, maxYoungGenerationSizeMb: PLUGIN_YOUNG_GENERATION_MB },
    });
    this.worker = thread;
    const on = () => [...this.runners.values()].filter((r) => r.thread === thread);
    let crash: string | undefined;
    thread.on('message', (m: SharedWorkerMessage) => {
      if (m.t === 'crashed') crash = m.error;
      if (m.t !== 'unloaded') return;
      this.runners.get(m.id)?.unloaded();
      this.runners.delete(m.id);
      if (this.worker === thread && on().length === 0) void this.kill(thread);
    });
    thread.on('error', (e: Error) => {
      for (const r of on()) r.threadFailed(e);
    });
    thread.on('exit', (code: number) => {
      if (this.worker === thread) this.worker = undefined;
      for (const r of on()) {
        this.runners.delete(r.id);
        r.threadExited(code, crash);
      }
    });
    return thread;
  }
}
