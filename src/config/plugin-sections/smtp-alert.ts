// smtp-alert's section: keepalived's e-mail alerts, from global_defs (notification_email,
// notification_email_from, smtp_server, smtp_helo_name, smtp_connect_timeout, smtp_alert,
// smtp_alert_vrrp, smtp_alert_checker, no_email_faults, router_id) and the smtp_alert of every
// vrrp_instance, vrrp_sync_group, virtual_server and real_server, by keepalived's rules
// (core/global_data.c, vrrp/vrrp.c, check/check_data.c, core/smtp.c):
// - no mail at all unless notification_email has an address and smtp_server is set;
// - an instance's or sync group's smtp_alert defaults to smtp_alert_vrrp, else smtp_alert,
//   else off; a virtual server's to smtp_alert_checker, else smtp_alert, else off; a real
//   server's to smtp_alert_checker, else smtp_alert, else ON (keepalived's own inconsistency);
// - router_id, the HELO name and the sender default to the host name (the sender as
//   USER@HOST, USER the daemon's user); smtp_connect_timeout defaults to 30 s; port 25.
// The user's own `plugins.smtp-alert` section adds what keepalived does not have (retries,
// STARTTLS, authentication): merged over the derived keys, as written.

import { hostname, userInfo } from 'node:os';
import type { Path } from '../diagnostics.ts';
import type { Config } from '../schema.ts';
import { resolveVirtualServer } from '../../lvs/resolve.ts';

/** keepalived's DEFAULT_SMTP_CONNECTION_TIMEOUT, seconds. */
export const DEFAULT_TIMEOUT_S = 30;
/** keepalived's SMTP_PORT_STR. */
export const DEFAULT_PORT = 25;

export interface VirtualServerAlerts {
  alert: boolean;
  real_servers: string[];
}

export interface SmtpAlertSection {
  host: string;
  port: number;
  helo_name: string;
  from: string;
  to: string[];
  router_id: string;
  timeout_ms: number;
  no_email_faults: boolean;
  instances: string[];
  groups: string[];
  virtual_servers: Record<string, VirtualServerAlerts>;
  /** And what the user's section tunes (retry, starttls, auth, queue_size). */
  [tuning: string]: unknown;
}

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

export function deriveSmtpAlert(config: Config, written: unknown, host: string = localName(), user: string = daemonUser()): SmtpAlertSection | undefined {
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
  const virtualServers: Record<string, VirtualServerAlerts> = {};
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

  const tuning = typeof written === 'object' && written !== null && !Array.isArray(written) ? (written as Record<string, unknown>) : {};
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
  };
}

const FIELD: Record<string, string> = {
  host: 'smtp_server',
  port: 'smtp_server',
  helo_name: 'smtp_helo_name',
  from: 'notification_email_from',
  to: 'notification_email',
  router_id: 'router_id',
  timeout_ms: 'smtp_connect_timeout',
  no_email_faults: 'no_email_faults',
};

export function smtpAlertSource(path: Path, written: unknown): Path {
  const top = path[0];
  if (top !== undefined && typeof written === 'object' && written !== null && (written as Record<string, unknown>)[String(top)] !== undefined) return ['plugins', 'smtp-alert', ...path];
  const field = FIELD[String(top)];
  if (field) return ['global_defs', field];
  if (top === 'instances') return ['vrrp_instance'];
  if (top === 'groups') return ['vrrp_sync_group'];
  if (top === 'virtual_servers') return ['virtual_server'];
  return ['global_defs'];
}
