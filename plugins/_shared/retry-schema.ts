// The retry policy the built-in plugins share (webhook deliveries, cloud VIP moves). Only zod
// here: config.ts files import it, and they are loaded in the engine's main thread.

import { z } from 'zod';

export const retrySchema = z
  .object({
    /** Delay before the first retry, in milliseconds. */
    initial_delay_ms: z.number().int().nonnegative().default(1000),
    /** The exponential back-off never waits longer than this between attempts. */
    max_delay_ms: z.number().int().nonnegative().default(30_000),
    multiplier: z.number().min(1).default(2),
    /** Each delay is spread by +/- this fraction, so nodes that failed together do not retry
     * in lockstep. */
    jitter: z.number().min(0).max(1).default(0.2),
    /** Attempts in all, the first included; 0 = no limit. */
    max_attempts: z.number().int().nonnegative().default(0),
    /** A server's Retry-After is honoured up to this many milliseconds. */
    max_retry_after_ms: z.number().int().nonnegative().default(300_000),
  })
  .strict();

export type RetryPolicy = z.infer<typeof retrySchema>;

/** The policy with every default: for `.default()` of an optional `retry` section. */
export function defaultRetry(overrides: Partial<RetryPolicy> = {}): RetryPolicy {
  return { ...retrySchema.parse({}), ...overrides };
}
