// smtp-alert: keepalived's e-mail alerts (global_defs notification_email, smtp_server, ...;
// smtp_alert on instances, sync groups, virtual and real servers). See config.ts for what is
// derived from the keepalived keywords and message.ts for the mails themselves.
//
// Which events mail, as keepalived (vrrp/vrrp_notify.c, check/ipwrapper.c, check/check_tcp.c):
// - instance.transition / group.transition to MASTER, BACKUP, FAULT, and STOP (initialize at
//   shutdown), when that instance or group has smtp_alert; never twice in a row for one state
//   (keepalived's last_email_state); FAULT not at all with no_email_faults (and the state is then
//   not remembered, so BACKUP -> FAULT -> BACKUP sends nothing);
// - realserver.up / realserver.down of a real server with smtp_alert (not the `start` of a
//   server that begins in the pool: keepalived mails only when a checker's state changes;
//   `shutdown` mails `=> Shutting down <=`);
// - virtualserver.quorum of a virtual server with smtp_alert.
//
// Sending happens here, in the plugin's worker: a handler only queues the mail and returns (a
// STOP mail's handler waits up to STOP_GRACE_MS for its first attempt, so it can go out while
// the daemon drains its plugins at shutdown). Each mail is its own SMTP connection (nodemailer,
// no pool), as keepalived opens one per alert; one that fails (refused, timed out, a 4xx/5xx
// reply) is retried with exponential back-off up to retry.max_attempts attempts in all, each
// failure logged with the server's error, then given up with an error line. Credentials
// (auth) are never logged.

import nodemailer, { type Transporter } from 'nodemailer';
import type SMTPTransport from 'nodemailer/lib/smtp-transport/index.js';
import { definePlugin, type EventOf, type PluginContext } from 'vigil/plugin';
import { backoffDelay, sleep } from '../_shared/backoff.ts';
import { configSchema, type SmtpAlertConfig } from './config.ts';
import { envelopeAddress, formatMessage, groupAlert, instanceAlert, quorumAlert, realServerAlert, vrrpState, type Alert, type VrrpState } from './message.ts';

/** How long a STOP mail's handler waits for its first attempt at shutdown. */
const STOP_GRACE_MS = 2000;

interface Job {
  alert: Alert;
  date: Date;
  abort: AbortController;
}

class Mailer {
  private readonly transport: Transporter<SMTPTransport.SentMessageInfo>;
  private readonly jobs = new Set<Job>();
  private readonly server: string;
  sent = 0;
  failed = 0;
  dropped = 0;

  constructor(
    private readonly cfg: SmtpAlertConfig,
    private readonly ctx: PluginContext<unknown>,
  ) {
    this.server = cfg.host.includes(':') ? `[${cfg.host}]:${cfg.port}` : `${cfg.host}:${cfg.port}`;
    const options: SMTPTransport.Options = {
      host: cfg.host,
      port: cfg.port,
      secure: false,
      // keepalived speaks plain SMTP; STARTTLS only when asked for
      ignoreTLS: !cfg.starttls,
      name: cfg.helo_name,
      connectionTimeout: cfg.timeout_ms,
      greetingTimeout: cfg.timeout_ms,
      socketTimeout: cfg.timeout_ms,
      logger: false,
      debug: false,
    };
    if (cfg.auth) options.auth = { user: cfg.auth.user, pass: cfg.auth.pass };
    this.transport = nodemailer.createTransport(options);
  }

  get pending(): number {
    return this.jobs.size;
  }

  /** Queues a mail; resolves when its first attempt has finished (delivered or failed). */
  send(alert: Alert, date: Date): Promise<void> {
    const job: Job = { alert, date, abort: new AbortController() };
    this.jobs.add(job);
    if (this.jobs.size > this.cfg.queue_size) {
      const oldest = this.jobs.values().next().value!;
      oldest.abort.abort();
      this.jobs.delete(oldest);
      this.dropped++;
      this.ctx.log.warn(`smtp-alert: more than ${this.cfg.queue_size} mails waiting for ${this.server}; dropped '${oldest.alert.subject}'`);
    }
    let firstDone!: () => void;
    const first = new Promise<void>((r) => (firstDone = r));
    void this.run(job, firstDone).finally(() => {
      firstDone();
      this.jobs.delete(job);
    });
    return first;
  }

  private async run(job: Job, firstDone: () => void): Promise<void> {
    const signal = AbortSignal.any([this.ctx.signal, job.abort.signal]);
    const { retry } = this.cfg;
    const raw = formatMessage(job.alert, this.cfg.from, this.cfg.to, job.date);
    for (let attempt = 1; ; attempt++) {
      const why = await this.attempt(raw);
      firstDone();
      if (why === undefined) {
        this.sent++;
        this.ctx.log.info(`smtp-alert: sent '${job.alert.subject}' via ${this.server}${attempt > 1 ? ` (attempt ${attempt})` : ''}`);
        return;
      }
      if (signal.aborted) return;
      if (attempt >= retry.max_attempts) {
        this.failed++;
        this.ctx.log.error(`smtp-alert: gave up '${job.alert.subject}' after ${attempt} attempt(s) to ${this.server}: ${why}`);
        return;
      }
      const waitMs = backoffDelay(retry, attempt);
      this.ctx.log.warn(`smtp-alert: '${job.alert.subject}' not sent to ${this.server} (attempt ${attempt} of ${retry.max_attempts}): ${why}; retrying in ${waitMs} ms`);
      if (!(await sleep(waitMs, signal))) return;
    }
  }

  /** One SMTP session; undefined when the mail was accepted, else why not. */
  private async attempt(raw: string): Promise<string | undefined> {
    try {
      const info = await this.transport.sendMail({
        envelope: { from: envelopeAddress(this.cfg.from), to: this.cfg.to.map(envelopeAddress) },
        raw,
      });
      if (info.rejected.length > 0 && info.accepted.length === 0) return `every recipient rejected: ${info.response}`;
      return undefined;
    } catch (err) {
      return errorText(err);
    }
  }

  close(): void {
    for (const j of this.jobs) j.abort.abort();
    this.transport.close();
  }
}

/** nodemailer's error, its SMTP reply if any; never the options (credentials). */
function errorText(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const e = err as Error & { code?: string; responseCode?: number; command?: string };
  const parts = [e.message.replace(/\s+/g, ' ').trim()];
  if (e.code && !e.message.includes(e.code)) parts.push(`(${e.code})`);
  return parts.join(' ');
}

export default definePlugin({
  apiVersion: 1,
  name: 'smtp-alert',
  configSchema,
  setup(ctx) {
    const cfg = ctx.config;
    const mailer = new Mailer(cfg, ctx as PluginContext<unknown>);
    const instances = new Set(cfg.instances);
    const groups = new Set(cfg.groups);
    // keepalived's last_email_state, per instance and group
    const lastMailed = new Map<string, VrrpState>();
    // virtual servers whose omega shutdown has begun (their quorum mail says so)
    const stopping = new Set<string>();

    const vrrp = (key: string, state: VrrpState | undefined, alert: (s: VrrpState) => Alert, time: string): Promise<void> | undefined => {
      if (state === undefined) return undefined;
      if (state === 'FAULT' && cfg.no_email_faults) return undefined;
      if (lastMailed.get(key) === state) return undefined;
      lastMailed.set(key, state);
      const first = mailer.send(alert(state), new Date(time));
      // at shutdown, give the STOP mail its chance before the daemon stops the plugins
      return state === 'STOP' ? Promise.race([first, sleep(STOP_GRACE_MS, ctx.signal).then(() => undefined)]) : undefined;
    };

    ctx.on('instance.transition', (e: EventOf<'instance.transition'>) => {
      if (!instances.has(e.instance)) return undefined;
      return vrrp(`I:${e.instance}`, vrrpState(e.to, e.reason), (s) => instanceAlert(cfg.router_id, e.instance, s), e.time);
    });
    ctx.on('group.transition', (e: EventOf<'group.transition'>) => {
      if (!groups.has(e.group)) return undefined;
      return vrrp(`G:${e.group}`, vrrpState(e.to, e.reason), (s) => groupAlert(cfg.router_id, e.group, s), e.time);
    });

    const rsAlert = (vs: string, rs: string): boolean => cfg.virtual_servers[vs]?.real_servers.includes(rs) ?? false;
    ctx.on('realserver.up', (e: EventOf<'realserver.up'>) => {
      stopping.delete(e.virtualServer);
      if (e.reason === 'start' || !rsAlert(e.virtualServer, e.realServer)) return;
      void mailer.send(realServerAlert(cfg.router_id, e.virtualServer, e.realServer, true), new Date(e.time));
    });
    ctx.on('realserver.down', (e: EventOf<'realserver.down'>) => {
      const shutdown = e.reason === 'shutdown';
      if (shutdown) stopping.add(e.virtualServer);
      if (!rsAlert(e.virtualServer, e.realServer)) return;
      void mailer.send(realServerAlert(cfg.router_id, e.virtualServer, e.realServer, false, shutdown), new Date(e.time));
    });
    ctx.on('virtualserver.quorum', (e: EventOf<'virtualserver.quorum'>) => {
      if (e.up) stopping.delete(e.virtualServer);
      if (!cfg.virtual_servers[e.virtualServer]?.alert) return;
      void mailer.send(quorumAlert(cfg.router_id, e, { initial: e.initial === true, shutdown: !e.up && stopping.has(e.virtualServer) }), new Date(e.time));
    });

    ctx.onStop(() => {
      if (mailer.pending > 0 || mailer.failed > 0 || mailer.dropped > 0) {
        ctx.log.info(`smtp-alert: stopping with ${mailer.pending} mail(s) unsent; ${mailer.sent} sent, ${mailer.failed} given up, ${mailer.dropped} dropped`);
      }
      mailer.close();
    });
  },
});
