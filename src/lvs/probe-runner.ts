// Where a checker's attempt runs. keepalived runs its checkers in a process of their own; vigil
// runs them in one worker thread (probe-worker.ts), so that what an attempt costs on the CPU (a
// TLS handshake, hashing a page, parsing a reply, spawning a script) never delays an advert on
// the engine's loop (DESIGN.md rule 2). The engine keeps the timeline (checker-state.ts, its
// timers are cheap); only the attempts cross, one message there and one back.
//
// The same worker also hosts the nftables data plane (WorkerDataPlane): turning a desired state
// into its libnftables document is pure computation that grows with the pool (~25 ms for 1,000
// backends), too long for the engine's loop between two adverts.
//
// runProbe() is the dispatch itself, used inside the worker (and by tests in-process). Each
// checker module is imported on first use: a config with TCP checks only never loads TLS,
// the script runner or the DNS codec.

import { Worker } from 'node:worker_threads';
import { distUrl, FROM_SOURCE } from '../install-paths.ts';
import type { ProbeCheck, ProbeResult } from './checks.ts';
import type { DataPlane, DataPlaneCounters, DesiredState } from './model.ts';
import type { NftDataPlaneOptions } from './nft-dataplane.ts';
import { monoMs } from '../clock.ts';

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
  const started = monoMs();
  try {
    let probe = loaded.get(check.kind);
    if (!probe) {
      probe = (await LOADERS[check.kind]()) as Probe<ProbeCheck>;
      loaded.set(check.kind, probe);
    }
    return await probe(check, signal);
  } catch (e) {
    // a probe never rejects by contract; this is a bug or a module that failed to load
    return { ok: false, error: `checker failed: ${(e as Error).message}`, ms: monoMs() - started };
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

/** The data plane's calls, carried to the worker. */
export type DataPlaneCall = { op: 'apply'; state: DesiredState } | { op: 'remove' } | { op: 'counters' };
type DataPlaneOptions = Omit<NftDataPlaneOptions, 'warn'>;

/** The messages to and from the checker worker. */
export type ProbeRequest =
  | { t: 'run'; id: number; check: ProbeCheck }
  | { t: 'abort'; id: number }
  | { t: 'dataplane'; id: number; options: DataPlaneOptions; call: DataPlaneCall };
export type ProbeReply =
  | { t: 'result'; id: number; result: ProbeResult }
  | { t: 'dataplane'; id: number; ok: true; value?: DataPlaneCounters }
  | { t: 'dataplane'; id: number; ok: false; error: string }
  /** The data plane's warnings (an update refused, the table replaced). */
  | { t: 'warn'; message: string };

interface Pending {
  settle: (m: ProbeReply) => void;
  fail: (error: string) => void;
}

/** The build's checker worker; from the sources (tests), one that loads them through tsx. */
const ENTRY = FROM_SOURCE ? new URL('./probe-worker-entry.mjs', import.meta.url) : distUrl('probe-worker.mjs');

/** keepalived's checker process, as one worker thread, started on the first call: it runs the
 * checkers' attempts and the data plane. A worker that dies fails what it held (attempts are
 * retried on the checkers' own timeline, a refused apply by the balancer) and is started again
 * on the next call. */
export class CheckerWorker implements ProbeRunner {
  private worker: Worker | undefined;
  private pending = new Map<number, Pending>();
  private nextId = 1;
  private closed = false;

  constructor(private readonly o: { onError?: (message: string) => void; onWarn?: (message: string) => void } = {}) {}

  run(check: ProbeCheck, signal?: AbortSignal): Promise<ProbeResult> {
    const started = monoMs();
    if (this.closed || signal?.aborted) return Promise.resolve({ ok: false, error: 'aborted', ms: 0 });
    const worker = this.ensureWorker();
    const id = this.nextId++;
    return new Promise((resolve) => {
      const onAbort = () => worker.postMessage({ t: 'abort', id } satisfies ProbeRequest);
      signal?.addEventListener('abort', onAbort, { once: true });
      const done = (result: ProbeResult) => {
        signal?.removeEventListener('abort', onAbort);
        resolve(result);
      };
      this.hold(id, {
        settle: (m) => done(m.t === 'result' ? m.result : { ok: false, error: 'unexpected reply', ms: monoMs() - started }),
        fail: (error) => done({ ok: false, error, ms: monoMs() - started }),
      });
      worker.postMessage({ t: 'run', id, check } satisfies ProbeRequest);
    });
  }

  /** One data-plane call in the worker; rejects with the data plane's own error text. */
  dataPlane(options: DataPlaneOptions, call: DataPlaneCall): Promise<DataPlaneCounters | undefined> {
    if (this.closed) return Promise.reject(new Error('the checker worker stopped'));
    const worker = this.ensureWorker();
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.hold(id, {
        settle: (m) => (m.t === 'dataplane' && m.ok ? resolve(m.value) : reject(new Error(m.t === 'dataplane' && !m.ok ? m.error : 'unexpected reply'))),
        fail: (error) => reject(new Error(error)),
      });
      worker.postMessage({ t: 'dataplane', id, options, call } satisfies ProbeRequest);
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    this.failAll('the checker worker stopped');
    const w = this.worker;
    this.worker = undefined;
    if (w) await w.terminate();
  }

  private hold(id: number, p: Pending): void {
    this.pending.set(id, p);
    if (this.pending.size === 1) this.worker?.ref();
  }

  private ensureWorker(): Worker {
    if (this.worker) return this.worker;
    // a small young generation, as the engine's (supervisor.ts): a thousand attempts a second
    // would otherwise grow it to V8's 16 MiB per semi-space, all resident
    const worker = new Worker(ENTRY, { execArgv: [], resourceLimits: { maxYoungGenerationSizeMb: 3 } });
    worker.on('message', (m: ProbeReply) => {
      if (m.t === 'warn') this.o.onWarn?.(m.message);
      else this.release(m.id)?.settle(m);
    });
    worker.on('error', (e: Error) => this.o.onError?.(`checker worker: ${e.message}`));
    worker.on('exit', (code) => {
      if (this.worker !== worker) return;
      this.worker = undefined;
      if (!this.closed) this.o.onError?.(`checker worker exited with code ${code}; started again on the next call`);
      this.failAll(`the checker worker exited (${code})`);
    });
    // an idle worker must not keep a stopping daemon alive (the timeline's timers do that); one
    // with calls in flight does
    worker.unref();
    this.worker = worker;
    return worker;
  }

  private release(id: number): Pending | undefined {
    const p = this.pending.get(id);
    if (!p) return undefined;
    this.pending.delete(id);
    if (this.pending.size === 0) this.worker?.unref();
    return p;
  }

  private failAll(error: string): void {
    for (const id of [...this.pending.keys()]) this.release(id)?.fail(error);
  }
}

/** The nftables data plane (nft-dataplane.ts), run in the checker worker. */
export class WorkerDataPlane implements DataPlane {
  constructor(
    private readonly worker: CheckerWorker,
    private readonly options: DataPlaneOptions = {},
  ) {}

  async apply(state: DesiredState): Promise<void> {
    await this.worker.dataPlane(this.options, { op: 'apply', state });
  }

  async remove(): Promise<void> {
    await this.worker.dataPlane(this.options, { op: 'remove' });
  }

  async counters(): Promise<DataPlaneCounters> {
    return (await this.worker.dataPlane(this.options, { op: 'counters' })) ?? { services: {}, backends: {} };
  }
}
