// TCP_CHECK: a non-blocking connect that completes within connect_timeout passes, and the socket
// is closed at once; refused, unreachable, a timeout or any socket error fails (check_tcp.c).
// Asynchronous I/O on the engine's loop: a probe is one socket and one timer, never a
// computation, so it cannot delay an advert.

import { Socket } from 'node:net';
import type { ProbeResult } from './checks.ts';
import { streamErrorWords } from './probe-attempt.ts';
import { monoMs } from '../clock.ts';

export interface TcpTarget {
  host: string;
  port: number;
  bindto?: string;
  bindPort?: number;
  timeoutMs: number;
}

export function tcpProbe(t: TcpTarget, signal?: AbortSignal): Promise<ProbeResult> {
  const started = monoMs();
  return new Promise((resolve) => {
    const socket = new Socket();
    let done = false;
    const finish = (r: ProbeResult) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      socket.destroy();
      resolve(r);
    };
    const elapsed = () => monoMs() - started;
    const timer = setTimeout(() => finish({ ok: false, error: `no connection within ${t.timeoutMs} ms`, ms: elapsed() }), t.timeoutMs);
    const onAbort = () => finish({ ok: false, error: 'aborted', ms: elapsed() });
    signal?.addEventListener('abort', onAbort, { once: true });
    socket.once('connect', () => finish({ ok: true, ms: elapsed() }));
    socket.once('error', (e: NodeJS.ErrnoException) => finish({ ok: false, error: streamErrorWords(e), ms: elapsed() }));
    socket.connect({
      host: t.host,
      port: t.port,
      ...(t.bindto !== undefined ? { localAddress: t.bindto } : {}),
      ...(t.bindPort !== undefined ? { localPort: t.bindPort } : {}),
    });
  });
}
