// aws-vip's config: `plugins.aws-vip` in the vigil YAML, as the user writes it. Its schema is
// registered with the config loader (src/plugins/sections.ts) and loaded in the engine's main
// thread, so only zod and pure helpers here.

import { isIPv4 } from 'node:net';
import { z } from 'zod';
import { defaultRetry, retrySchema } from '../_shared/retry-schema.ts';

const ipv4 = z.string().refine((s) => isIPv4(s), { message: 'not an IPv4 address' });

export const instanceSchema = z
  .object({
    /** This node's ENI: secondary private IPs are assigned to it, the Elastic IP associated
     * with it. */
    network_interface_id: z.string().regex(/^eni-[0-9a-f]+$/, 'not an ENI id (eni-...)'),
    /** Secondary private IP(s) to (re)assign to the ENI (AssignPrivateIpAddresses with
     * AllowReassignment). */
    private_ip: z.union([ipv4, z.array(ipv4).min(1)]).optional(),
    /** Elastic IP allocation to associate with the ENI (AssociateAddress with
     * AllowReassociation). */
    allocation_id: z.string().regex(/^eipalloc-[0-9a-f]+$/, 'not an allocation id (eipalloc-...)').optional(),
    /** The ENI's private IP the Elastic IP maps to; default: the first `private_ip`, else the
     * ENI's primary address. */
    eip_private_ip: ipv4.optional(),
  })
  .strict()
  .refine((i) => i.private_ip !== undefined || i.allocation_id !== undefined, { message: 'give private_ip and/or allocation_id' })
  .transform((i) => ({
    network_interface_id: i.network_interface_id,
    private_ips: i.private_ip === undefined ? [] : Array.isArray(i.private_ip) ? i.private_ip : [i.private_ip],
    allocation_id: i.allocation_id,
    eip_private_ip: i.eip_private_ip ?? (Array.isArray(i.private_ip) ? i.private_ip[0] : i.private_ip),
  }));

export const configSchema = z
  .object({
    region: z.string().min(1),
    /** Override the EC2 endpoint (VPC endpoints, tests). */
    endpoint: z.url().optional(),
    /** Static credentials; without them the SDK's default chain is used (environment, shared
     * files, instance role). Never logged. */
    credentials: z
      .object({
        access_key_id: z.string().min(1),
        secret_access_key: z.string().min(1),
        session_token: z.string().min(1).optional(),
      })
      .strict()
      .optional(),
    /** Per-request timeout. */
    timeout_ms: z.number().int().positive().default(10_000),
    retry: retrySchema.default(defaultRetry()),
    /** Instance name -> the addresses that follow its mastership to this node. */
    instances: z.record(z.string().min(1), instanceSchema),
  })
  .strict();

export type AwsVipConfig = z.infer<typeof configSchema>;
export type AwsVipInstance = AwsVipConfig['instances'][string];

