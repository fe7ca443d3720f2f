// hetzner-vip: on a transition to master, assign the instance's Hetzner Cloud Floating IP(s)
// to this server (GET /floating_ips/{id} first: already ours = done; else
// POST /floating_ips/{id}/actions/assign and follow the action to success). Fenced and retried
// by FencedMover: a move for a master state the instance has already left is never applied.

import { definePlugin, monoMs } from 'vigil/plugin';
import { parseRetryAfter, sleep } from '../_shared/backoff.ts';
import { FencedMover, MoveError, type MoveContext } from '../_shared/fenced-mover.ts';
import { configSchema, type HetznerVipConfig } from './config.ts';

interface ApiError {
  error?: { code?: string; message?: string };
}
interface FloatingIpResponse {
  floating_ip?: { id?: number; ip?: string; server?: number | null };
}
interface ActionResponse {
  action?: { id?: number; status?: string; error?: { code?: string; message?: string } | null };
}

export default definePlugin({
  apiVersion: 1,
  name: 'hetzner-vip',
  configSchema,
  setup(ctx) {
    const cfg = ctx.config;
    const base = cfg.endpoint.replace(/\/+$/, '');
    const mover = new FencedMover({ log: ctx.log, retry: cfg.retry, signal: ctx.signal });

    for (const name of Object.keys(cfg.instances)) {
      if (!ctx.instances.some((i) => i.name === name)) ctx.log.warn(`instance '${name}' is not configured; its Floating IP never moves`);
    }

    /** One API call; errors become MoveErrors that know whether a retry can help. */
    async function api<T>(method: 'GET' | 'POST', path: string, signal: AbortSignal, body?: unknown): Promise<{ status: number; json: T & ApiError }> {
      let res: Response;
      try {
        res = await ctx.fetch(`${base}${path}`, {
          method,
          headers: { authorization: `Bearer ${cfg.token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
          body: body === undefined ? undefined : JSON.stringify(body),
          signal: AbortSignal.any([signal, AbortSignal.timeout(cfg.timeout_ms)]),
        });
      } catch (e) {
        // Network errors and timeouts: the request may not have arrived; try again.
        throw new MoveError(`${method} ${path}: ${e instanceof Error ? e.message : String(e)}`, true);
      }
      const text = await res.text().catch(() => '');
      let json = {} as T & ApiError;
      try {
        json = (text ? JSON.parse(text) : {}) as T & ApiError;
      } catch {
        // A proxy's HTML error page: the status code says enough.
      }
      if (res.ok) return { status: res.status, json };
      const code = json.error?.code ?? '';
      const what = `${method} ${path}: HTTP ${res.status}${code ? ` ${code}` : ''}${json.error?.message ? `: ${json.error.message}` : ''}`;
      // 429 rate_limit_exceeded, 5xx, and `locked`/`conflict` (another action on the resource
      // is running) pass; `floating_ip_assigned` may mean a concurrent assign won: re-check.
      const retryable = res.status === 429 || res.status >= 500 || ['locked', 'conflict', 'rate_limit_exceeded', 'floating_ip_assigned', 'timeout'].includes(code);
      throw new MoveError(what, retryable, res.status === 429 ? parseRetryAfter(res.headers.get('retry-after')) : undefined);
    }

    async function waitForAction(actionId: number, signal: AbortSignal): Promise<'done' | 'fenced'> {
      const deadline = monoMs() + cfg.action_timeout_ms;
      for (;;) {
        const { json } = await api<ActionResponse>('GET', `/actions/${actionId}`, signal);
        const status = json.action?.status;
        if (status === 'success') return 'done';
        if (status === 'error') throw new MoveError(`action ${actionId} failed: ${json.action?.error?.code ?? ''} ${json.action?.error?.message ?? ''}`.trim(), true);
        if (monoMs() >= deadline) throw new MoveError(`action ${actionId} still ${status ?? 'unknown'} after ${cfg.action_timeout_ms} ms`, true);
        if (!(await sleep(cfg.action_poll_ms, signal))) return 'fenced';
      }
    }

    function moveFor(inst: HetznerVipConfig['instances'][string]) {
      return async ({ signal }: MoveContext): Promise<'moved' | 'already' | 'fenced'> => {
        let moved = false;
        for (const fip of inst.floating_ip_id) {
          const { json } = await api<FloatingIpResponse>('GET', `/floating_ips/${fip}`, signal);
          if (json.floating_ip?.server === inst.server_id) continue;
          // The fence, right before the one request that changes anything.
          if (signal.aborted) return 'fenced';
          const { json: a } = await api<ActionResponse>('POST', `/floating_ips/${fip}/actions/assign`, signal, { server: inst.server_id });
          moved = true;
          const actionId = a.action?.id;
          if (cfg.wait_for_action && typeof actionId === 'number' && a.action?.status !== 'success') {
            if ((await waitForAction(actionId, signal)) === 'fenced') return 'fenced';
          }
        }
        return moved ? 'moved' : 'already';
      };
    }

    mover.follow(ctx, cfg.instances, moveFor);
    ctx.onStop(() => mover.settled());
  },
});
