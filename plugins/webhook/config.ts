// webhook's config: `plugins.webhook` in the vigil YAML, as the user writes it. Its schema is
// registered with the config loader (src/plugins/sections.ts) and loaded in the engine's main
// thread, so only zod and pure helpers here.

import { z } from 'zod';
import { EVENT_TYPES, type EventType } from 'vigil/plugin';
import { defaultRetry, retrySchema } from '../_shared/retry-schema.ts';

/** What a target receives unless it says otherwise: state changes and failures, not the
 * chatter (reloads, packet-drop summaries, plugin starts). */
export const DEFAULT_EVENTS: readonly EventType[] = ['instance.transition', 'group.transition', 'instance.reasserted', 'instance.fault', 'instance.priority', 'plugin.failed'];

const eventType = z.enum(EVENT_TYPES as [EventType, ...EventType[]]);

export const targetSchema = z
  .object({
    /** A name for logs; the default is the URL without credentials, query or fragment (they
     * may carry tokens). */
    name: z.string().min(1).optional(),
    url: z.url({ protocol: /^https?$/ }),
    /** Event types to send, or ['*'] for every type. */
    events: z.union([z.array(eventType).min(1), z.tuple([z.literal('*')])]).default([...DEFAULT_EVENTS]),
    /** HMAC-SHA256 key: when set, each request carries X-Vigil-Signature: sha256=<hex>. Never
     * logged. */
    secret: z.string().min(1).optional(),
    /** Extra request headers (e.g. Authorization). Values are never logged. */
    headers: z.record(z.string().regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/, 'not a header name'), z.string()).default({}),
    /** Per-request timeout. */
    timeout_ms: z.number().int().positive().default(5000),
    /** Events waiting for this target, at most; when full the oldest non-transition event
     * is dropped first. */
    queue_size: z.number().int().min(1).default(1000),
    retry: retrySchema.default(defaultRetry({ max_attempts: 8 })),
  })
  .strict();

export const configSchema = z
  .object({
    targets: z.array(targetSchema).min(1),
  })
  .strict();

export type WebhookConfig = z.infer<typeof configSchema>;
export type WebhookTarget = z.infer<typeof targetSchema>;

/** A target's name for logs: never the secret, header values, userinfo or query string. */
export function targetLabel(t: Pick<WebhookTarget, 'name' | 'url'>): string {
  if (t.name) return t.name;
  const u = new URL(t.url);
  return `${u.protocol}//${u.host}${u.pathname}`;
}
