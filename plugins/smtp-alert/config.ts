// smtp-alert's config: keepalived's e-mail alerts, derived from global_defs
// (notification_email, notification_email_from, smtp_server, smtp_helo_name,
// smtp_connect_timeout, smtp_alert, smtp_alert_vrrp, smtp_alert_checker, no_email_faults,
// router_id) and the smtp_alert of every vrrp_instance, vrrp_sync_group, virtual_server and
// real_server. Loaded in the engine's main thread: zod, node:os and the pure name resolution of
// src/lvs/resolve.ts only.
//
// keepalived's rules (core/global_data.c, vrrp/vrrp.c, check/check_data.c, core/smtp.c):
// - no mail at all unless notification_email has an address and smtp_server is set;
// - an instance's or sync group's smtp_alert defaults to smtp_alert_vrrp, else smtp_alert,
//   else off; a virtual server's to smtp_alert_checker, else smtp_alert, else off; a real
//   server's to smtp_alert_checker, else smtp_alert, else ON (keepalived's own inconsistency);
// - router_id, the HELO name and the sender default to the host name (the sender as
//   USER@HOST, USER the daemon's user); smtp_connect_timeout defaults to 30 s; port 25.
//
// A `plugins.smtp-alert` section may tune what keepalived does not have: retries (keepalived
// tries once), STARTTLS and authentication.

import { hostname, userInfo } from 'node:os';
import { z } from 'zod';
import type { Config } from '../../src/config/schema.ts';
import { resolveVirtualServer } from '../../src/lvs/resolve.ts';
import { defaultRetry, retrySchema } from '../_shared/retry-schema.ts';

/** keepalived's DEFAULT_SMTP_CONNECTION_TIMEOUT, seconds. */
export const DEFAULT_TIMEOUT_S = 30;
/** keepalived's SMTP_PORT_STR. */
export const DEFAULT_PORT = 25;

/** Attempts in all unless configured: the first and three retries, after ~1, 2 and 4 s. */
export const DEFAULT_ATTEMPTS = 4;

export const virtualServerAlertsSchema = z
  .object({
    /** Mail on the virtual server's quorum changes. */
    alert: z.boolean(),
    /** Real servers (keepalived's names) that mail on their up/down. */
    real_servers: z.array(z.string().min(1)).default([]),
  })
  .strict();

/** What the plugins.smtp-alert section may set (no defaults here: `vigil -t` validates the
 * section with it, and the plugin's schema fills in the rest). */
export const tuningSchema = z
  .object({
    /** The back-off between attempts (see the webhook's retry); attempts in all 1..20. */
    retry: z
      .object({
        initial_delay_ms: z.number().int().nonnegative().optional(),
        max_delay_ms: z.number().int().nonnegative().optional(),
        multiplier: z.number().min(1).optional(),
        jitter: z.number().min(0).max(1).optional(),
        max_attempts: z.number().int().min(1).max(20).optional(),
      })
      .strict()
      .optional(),
    /** Upgrade with STARTTLS when the server offers it (keepalived never does). */
    starttls: z.boolean().optional(),
    /** Log in (keepalived never does). Never logged. */
    auth: z.object({ user: z.string().min(1), pass: z.string() }).strict().optional(),
    /** Mails waiting or being retried, at most; the oldest is dropped beyond. */
    queue_size: z.number().int().min(1).optional(),
  })
  .strict();

export const schema = z
  .object({
    host: z.string().min(1),
    port: z.number().int().min(1).max(65535).default(DEFAULT_PORT),
    helo_name: z.string().min(1).default('localhost'),
    from: z.string().min(1),
    to: z.array(z.string().min(1)).min(1),
    router_id: z.string().min(1),
    /** smtp_connect_timeout: the connection and each reply. */
    timeout_ms: z.number().int().positive().default(DEFAULT_TIMEOUT_S * 1000),
    no_email_faults: z.boolean().default(false),
    instances: z.array(z.string().min(1)).default([]),
    groups: z.array(z.string().min(1)).default([]),
    /** By keepalived's virtual server name. */
    virtual_servers: z.record(z.string().min(1), virtualServerAlertsSchema).default({}),
    /** Bounded: a mail is given up after max_attempts (keepalived gives up after one). */
    retry: retrySchema
      .refine((r) => r.max_attempts >= 1 && r.max_attempts <= 20, { message: 'max_attempts must be 1..20: a mail is given up in the end', path: ['max_attempts'] })
      .default(defaultRetry({ max_attempts: DEFAULT_ATTEMPTS })),
    starttls: z.boolean().default(false),
    auth: z.object({ user: z.string().min(1), pass: z.string() }).strict().optional(),
    queue_size: z.number().int().min(1).default(100),
  })
  .strict();

export type SmtpAlertConfig = z.infer<typeof schema>;

/** The host's name, keepalived's local_name (it asks getaddrinfo for the canonical name; the
 * node name is what most hosts have there). */
export function localName(): string {
  return hostname() || 'localhost';
}

function daemonUser(): string {
  try {
    return userInfo().username;
  } catch {
    return 'root';
  }
}

/** `ADDRESS [PORT]`, as global_defs.smtp_server holds it. */
export function parseServer(text: string): { host: string; port: number } {
  const [host = '', port] = text.trim().split(/\s+/);
  return { host, port: port === undefined ? DEFAULT_PORT : Number(port) };
}

const pick = (...vals: Array<boolean | undefined>): boolean | undefined => vals.find((v) => v !== undefined);

export function fromVigilConfig(config: Config, host: string = localName(), user: string = daemonUser()): z.input<typeof schema> | undefined {
  const g = config.global_defs;
  if (g.notification_email.length === 0 || g.smtp_server === undefined) return undefined;
  const server = parseServer(g.smtp_server);

  const vrrpDefault = pick(g.smtp_alert_vrrp, g.smtp_alert) ?? false;
  const instances = Object.entries(config.vrrp_instance)
    .filter(([, i]) => i.smtp_alert ?? vrrpDefault)
    .map(([n]) => n);
  const groups = Object.entries(config.vrrp_sync_group)
    .filter(([, sg]) => sg.smtp_alert ?? vrrpDefault)
    .map(([n]) => n);

  const checkerDefault = pick(g.smtp_alert_checker, g.smtp_alert);
  const virtualServers: Record<string, z.input<typeof virtualServerAlertsSchema>> = {};
  for (const vs of config.virtual_server) {
    if (vs.real_server.length === 0) continue; // not run by the balancer
    let resolved: ReturnType<typeof resolveVirtualServer>;
    try {
      resolved = resolveVirtualServer(config, vs);
    } catch {
      continue; // a group entry the balancer cannot expand either
    }
    const alert = vs.smtp_alert ?? checkerDefault ?? false;
    const realServers = resolved.realServers.filter((_, i) => vs.real_server[i]?.smtp_alert ?? checkerDefault ?? true).map((rs) => rs.name);
    if (alert || realServers.length > 0) virtualServers[resolved.name] = { alert, real_servers: realServers };
  }
  if (instances.length === 0 && groups.length === 0 && Object.keys(virtualServers).length === 0) return undefined;

  const section = config.plugins['smtp-alert'];
  const tuning = typeof section === 'object' && section !== null ? (section as z.input<typeof tuningSchema>) : {};
  return {
    host: server.host,
    port: server.port,
    helo_name: g.smtp_helo_name ?? host,
    from: g.notification_email_from ?? `${user}@${host}`,
    to: [...g.notification_email],
    router_id: g.router_id ?? host,
    // keepalived: 0 means 1
    timeout_ms: Math.max(1, g.smtp_connect_timeout ?? DEFAULT_TIMEOUT_S) * 1000,
    no_email_faults: g.no_email_faults,
    instances,
    groups,
    virtual_servers: virtualServers,
    ...tuning,
    ...(tuning.retry !== undefined ? { retry: { max_attempts: DEFAULT_ATTEMPTS, ...tuning.retry } } : {}),
  };
}
