// webhook: POSTs selected bus events, as JSON exactly as published (envelope included), to
// each configured target. See README.md for the request format and signature.
//
// Each target has its own bounded queue and its own delivery loop, so a slow or dead target
// holds back nobody but itself; the event handler only enqueues and returns, so the plugin's
// event dispatch (and the engine behind it) never waits for HTTP. A target receives its events
// in seq order, one at a time: the next is sent once the previous one was delivered or given up.

import { createHmac } from 'node:crypto';
import { definePlugin, monoMs, type PluginContext, type VigilEvent } from 'vigil/plugin';
import { backoffDelay, mayRetry, parseRetryAfter, sleep } from '../_shared/backoff.ts';
import { configSchema, targetLabel, type WebhookTarget } from './config.ts';

/** How often, at most, drops are logged per target (they can come in floods when a target is
 * down for long). */
const DROP_LOG_INTERVAL_MS = 5000;

const isTransition = (e: VigilEvent) => e.type === 'instance.transition' || e.type === 'group.transition';

/** The signature header value for a body: `sha256=` + hex HMAC-SHA256 of the raw body bytes. */
export function signature(secret: string, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(body, 'utf8').digest('hex')}`;
}

type Outcome = { ok: true } | { ok: false; retry: boolean; why: string; retryAfterMs?: number };

class TargetQueue {
  private readonly waiting: VigilEvent[] = [];
  private pumping = false;
  readonly label: string;
  private readonly url: string;
  private readonly baseHeaders: Record<string, string>;
  dropped = 0;
  private dropsUnlogged = 0;
  private lastDropLog = -Infinity;
  delivered = 0;
  failed = 0;

  constructor(
    private readonly t: WebhookTarget,
    private readonly ctx: PluginContext<unknown>,
  ) {
    this.label = targetLabel(t);
    // fetch refuses URLs with credentials: move them into a Basic Authorization header
    // (unless one is configured) so `https://user:pass@host/` works as users expect.
    const u = new URL(t.url);
    const headers: Record<string, string> = { ...t.headers };
    if ((u.username || u.password) && !Object.keys(headers).some((h) => h.toLowerCase() === 'authorization')) {
      headers.authorization = `Basic ${Buffer.from(`${decodeURIComponent(u.username)}:${decodeURIComponent(u.password)}`).toString('base64')}`;
    }
    u.username = '';
    u.password = '';
    this.url = u.href;
    this.baseHeaders = headers;
  }

  wants(e: VigilEvent): boolean {
    return this.t.events[0] === '*' || (this.t.events as readonly string[]).includes(e.type);
  }

  enqueue(e: VigilEvent): void {
    // Insert by seq: events of different instances can reach the handler slightly out of
    // publication order (each instance has its own dispatch queue).
    let i = this.waiting.length;
    while (i > 0 && this.waiting[i - 1]!.seq > e.seq) i--;
    this.waiting.splice(i, 0, e);
    if (this.waiting.length > this.t.queue_size) this.dropOne();
    if (!this.pumping) {
      this.pumping = true;
      // Start on the next macrotask, so events published together are all queued (and sorted)
      // before the first is sent.
      setImmediate(() => void this.pump());
    }
  }

  private dropOne(): void {
    const victim = this.waiting.findIndex((e) => !isTransition(e));
    const [gone] = this.waiting.splice(victim >= 0 ? victim : 0, 1);
    this.dropped++;
    this.dropsUnlogged++;
    if (monoMs() - this.lastDropLog >= DROP_LOG_INTERVAL_MS) this.logDrops(gone);
  }

  private logDrops(last?: VigilEvent): void {
    if (this.dropsUnlogged === 0) return;
    const lastText = last ? ` (last: seq ${last.seq} ${last.type})` : '';
    this.ctx.log.warn(`webhook ${this.label}: queue full (${this.t.queue_size}), dropped ${this.dropsUnlogged} event(s)${lastText}; ${this.dropped} dropped in all`);
    this.dropsUnlogged = 0;
    this.lastDropLog = monoMs();
  }

  get pending(): number {
    return this.waiting.length;
  }

  private async pump(): Promise<void> {
    try {
      for (let e = this.waiting.shift(); e && !this.ctx.signal.aborted; e = this.waiting.shift()) {
        await this.deliver(e);
      }
    } finally {
      this.pumping = false;
      this.logDrops();
    }
  }

  private async deliver(e: VigilEvent): Promise<void> {
    const body = JSON.stringify(e);
    const { retry } = this.t;
    for (let attempt = 1; ; attempt++) {
      const r = await this.post(e, body, attempt);
      if (r.ok) {
        this.delivered++;
        return;
      }
      if (this.ctx.signal.aborted) return;
      if (!r.retry) {
        this.failed++;
        this.ctx.log.warn(`webhook ${this.label}: event seq ${e.seq} (${e.type}) rejected: ${r.why}; not retrying`);
        return;
      }
      if (!mayRetry(retry, attempt)) {
        this.failed++;
        this.ctx.log.error(`webhook ${this.label}: event seq ${e.seq} (${e.type}) not delivered after ${attempt} attempts: ${r.why}`);
        return;
      }
      const waitMs = r.retryAfterMs !== undefined ? Math.min(r.retryAfterMs, retry.max_retry_after_ms) : backoffDelay(retry, attempt);
      this.ctx.log.debug(`webhook ${this.label}: event seq ${e.seq} attempt ${attempt} failed (${r.why}); retrying in ${waitMs} ms`);
      if (!(await sleep(waitMs, this.ctx.signal))) return;
    }
  }

  private async post(e: VigilEvent, body: string, attempt: number): Promise<Outcome> {
    const timestamp = String(Math.floor(Date.now() / 1000));
    const headers: Record<string, string> = {
      ...this.baseHeaders,
      'content-type': 'application/json',
      'user-agent': 'vigil-webhook/1',
      'x-vigil-event': e.type,
      'x-vigil-seq': String(e.seq),
      'x-vigil-attempt': String(attempt),
      'x-vigil-timestamp': timestamp,
    };
    if (this.t.secret) headers['x-vigil-signature'] = signature(this.t.secret, body);
    let res: Response;
    try {
      res = await this.ctx.fetch(this.url, {
        method: 'POST',
        headers,
        body,
        // A redirect is not followed: it would carry the signature and headers elsewhere.
        redirect: 'manual',
        signal: AbortSignal.any([this.ctx.signal, AbortSignal.timeout(this.t.timeout_ms)]),
      });
    } catch (err) {
      const cause = err instanceof Error && err.name === 'TimeoutError' ? `timed out after ${this.t.timeout_ms} ms` : errorMessage(err);
      return { ok: false, retry: true, why: cause };
    }
    // Drain the body so the connection can be reused; its content does not matter.
    await res.arrayBuffer().catch(() => undefined);
    if (res.status >= 200 && res.status < 300) return { ok: true };
    const retryable = res.status === 408 || res.status === 429 || res.status >= 500;
    const retryAfterMs = res.status === 429 || res.status === 503 ? parseRetryAfter(res.headers.get('retry-after')) : undefined;
    return { ok: false, retry: retryable, why: `HTTP ${res.status}`, ...(retryAfterMs !== undefined ? { retryAfterMs } : {}) };
  }
}

function errorMessage(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  // undici hides the socket error in `cause` ("fetch failed" alone says nothing).
  const cause = (err as Error & { cause?: unknown }).cause;
  return cause instanceof Error ? `${err.message}: ${cause.message}` : err.message;
}

export default definePlugin({
  apiVersion: 1,
  name: 'webhook',
  configSchema,
  setup(ctx) {
    const queues = ctx.config.targets.map((t) => new TargetQueue(t, ctx as PluginContext<unknown>));
    ctx.on('*', (e) => {
      for (const q of queues) if (q.wants(e)) q.enqueue(e);
    });
    ctx.onStop(() => {
      for (const q of queues) {
        if (q.pending > 0 || q.dropped > 0 || q.failed > 0) {
          ctx.log.info(`webhook ${q.label}: stopping with ${q.pending} event(s) undelivered; ${q.delivered} delivered, ${q.failed} failed, ${q.dropped} dropped`);
        }
      }
    });
  },
});
