// The frame every socket probe shares (DNS, SMTP, UDP, PING): one attempt that ends exactly once,
// by its own verdict, its timeout or an abort, and then releases what it opened. A probe's body
// only opens its socket, says how to close it (defer) and reports pass/fail; this module owns the
// timer, the abort listener and the "only once", so no path can leak a handle or resolve twice.

import type { ProbeResult } from './checks.ts';
import { monoMs } from '../clock.ts';

export interface Attempt {
  pass(): void;
  fail(error: string): void;
  /** Milliseconds since the attempt started. */
  elapsed(): number;
  /** True once the attempt has its result: a callback arriving later must touch nothing (its
   * socket is already closed). */
  ended(): boolean;
  /** Runs `close` when the attempt ends (at once if it has already ended). Register it right
   * after opening a handle, so that a throw later in the body cannot leak the handle. */
  defer(close: () => void): void;
}

export interface AttemptOptions {
  timeoutMs: number;
  signal?: AbortSignal | undefined;
  /** What the timeout means (usually a failure, "no reply within 3000 ms"; a pass for UDP_CHECK
   * without require_reply). */
  onTimeout: (a: Attempt) => void;
}

/** Runs `start` (which opens the probe's socket) until it passes, fails, times out or is
 * aborted. Never rejects; a throw from `start` is a failure. */
export function runAttempt(opts: AttemptOptions, start: (a: Attempt) => void): Promise<ProbeResult> {
  const started = monoMs();
  const elapsed = () => monoMs() - started;
  return new Promise((resolve) => {
    if (opts.signal?.aborted) return resolve({ ok: false, error: 'aborted', ms: 0 });
    let done = false;
    const cleanups: Array<() => void> = [];
    const finish = (r: ProbeResult) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      opts.signal?.removeEventListener('abort', onAbort);
      release();
      resolve(r);
    };
    const release = () => {
      for (const c of cleanups.splice(0).reverse()) {
        try {
          c();
        } catch {
          // closing an already closed socket: nothing left to release
        }
      }
    };
    const a: Attempt = {
      pass: () => finish({ ok: true, ms: elapsed() }),
      fail: (error) => finish({ ok: false, error, ms: elapsed() }),
      elapsed,
      ended: () => done,
      defer: (close) => {
        cleanups.push(close);
        if (done) release();
      },
    };
    const onAbort = () => a.fail('aborted');
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    const timer = setTimeout(() => opts.onTimeout(a), opts.timeoutMs);
    try {
      start(a);
    } catch (e) {
      a.fail((e as Error).message);
    }
  });
}

const STREAM_WORDS: Record<string, string> = {
  ECONNREFUSED: 'connection refused',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  ECONNRESET: 'connection reset',
  EPIPE: 'connection closed while writing',
  EADDRNOTAVAIL: 'bind address not available',
  EADDRINUSE: 'bind address in use',
};

/** A TCP socket's error in a few words ("connection refused"), else its code: what TCP_CHECK and
 * SMTP_CHECK report. (http-check.ts keeps its own copy: genhash loads it and nothing else of the
 * checkers, which its test pins.) */
export function streamErrorWords(e: NodeJS.ErrnoException): string {
  return STREAM_WORDS[e.code ?? ''] ?? e.code ?? e.message;
}

const ERROR_WORDS: Record<string, string> = {
  // on a connected datagram socket these are ICMP errors the kernel matched to it
  ECONNREFUSED: 'ICMP port unreachable',
  EHOSTUNREACH: 'ICMP host unreachable',
  ENOPROTOOPT: 'ICMP protocol unreachable',
  EMSGSIZE: 'ICMP fragmentation needed',
  ENETUNREACH: 'network unreachable',
  EHOSTDOWN: 'host down',
  EADDRNOTAVAIL: 'bind address not available',
  EADDRINUSE: 'bind address in use',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
};

/** A datagram socket's error in a few words ("ICMP port unreachable"), else its code. */
export function datagramErrorWords(e: NodeJS.ErrnoException): string {
  return ERROR_WORDS[e.code ?? ''] ?? e.code ?? e.message;
}
