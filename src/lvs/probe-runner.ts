// Where a checker's attempt runs. keepalived runs its checkers in a process of their own; vigil
// runs them in one worker thread (probe-worker.ts), so that what an attempt costs on the CPU (a
// TLS handshake, hashing a page, parsing a reply, spawning a script) never delays an advert on
// the engine's loop (DESIGN.md rule 2). The engine keeps the timeline (checker-state.ts, its
// timers are cheap); only the attempts cross, one message there and one back.
//
// runProbe() is the dispatch itself, used inside the worker (and by tests in-process). Each
// checker module is imported on first use: a config with TCP checks only never loads TLS,
// the script runner or the DNS codec.

import { Worker } from 'node:worker_threads';
import type { ProbeCheck, ProbeResult } from './checks.ts';

type Probe<C extends ProbeCheck> = (check: C, signal?: AbortSignal) => Promise<ProbeResult>;
type Loaders = { [K in ProbeCheck['kind']]: () => Promise<Probe<Extract<ProbeCheck, { kind: K }>>> };

const LOADERS: Loaders = {
  tcp: async () => (await import('./tcp-check.ts')).tcpProbe,
  http: async () => (await import('./http-check.ts')).httpProbe,
  smtp: async () => (await import('./smtp-check.ts')).smtpProbe,
  dns: async () => (await import('./dns-check.ts')).dnsProbe,
  udp: async () => (await import('./udp-check.ts')).udpProbe,
  ping: async () => (await import('./ping-check.ts')).pingProbe,
  misc: async () => (await import('./misc-check.ts')).miscProbe,
};

/** The probes loaded so far: an import() per attempt would ask the module loader (and its hooks,
 * another thread under tsx) to resolve the module again every time, which cost more CPU than
 * the attempt itself. */
const loaded = new Map<ProbeCheck['kind'], Probe<ProbeCheck>>();

/** One attempt of `check`, in this thread. Never rejects. */
export async function runProbe(check: ProbeCheck, signal?: AbortSignal): Promise<ProbeResult> {
  const started = performance.now();
  try {
    let probe = loaded.get(check.kind);
    if (!probe) {
      probe = (await LOADERS[check.kind]()) as Probe<ProbeCheck>;
      loaded.set(check.kind, probe);
    }
    return await probe(check, signal);
  } catch (e) {
    // a probe never rejects by contract; this is a bug or a module that failed to load
    return { ok: false, error: `checker failed: ${(e as Error).message}`, ms: performance.now() - started };
  }
}

export interface ProbeRunner {
  run(check: ProbeCheck, signal?: AbortSignal): Promise<ProbeResult>;
  /** Ends every attempt in flight (as failed) and the worker, if any. */
  close(): Promise<void>;
}

/** Attempts on the calling thread (tests; a daemon without a worker). */
export class InlineProbes implements ProbeRunner {
  run(check: ProbeCheck, signal?: AbortSignal): Promise<ProbeResult> {
    return runProbe(check, signal);
  }
  async close(): Promise<void> {}
}

/** The messages to and from the probe worker. */
export type ProbeRequest = { t: 'run'; id: number; check: ProbeCheck } | { t: 'abort'; id: number };
export type ProbeReply = { id: number; result: ProbeResult };

interface Pending {
  resolve: (r: ProbeResult) => void;
  started: number;
  signal: AbortSignal | undefined;
  onAbort: () => void;
}

const ENTRY = new URL('./probe-worker-entry.mjs', import.meta.url);

/** Attempts in one worker thread, started on the first attempt. A worker that dies fails the
 * attempts it held (they are retried on the checkers' own timeline) and is started again on the
 * next attempt. */
export class WorkerProbes implements ProbeRunner {
  private worker: Worker | undefined;
  private pending = new Map<number, Pending>();
  private nextId = 1;
  private closed = false;

  constructor(private readonly o: { onError?: (message: string) => void } = {}) {}

  run(check: ProbeCheck, signal?: AbortSignal): Promise<ProbeResult> {
    const started = performance.now();
    if (this.closed || signal?.aborted) return Promise.resolve({ ok: false, error: 'aborted', ms: 0 });
    const worker = this.ensureWorker();
    const id = this.nextId++;
    return new Promise((resolve) => {
      const onAbort = () => worker.postMessage({ t: 'abort', id } satisfies ProbeRequest);
      signal?.addEventListener('abort', onAbort, { once: true });
      this.pending.set(id, { resolve, started, signal, onAbort });
      if (this.pending.size === 1) worker.ref();
      worker.postMessage({ t: 'run', id, check } satisfies ProbeRequest);
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    this.failAll('the checker worker stopped');
    const w = this.worker;
    this.worker = undefined;
    if (w) await w.terminate();
  }

  private ensureWorker(): Worker {
    if (this.worker) return this.worker;
    const worker = new Worker(ENTRY, { execArgv: [] });
    worker.on('message', (m: ProbeReply) => this.settle(m.id, m.result));
    worker.on('error', (e: Error) => this.o.onError?.(`checker worker: ${e.message}`));
    worker.on('exit', (code) => {
      if (this.worker !== worker) return;
      this.worker = undefined;
      if (!this.closed) this.o.onError?.(`checker worker exited with code ${code}; started again on the next attempt`);
      this.failAll(`the checker worker exited (${code})`);
    });
    // an idle worker must not keep a stopping daemon alive (the timeline's timers do that); one
    // with attempts in flight does
    worker.unref();
    this.worker = worker;
    return worker;
  }

  private settle(id: number, result: ProbeResult): void {
    const p = this.pending.get(id);
    if (!p) return;
    this.pending.delete(id);
    if (this.pending.size === 0) this.worker?.unref();
    p.signal?.removeEventListener('abort', p.onAbort);
    p.resolve(result);
  }

  private failAll(error: string): void {
    for (const [id, p] of this.pending) this.settle(id, { ok: false, error, ms: performance.now() - p.started });
  }
}
