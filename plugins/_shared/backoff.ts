// Back-off arithmetic and an abortable sleep, shared by the built-in plugins.

import { setTimeout as delay } from 'node:timers/promises';
import type { RetryPolicy } from './retry-schema.ts';

/** The wait before retry number `retry` (1 = the first retry), jittered. */
export function backoffDelay(policy: RetryPolicy, retry: number, random: () => number = Math.random): number {
  const base = Math.min(policy.max_delay_ms, policy.initial_delay_ms * policy.multiplier ** Math.max(0, retry - 1));
  const spread = base * policy.jitter * (2 * random() - 1);
  return Math.max(0, Math.round(base + spread));
}

/** Retry-After as milliseconds: delta-seconds or an HTTP date; undefined when absent or
 * unparseable. */
export function parseRetryAfter(value: string | null | undefined, now = Date.now()): number | undefined {
  if (value === null || value === undefined || value.trim() === '') return undefined;
  const v = value.trim();
  if (/^\d+$/.test(v)) return Number(v) * 1000;
  const at = Date.parse(v);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, at - now);
}

/** Whether another attempt is allowed after `attempts` attempts. */
export function mayRetry(policy: RetryPolicy, attempts: number): boolean {
  return policy.max_attempts === 0 || attempts < policy.max_attempts;
}

/** Sleeps `ms`; resolves false (instead of throwing) when `signal` aborts first. */
export async function sleep(ms: number, signal: AbortSignal): Promise<boolean> {
  if (signal.aborted) return false;
  try {
    await delay(ms, undefined, { signal });
    return true;
  } catch {
    return false;
  }
}
