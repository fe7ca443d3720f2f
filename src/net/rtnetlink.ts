// One guarded rtnetlink socket for the engine's address, route and rule changes.
//
// Why a guard: the netlink package calls back from native code, and a JavaScript exception
// there is not a rejected promise but a C++ `terminate`: the whole daemon aborts. An `error`
// event with no listener is such an exception, and the kernel raises one (ENOBUFS) as soon as
// replies outrun the socket's receive buffer, e.g. a thousand instances becoming Master at once
// and each adding its addresses. So every socket here:
// - has an `error` listener (the error is counted and reported, never thrown);
// - has a large receive buffer, and at most MAX_IN_FLIGHT requests outstanding, so replies
//   cannot overflow it in the first place;
// - puts a timeout on every request: a reply lost to an overflow would otherwise leave its
//   caller (and every effect queued behind it) waiting forever. A timed-out request is retried
//   once; the operations are idempotent (an address already there, or already gone, is fine).

import { createRequire } from 'node:module';
import type * as Netlink from 'netlink';
import type { RtNetlinkSocket } from 'netlink';

/** The netlink package (CommonJS), required rather than imported: as an ES import every one of
 * its ~40 files goes through Node's CommonJS export scan first (measured: 67 ms of the engine's
 * start through import, 26 ms through require). */
const { createRtNetlink } = createRequire(import.meta.url)('netlink') as typeof Netlink;

const MAX_IN_FLIGHT = 32;
const RECV_BUFFER = 4 * 1024 * 1024;
const REQUEST_TIMEOUT_MS = 5000;

export class GuardedRtNetlink {
  private rt: RtNetlinkSocket | undefined;
  private inFlight = 0;
  private readonly waiting: Array<() => void> = [];
  /** Socket errors seen (status). */
  errors = 0;

  constructor(private readonly onError: (e: Error) => void = () => undefined) {}

  private socket(): RtNetlinkSocket {
    if (this.rt) return this.rt;
    const rt = createRtNetlink();
    rt.socket.on('error', (e: Error) => {
      this.errors++;
      this.onError(e);
    });
    try {
      rt.socket.setRecvBufferSize(RECV_BUFFER);
    } catch {
      // capped by net.core.rmem_max: the in-flight limit still keeps replies within it
    }
    this.rt = rt;
    return rt;
  }

  /** Runs one request with a free slot, a timeout, and one retry after a timeout. */
  async request<T>(fn: (rt: RtNetlinkSocket, opts: { timeout: number }) => Promise<T>): Promise<T> {
    await this.acquire();
    try {
      try {
        return await fn(this.socket(), { timeout: REQUEST_TIMEOUT_MS });
      } catch (e) {
        if (!/Timeout has been reached/.test((e as Error).message)) throw e;
        return await fn(this.socket(), { timeout: REQUEST_TIMEOUT_MS });
      }
    } finally {
      this.release();
    }
  }

  private acquire(): Promise<void> {
    if (this.inFlight < MAX_IN_FLIGHT) {
      this.inFlight++;
      return Promise.resolve();
    }
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  private release(): void {
    const next = this.waiting.shift();
    if (next) next();
    else this.inFlight--;
  }

  close(): void {
    this.rt?.socket.close();
    this.rt = undefined;
  }
}

/** A short-lived socket for a one-off exchange (VMAC creation), with the same error guard. */
export function oneShotRtNetlink(onError: (e: Error) => void = () => undefined): RtNetlinkSocket {
  const rt = createRtNetlink();
  rt.socket.on('error', onError);
  return rt;
}
