// smtp-alert: the config derived from keepalived's keywords (keepalived.conf and YAML), the
// mails as keepalived writes them (subject, body, headers, envelope), and the plugin against a
// real SMTP server (the smtp-server package) on 127.0.0.1: delivery, which events mail, a server
// that is down and then appears (retried, delivered, logged), a slow one (the handler does not
// wait; retried with back-off, then given up and reported), credentials never logged.
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { createServer } from 'node:net';
import { afterEach, describe, test } from 'node:test';
import { SMTPServer, type SMTPServerOptions } from 'smtp-server';
import plugin from '../../plugins/smtp-alert/index.ts';
import { configSchema as schema } from '../../plugins/smtp-alert/config.ts';
import { deriveSmtpAlert } from '../../src/config/plugin-sections/smtp-alert.ts';

/** The section made from the keywords alone (no plugins.smtp-alert of the user's). */
const deriveSection = (config: Config, host?: string, user?: string) => deriveSmtpAlert(config, undefined, host, user);
import { envelopeAddress, formatMessage, groupAlert, instanceAlert, quorumAlert, realServerAlert, rfc822Date, vrrpState } from '../../plugins/smtp-alert/message.ts';
import type { EventBody } from '../../src/bus/events.ts';
import { loadConfigText } from '../../src/config/load.ts';
import { configSchema, type Config } from '../../src/config/schema.ts';
import { startPlugin, transition, type Harness } from '../lib/plugin-harness.ts';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function keepalived(text: string): Config {
  const r = loadConfigText(text, 'keepalived.conf');
  const problems = r.diagnostics.filter((d) => d.severity === 'error' || /smtp|email/.test(d.field + d.message));
  assert.deepEqual(problems, [], 'no error and no e-mail keyword warned');
  assert.ok(r.config);
  return r.config;
}

const INSTANCE = (name: string, vrid: number, extra = '') => `vrrp_instance ${name} {\n  interface eth0\n  virtual_router_id ${vrid}\n${extra}  virtual_ipaddress {\n    192.0.2.${vrid}/24\n  }\n}\n`;

describe('config: keepalived.conf to the plugin', () => {
  const GLOBALS = `global_defs {
  router_id LB1
  notification_email {
    ops@example.com
    "Team <team@example.com>"
  }
  notification_email_from "vigil <vigil@example.com>"
  smtp_server 192.0.2.25 2525
  smtp_helo_name lb1.example.com
  smtp_connect_timeout 10
  no_email_faults
}
`;

  test('every keyword is read; instances and groups follow smtp_alert', () => {
    const cfg = keepalived(
      GLOBALS +
        INSTANCE('VI_1', 51, '  smtp_alert\n') +
        INSTANCE('VI_2', 52, '  smtp_alert no\n') +
        INSTANCE('VI_3', 53) +
        'vrrp_sync_group G1 {\n  group {\n    VI_2\n    VI_3\n  }\n  smtp_alert yes\n}\n',
    );
    assert.deepEqual(deriveSection(cfg, 'host1', 'root'), {
      host: '192.0.2.25',
      port: 2525,
      helo_name: 'lb1.example.com',
      from: 'vigil <vigil@example.com>',
      to: ['ops@example.com', 'Team <team@example.com>'],
      router_id: 'LB1',
      timeout_ms: 10_000,
      no_email_faults: true,
      instances: ['VI_1'],
      groups: ['G1'],
      virtual_servers: {},
    });
  });

  test("keepalived's defaults: port 25, 30 s, HELO and router_id the host name, sender USER@HOST", () => {
    const cfg = keepalived('global_defs {\n  notification_email {\n    ops@example.com\n  }\n  smtp_server 192.0.2.25\n  smtp_alert\n}\n' + INSTANCE('VI_1', 51));
    const d = schema.parse(deriveSection(cfg, 'host1.example.net', 'root'));
    assert.equal(d.port, 25);
    assert.equal(d.timeout_ms, 30_000);
    assert.equal(d.helo_name, 'host1.example.net');
    assert.equal(d.router_id, 'host1.example.net');
    assert.equal(d.from, 'root@host1.example.net');
    assert.deepEqual(d.instances, ['VI_1']);
    assert.equal(d.retry.max_attempts, 4, 'bounded: the first attempt and three retries');
  });

  test('smtp_connect_timeout 0 is 1 s, with keepalived\'s message', () => {
    const r = loadConfigText('global_defs {\n  smtp_connect_timeout 0\n}\n', 'k.conf');
    assert.equal(r.config?.global_defs.smtp_connect_timeout, 1);
    assert.deepEqual(
      r.diagnostics.map((d) => `${d.line}:${d.col}: ${d.field}: ${d.severity}: ${d.message}`),
      ['2:3: global_defs.smtp_connect_timeout: warning: smtp_conect_timeout must be greater than 0, setting to 1'],
    );
  });

  test('no mail without a recipient or a server, or when nothing has smtp_alert', () => {
    assert.equal(deriveSection(keepalived('global_defs {\n  smtp_server 192.0.2.25\n  smtp_alert\n}\n' + INSTANCE('VI_1', 51)), 'h', 'root'), undefined);
    assert.equal(deriveSection(keepalived('global_defs {\n  notification_email {\n    a@example.com\n  }\n  smtp_alert\n}\n' + INSTANCE('VI_1', 51)), 'h', 'root'), undefined);
    // keepalived's default for instances is off
    assert.equal(deriveSection(keepalived('global_defs {\n  notification_email {\n    a@example.com\n  }\n  smtp_server 192.0.2.25\n}\n' + INSTANCE('VI_1', 51)), 'h', 'root'), undefined);
  });

  test('defaults: instance smtp_alert_vrrp > smtp_alert > off; real server smtp_alert_checker > smtp_alert > ON; virtual server ... > off', () => {
    const base = (globals: string, inst = '', vs = '', rs = '') =>
      keepalived(
        `global_defs {\n  notification_email {\n    a@example.com\n  }\n  smtp_server 192.0.2.25\n${globals}}\n` +
          INSTANCE('VI_1', 51, inst) +
          `virtual_server 192.0.2.51 80 {\n  protocol TCP\n  lb_algo rr\n  lb_kind NAT\n${vs}  real_server 198.51.100.10 80 {\n${rs}    TCP_CHECK {\n      connect_timeout 3\n    }\n  }\n  real_server 198.51.100.11 80 {\n    TCP_CHECK {\n      connect_timeout 3\n    }\n  }\n}\n`,
      );
    const derive = (c: Config) => {
      const d = deriveSection(c, 'h', 'root');
      return d && { instances: d.instances, virtual_servers: d.virtual_servers };
    };
    const both = ['[198.51.100.10]:tcp:80', '[198.51.100.11]:tcp:80'];
    const VS = '[192.0.2.51]:tcp:80';
    // nothing set: real servers mail (keepalived's inconsistency), the rest does not
    assert.deepEqual(derive(base('')), { instances: [], virtual_servers: { [VS]: { alert: false, real_servers: both } } });
    // smtp_alert: everything
    assert.deepEqual(derive(base('  smtp_alert\n')), { instances: ['VI_1'], virtual_servers: { [VS]: { alert: true, real_servers: both } } });
    // smtp_alert on, smtp_alert_vrrp off, smtp_alert_checker off: nothing
    assert.equal(derive(base('  smtp_alert\n  smtp_alert_vrrp off\n  smtp_alert_checker off\n')), undefined);
    // the per-object keyword wins over the defaults
    assert.deepEqual(derive(base('  smtp_alert_checker off\n  smtp_alert_vrrp off\n', '  smtp_alert\n', '  smtp_alert\n', '    smtp_alert yes\n')), {
      instances: ['VI_1'],
      virtual_servers: { [VS]: { alert: true, real_servers: ['[198.51.100.10]:tcp:80'] } },
    });
    assert.deepEqual(derive(base('  smtp_alert\n', '  smtp_alert off\n', '  smtp_alert false\n', '    smtp_alert no\n')), {
      instances: [],
      virtual_servers: { [VS]: { alert: false, real_servers: ['[198.51.100.11]:tcp:80'] } },
    });
  });

  test('YAML: the same keys; plugins.smtp-alert tunes retries, STARTTLS, auth', () => {
    const cfg = configSchema.parse({
      global_defs: { notification_email: ['ops@example.com'], smtp_server: '2001:db8::25 587', smtp_alert_vrrp: true },
      vrrp_instance: { VI_1: { interface: 'eth0', virtual_router_id: 51 } },
      plugins: { 'smtp-alert': { retry: { initial_delay_ms: 500 }, starttls: true, auth: { user: 'u', pass: 'p' } } },
    });
    const d = schema.parse(deriveSmtpAlert(cfg, cfg.plugins['smtp-alert'], 'h', 'root'));
    assert.equal(d.host, '2001:db8::25');
    assert.equal(d.port, 587);
    assert.equal(d.retry.initial_delay_ms, 500);
    assert.equal(d.retry.max_attempts, 4, 'still bounded when only the delay is tuned');
    assert.equal(d.starttls, true);
    assert.deepEqual(d.auth, { user: 'u', pass: 'p' });
    // never unbounded
    assert.equal(schema.safeParse({ ...d, retry: { ...d.retry, max_attempts: 0 } }).success, false);
    assert.equal(configSchema.safeParse({ global_defs: { smtp_server: '192.0.2.25 25 x' } }).success, false);
  });
});

describe("messages: keepalived's words", () => {
  test('VRRP instances and groups', () => {
    assert.deepEqual(instanceAlert('LB1', 'VI_1', 'MASTER'), { subject: '[LB1] VRRP Instance VI_1 - Entering MASTER state', body: '=> VRRP Instance is now owning VRRP VIPs <=' });
    assert.deepEqual(instanceAlert('LB1', 'VI_1', 'BACKUP'), { subject: '[LB1] VRRP Instance VI_1 - Entering BACKUP state', body: '=> VRRP Instance is no longer owning VRRP VIPs <=' });
    assert.deepEqual(instanceAlert('LB1', 'VI_1', 'FAULT'), { subject: '[LB1] VRRP Instance VI_1 - Entering FAULT state', body: '=> VRRP Instance is no longer owning VRRP VIPs <=' });
    assert.deepEqual(instanceAlert('LB1', 'VI_1', 'STOP'), { subject: '[LB1] VRRP Instance VI_1 - Stopping', body: '=> VRRP Instance stopping <=' });
    assert.deepEqual(groupAlert('LB1', 'G1', 'MASTER'), { subject: '[LB1] VRRP Group G1 - Entering MASTER state', body: '=> All VRRP group instances are now in MASTER state <=' });
    assert.deepEqual(groupAlert('LB1', 'G1', 'STOP'), { subject: '[LB1] VRRP Group G1 - Stopping', body: '=> All VRRP group instances are now stopping <=' });
    assert.equal(vrrpState('initialize', 'shutdown'), 'STOP');
    assert.equal(vrrpState('initialize', 'fault-cleared'), undefined);
  });

  test('real servers and quorum', () => {
    assert.deepEqual(realServerAlert('LB1', '[192.0.2.100]:tcp:80', '[198.51.100.10]:tcp:8080', false), {
      subject: '[LB1] Realserver [198.51.100.10]:tcp:8080 of virtual server [192.0.2.100]:tcp:80 - DOWN',
      body: '=> TCP CHECK failed on service <=',
    });
    assert.equal(realServerAlert('LB1', 'VS', 'RS', true).body, '=> TCP CHECK succeed on service <=');
    assert.deepEqual(realServerAlert('LB1', 'VS', 'RS', false, true), { subject: '[LB1] Realserver RS of virtual server VS - DOWN', body: '=> Shutting down <=' });
    const q = { virtualServer: 'FWM 5', quorum: 3, hysteresis: 1 };
    assert.deepEqual(quorumAlert('LB1', { ...q, up: true, weight: 4 }), { subject: '[LB1] Virtualserver FWM 5 - UP', body: '=> Gained quorum 3+1=4 <= 4 <=' });
    assert.equal(quorumAlert('LB1', { ...q, up: false, weight: 1 }).body, '=> Lost quorum 3+1=2 <= 1 <=');
    assert.equal(quorumAlert('LB1', { ...q, up: true, weight: 5 }, { initial: true }).body, '=> Starting with quorum up 3+1=4 <= 5 <=');
    assert.equal(quorumAlert('LB1', { ...q, up: false, weight: 0 }, { initial: true }).body, '=> Starting with quorum down 3+1=2 <= 0 <=');
    assert.equal(quorumAlert('LB1', { ...q, up: false, weight: 0 }, { shutdown: true }).body, '=> Shutting down <=');
  });

  test("subject and body are cut to keepalived's buffers (255 and 511 characters)", () => {
    const a = instanceAlert('R'.repeat(300), 'VI_1', 'MASTER');
    assert.equal(a.subject.length, 255);
  });

  test('the message: Date, From, Subject, X-Mailer, To, an empty line, the body; CRLF', () => {
    const tz = process.env.TZ;
    process.env.TZ = 'Europe/Berlin';
    try {
      const d = new Date('2021-03-01T09:44:08Z');
      assert.equal(rfc822Date(d), 'Mon, 01 Mar 2021 10:44:08 +0100');
      assert.equal(rfc822Date(new Date('2021-07-04T23:05:09Z')), 'Mon, 05 Jul 2021 01:05:09 +0200');
      assert.equal(
        formatMessage(instanceAlert('LB1', 'VI_1', 'MASTER'), 'vigil@example.com', ['a@example.com', 'Team <b@example.com>'], d),
        'Date: Mon, 01 Mar 2021 10:44:08 +0100\r\nFrom: vigil@example.com\r\nSubject: [LB1] VRRP Instance VI_1 - Entering MASTER state\r\nX-Mailer: Keepalived\r\nTo: a@example.com, Team <b@example.com>\r\n\r\n=> VRRP Instance is now owning VRRP VIPs <=\r\n',
      );
      process.env.TZ = 'America/St_Johns';
      assert.equal(rfc822Date(d), 'Mon, 01 Mar 2021 06:14:08 -0330');
    } finally {
      if (tz === undefined) delete process.env.TZ;
      else process.env.TZ = tz;
    }
    assert.equal(envelopeAddress('Team <team@example.com>'), 'team@example.com');
    assert.equal(envelopeAddress('ops@example.com'), 'ops@example.com');
  });
});

// --- the plugin against a real SMTP server --------------------------------------------------

interface Mail {
  helo: string;
  from: string | false;
  to: string[];
  data: string;
}

interface Receiver {
  port: number;
  mails: Mail[];
  connections: number;
  close(): Promise<void>;
}

async function receiver(port = 0, opts: { greetingDelayMs?: number; extra?: Partial<SMTPServerOptions> } = {}): Promise<Receiver> {
  const mails: Mail[] = [];
  const r = { port: 0, mails, connections: 0, close: async () => undefined } as Receiver;
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS'],
    logger: false,
    onConnect(_s, cb) {
      r.connections++;
      if (opts.greetingDelayMs) setTimeout(() => cb(), opts.greetingDelayMs).unref();
      else cb();
    },
    onData(stream, session, cb) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        mails.push({ helo: session.hostNameAppearsAs, from: session.envelope.mailFrom && session.envelope.mailFrom.address, to: session.envelope.rcptTo.map((x) => x.address), data: Buffer.concat(chunks).toString('utf8') });
        cb();
      });
    },
    ...opts.extra,
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', () => resolve()));
  r.port = (server.server.address() as AddressInfo).port;
  r.close = () => new Promise<void>((resolve) => server.close(() => resolve()));
  cleanups.push(() => r.close());
  return r;
}

/** A port nothing listens on (yet). */
async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

async function start(port: number, extra: Record<string, unknown> = {}): Promise<Harness> {
  const h = await startPlugin(plugin, {
    host: '127.0.0.1',
    port,
    helo_name: 'lb1.example.com',
    from: 'vigil <vigil@example.com>',
    to: ['ops@example.com', 'Team <team@example.com>'],
    router_id: 'LB1',
    timeout_ms: 1000,
    instances: ['VI_1'],
    groups: ['G1'],
    virtual_servers: { '[192.0.2.100]:tcp:80': { alert: true, real_servers: ['[198.51.100.10]:tcp:80'] } },
    retry: { initial_delay_ms: 200, max_delay_ms: 1000, jitter: 0, max_attempts: 4 },
    ...extra,
  });
  cleanups.push(() => h.stop());
  LOGS = () => logText(h);
  return h;
}

/** The running plugin's log, for a timeout's message. */
let LOGS: (() => string) | undefined;

async function until(what: string, fn: () => boolean, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!fn()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${LOGS ? `; log:\n${LOGS()}` : ''}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const subjects = (r: Receiver) => r.mails.map((m) => /^Subject: (.*)$/m.exec(m.data)?.[1]);
const logText = (h: Harness) => h.recorded.logs.map((l) => `${l.level} ${l.msg}`).join('\n');

describe('the plugin with a real SMTP server on 127.0.0.1', () => {
  test("a MASTER transition: keepalived's mail, envelope and HELO", async () => {
    const r = await receiver();
    const h = await start(r.port);
    const e = h.emit(transition('VI_1', 'backup', 'master'));
    await until('the mail', () => r.mails.length === 1);
    const m = r.mails[0]!;
    assert.equal(m.helo, 'lb1.example.com');
    assert.equal(m.from, 'vigil@example.com');
    assert.deepEqual(m.to, ['ops@example.com', 'team@example.com']);
    assert.equal(m.data, formatMessage(instanceAlert('LB1', 'VI_1', 'MASTER'), 'vigil <vigil@example.com>', ['ops@example.com', 'Team <team@example.com>'], new Date(e.time)));
    assert.match(m.data, /^Date: \w{3}, \d{2} \w{3} \d{4} \d{2}:\d{2}:\d{2} [+-]\d{4}\r\nFrom: vigil <vigil@example.com>\r\nSubject: \[LB1\] VRRP Instance VI_1 - Entering MASTER state\r\nX-Mailer: Keepalived\r\nTo: ops@example.com, Team <team@example.com>\r\n\r\n=> VRRP Instance is now owning VRRP VIPs <=\r\n$/);
    await until('the log line', () => /sent '\[LB1\] VRRP Instance VI_1 - Entering MASTER state' via 127\.0\.0\.1:\d+/.test(logText(h)));
  });

  test('which events mail: configured instances and groups, one state once, no FAULT with no_email_faults, STOP at shutdown, real servers and quorum', async () => {
    const r = await receiver();
    const h = await start(r.port, { no_email_faults: true });
    const events: EventBody[] = [
      transition('VI_1', 'initialize', 'backup'),
      transition('VI_2', 'initialize', 'backup'), // not configured
      transition('VI_1', 'backup', 'fault'), // no_email_faults
      transition('VI_1', 'fault', 'backup'), // the same state as the last mail: none
      transition('VI_1', 'backup', 'master'),
      { type: 'group.transition', group: 'G1', from: 'backup', to: 'master', reason: 'member', instance: 'VI_1' },
      { type: 'realserver.down', virtualServer: '[192.0.2.100]:tcp:80', realServer: '[198.51.100.10]:tcp:80', reason: 'TCP_CHECK 198.51.100.10:80: connection refused', inhibited: false },
      { type: 'realserver.down', virtualServer: '[192.0.2.100]:tcp:80', realServer: '[198.51.100.11]:tcp:80', reason: 'TCP_CHECK', inhibited: false }, // no smtp_alert
      { type: 'virtualserver.quorum', virtualServer: '[192.0.2.100]:tcp:80', up: false, weight: 1, quorum: 2, hysteresis: 0, sorryServer: false },
      { type: 'realserver.up', virtualServer: '[192.0.2.100]:tcp:80', realServer: '[198.51.100.10]:tcp:80', weight: 1, reason: 'TCP_CHECK 198.51.100.10:80: connected' },
      { ...(transition('VI_1', 'master', 'initialize') as Extract<EventBody, { type: 'instance.transition' }>), reason: 'shutdown' },
    ];
    for (const e of events) h.emit(e);
    await until('7 mails', () => r.mails.length >= 7);
    await h.idle();
    await new Promise((res) => setTimeout(res, 300));
    assert.deepEqual(subjects(r).sort(), [
      '[LB1] Realserver [198.51.100.10]:tcp:80 of virtual server [192.0.2.100]:tcp:80 - DOWN',
      '[LB1] Realserver [198.51.100.10]:tcp:80 of virtual server [192.0.2.100]:tcp:80 - UP',
      '[LB1] VRRP Group G1 - Entering MASTER state',
      '[LB1] VRRP Instance VI_1 - Entering BACKUP state',
      '[LB1] VRRP Instance VI_1 - Entering MASTER state',
      '[LB1] VRRP Instance VI_1 - Stopping',
      '[LB1] Virtualserver [192.0.2.100]:tcp:80 - DOWN',
    ]);
    assert.ok(r.mails.some((m) => m.data.endsWith('\r\n\r\n=> Lost quorum 2+0=2 <= 1 <=\r\n')));
  });

  test('a server that is down, then appears: retried with back-off, delivered, logged', async () => {
    const port = await freePort();
    const h = await start(port);
    h.emit(transition('VI_1', 'backup', 'master'));
    await until('the first failure', () => /not sent to 127\.0\.0\.1:\d+ \(attempt 1 of 4\): .*ECONNREFUSED.*; retrying in 200 ms/.test(logText(h)));
    const r = await receiver(port);
    await until('the mail', () => r.mails.length === 1);
    assert.deepEqual(subjects(r), ['[LB1] VRRP Instance VI_1 - Entering MASTER state']);
    await until('the log line', () => /info smtp-alert: sent '\[LB1\] VRRP Instance VI_1 - Entering MASTER state' via 127\.0\.0\.1:\d+ \(attempt [2-4]\)/.test(logText(h)));
  });

  test('a slow server: the handler does not wait; each attempt times out, retried, then given up with an error line', async () => {
    const r = await receiver(0, { greetingDelayMs: 60_000 });
    const h = await start(r.port, { timeout_ms: 300, retry: { initial_delay_ms: 100, max_delay_ms: 200, jitter: 0, max_attempts: 3 } });
    const t0 = performance.now();
    h.emit(transition('VI_1', 'backup', 'master'));
    await h.idle();
    assert.ok(performance.now() - t0 < 100, `the event was handled at once (${(performance.now() - t0).toFixed(1)} ms)`);
    await until('given up', () => /error smtp-alert: gave up '\[LB1\] VRRP Instance VI_1 - Entering MASTER state' after 3 attempt\(s\) to 127\.0\.0\.1:\d+: .*/.test(logText(h)), 10_000);
    assert.equal(r.connections, 3);
    assert.equal(r.mails.length, 0);
    assert.equal(h.recorded.logs.filter((l) => l.level === 'warn' && /retrying in/.test(l.msg)).length, 2);
  });

  test('credentials are never logged', async () => {
    const r = await receiver(0, {
      extra: {
        authOptional: false,
        allowInsecureAuth: true,
        disabledCommands: ['STARTTLS'],
        onAuth: (_auth, _session, cb) => cb(new Error('Invalid username or password')),
      },
    });
    const h = await start(r.port, { auth: { user: 'alerts', pass: 's3cr3t-PASSWORD' }, retry: { initial_delay_ms: 50, max_delay_ms: 50, jitter: 0, max_attempts: 2 } });
    h.emit(transition('VI_1', 'backup', 'master'));
    await until('given up', () => /gave up/.test(logText(h)));
    assert.match(logText(h), /535|Invalid username or password|EAUTH/);
    assert.doesNotMatch(logText(h), /s3cr3t-PASSWORD/);
    assert.doesNotMatch(logText(h), /czNjcjN0LVBBU1NXT1JE/, 'nor base64');
  });
});
