// aws-vip: on a transition to master, bring the instance's addresses to this node through the
// EC2 API (official SDK: SigV4 and the query protocol are its business):
//   - secondary private IPs: DescribeNetworkInterfaces, then AssignPrivateIpAddresses with
//     AllowReassignment for the ones not on our ENI yet;
//   - an Elastic IP: DescribeAddresses, then AssociateAddress with AllowReassociation unless it
//     is already associated with our ENI (and private IP).
// Describing first makes a move idempotent and cheap, and gives the fence a last word before
// anything changes: FencedMover aborts a move whose master state is gone.

import {
  AssignPrivateIpAddressesCommand,
  AssociateAddressCommand,
  DescribeAddressesCommand,
  DescribeNetworkInterfacesCommand,
  EC2Client,
  type EC2ClientConfig,
} from '@aws-sdk/client-ec2';
import { definePlugin } from 'vigil/plugin';
import { FencedMover, MoveError, type MoveContext } from '../_shared/fenced-mover.ts';
import { configSchema, type AwsVipInstance } from './config.ts';

const THROTTLING = new Set(['RequestLimitExceeded', 'Throttling', 'ThrottlingException', 'RequestThrottled', 'TooManyRequestsException', 'InsufficientAddressCapacity']);

/** Whether an SDK error is worth retrying: server faults, throttling, and anything that never
 * got an HTTP answer (connection refused, reset, timeout). Client errors (bad ids, missing
 * permissions) are not: retrying cannot fix the config. */
export function classify(e: unknown, what: string): MoveError {
  const err = e as { name?: string; message?: string; $fault?: string; $metadata?: { httpStatusCode?: number } };
  const status = err.$metadata?.httpStatusCode;
  const name = err.name ?? 'Error';
  const retryable = status === undefined || status >= 500 || status === 429 || err.$fault === 'server' || THROTTLING.has(name);
  return new MoveError(`${what}: ${status !== undefined ? `HTTP ${status} ` : ''}${name}: ${err.message ?? String(e)}`, retryable);
}

export default definePlugin({
  apiVersion: 1,
  name: 'aws-vip',
  configSchema,
  setup(ctx) {
    const cfg = ctx.config;
    const clientConfig: EC2ClientConfig = {
      region: cfg.region,
      // Retries are ours (FencedMover): an SDK-internal retry would not see the fence.
      maxAttempts: 1,
    };
    if (cfg.endpoint) clientConfig.endpoint = cfg.endpoint;
    if (cfg.credentials) {
      clientConfig.credentials = {
        accessKeyId: cfg.credentials.access_key_id,
        secretAccessKey: cfg.credentials.secret_access_key,
        ...(cfg.credentials.session_token ? { sessionToken: cfg.credentials.session_token } : {}),
      };
    }
    const ec2 = new EC2Client(clientConfig);
    const mover = new FencedMover({ log: ctx.log, retry: cfg.retry, signal: ctx.signal });

    for (const name of Object.keys(cfg.instances)) {
      if (!ctx.instances.some((i) => i.name === name)) ctx.log.warn(`instance '${name}' is not configured; its addresses never move`);
    }

    const opts = (signal: AbortSignal) => ({ abortSignal: AbortSignal.any([signal, AbortSignal.timeout(cfg.timeout_ms)]) });

    function moveFor(inst: AwsVipInstance) {
      return async ({ signal }: MoveContext): Promise<'moved' | 'already' | 'fenced'> => {
        let moved = false;
        const eni = inst.network_interface_id;
        if (inst.private_ips.length > 0) {
          let have: string[];
          try {
            const d = await ec2.send(new DescribeNetworkInterfacesCommand({ NetworkInterfaceIds: [eni] }), opts(signal));
            have = (d.NetworkInterfaces?.[0]?.PrivateIpAddresses ?? []).map((p) => p.PrivateIpAddress ?? '');
          } catch (e) {
            throw classify(e, `DescribeNetworkInterfaces ${eni}`);
          }
          const missing = inst.private_ips.filter((ip) => !have.includes(ip));
          if (missing.length > 0) {
            if (signal.aborted) return 'fenced';
            try {
              await ec2.send(new AssignPrivateIpAddressesCommand({ NetworkInterfaceId: eni, PrivateIpAddresses: missing, AllowReassignment: true }), opts(signal));
            } catch (e) {
              throw classify(e, `AssignPrivateIpAddresses ${missing.join(',')} -> ${eni}`);
            }
            moved = true;
          }
        }
        if (inst.allocation_id) {
          const alloc = inst.allocation_id;
          let current: { NetworkInterfaceId?: string; PrivateIpAddress?: string } | undefined;
          try {
            const d = await ec2.send(new DescribeAddressesCommand({ AllocationIds: [alloc] }), opts(signal));
            current = d.Addresses?.[0];
          } catch (e) {
            throw classify(e, `DescribeAddresses ${alloc}`);
          }
          const ours = current?.NetworkInterfaceId === eni && (inst.eip_private_ip === undefined || current.PrivateIpAddress === inst.eip_private_ip);
          if (!ours) {
            if (signal.aborted) return 'fenced';
            try {
              await ec2.send(
                new AssociateAddressCommand({
                  AllocationId: alloc,
                  NetworkInterfaceId: eni,
                  ...(inst.eip_private_ip ? { PrivateIpAddress: inst.eip_private_ip } : {}),
                  AllowReassociation: true,
                }),
                opts(signal),
              );
            } catch (e) {
              throw classify(e, `AssociateAddress ${alloc} -> ${eni}`);
            }
            moved = true;
          }
        }
        return moved ? 'moved' : 'already';
      };
    }

    mover.follow(ctx, cfg.instances, moveFor);
    ctx.onStop(async () => {
      await mover.settled();
      ec2.destroy();
    });
  },
});
