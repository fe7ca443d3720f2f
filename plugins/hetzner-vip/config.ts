// hetzner-vip's config: `plugins.hetzner-vip` in the vigil YAML, as the user writes it. Its
// schema is registered with the config loader (src/plugins/sections.ts) and loaded in the
// engine's main thread, so only zod and pure helpers here.

import { z } from 'zod';
import { defaultRetry, retrySchema } from '../_shared/retry-schema.ts';

const id = z.number().int().positive();

export const instanceSchema = z
  .object({
    /** The Floating IP(s) that follow this instance's mastership. */
    floating_ip_id: z.union([id, z.array(id).min(1)]).transform((v) => (Array.isArray(v) ? v : [v])),
    /** This node's server ID (the Floating IP is assigned to it on master). */
    server_id: id,
  })
  .strict();

export const configSchema = z
  .object({
    /** A Hetzner Cloud API token with read/write access to the project. Never logged. */
    token: z.string().min(1),
    endpoint: z.url().default('https://api.hetzner.cloud/v1'),
    /** Per-request timeout. */
    timeout_ms: z.number().int().positive().default(10_000),
    /** Wait for the assign action to finish (polling it) before calling the move done. */
    wait_for_action: z.boolean().default(true),
    action_poll_ms: z.number().int().positive().default(1000),
    action_timeout_ms: z.number().int().positive().default(60_000),
    retry: retrySchema.default(defaultRetry()),
    /** Instance name -> its Floating IP(s) and this node's server. */
    instances: z.record(z.string().min(1), instanceSchema),
  })
  .strict();

export type HetznerVipConfig = z.infer<typeof configSchema>;

