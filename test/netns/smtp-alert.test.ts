// keepalived's e-mail alerts end to end (issue 14): a vigil daemon in namespace A, a real SMTP
// server (the smtp-server package, test/netns/fixtures/smtp-receiver.mjs) in namespace B on
// 192.0.2.2:2525, reached over the veth pair. Only documentation addresses, only inside the
// namespaces this test creates; withPair removes them (and ends the processes it started, by
// PID) whatever happens.
//
// 1. keepalived.conf as a keepalived user writes it: the mails for BACKUP (start), MASTER and
//    Stopping (SIGTERM) arrive with keepalived's subject, body, headers, envelope and HELO.
// 2. The SMTP server is down when the daemon starts: the failures are logged, the mails retried
//    with back-off and delivered once the server appears, and the delivery is logged.
// 3. A server that accepts connections but never greets: the transition and the notify scripts
//    run on time; the mail attempts time out, are retried and reported.
import assert from 'node:assert/strict';
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { isRoot, stopChild, withPair, type Lab } from '../lib/netns.ts';
import { addressesOf, follow, startVigil, type DaemonHandle } from '../lib/daemon.ts';

const RECEIVER = fileURLToPath(new URL('./fixtures/smtp-receiver.mjs', import.meta.url));

interface Mail {
  helo: string;
  from: string;
  to: string[];
  data: string;
}

const mails = (h: DaemonHandle): Mail[] =>
  h
    .log()
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Mail);
const subject = (m: Mail) => /^Subject: (.*)\r$/m.exec(m.data)?.[1];

async function until(what: string, fn: () => boolean, ms = 20_000, log?: () => string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!fn()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${log ? `; log:\n${log()}` : ''}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function startReceiver(lab: Lab, ns: string, greetingDelayMs = 0): Promise<DaemonHandle> {
  const r = follow(lab.spawn(ns, process.execPath, [RECEIVER, '192.0.2.2', '2525', String(greetingDelayMs)]));
  return r.waitFor(/listening 2525/).then(() => r);
}

const needRoot = () => assert.ok(isRoot, 'needs root for network namespaces (CI runs as root)');

test("keepalived.conf: the MASTER, BACKUP and Stopping mails arrive with keepalived's subject, body, headers, envelope and HELO", { timeout: 90_000 }, async () => {
  needRoot();
  await withPair(['smtpa', 'smtpb'], async ({ lab, dir, a, b }) => {
    const rx = await startReceiver(lab, b);
    const conf = join(dir, 'keepalived.conf');
    writeFileSync(
      conf,
      `global_defs {
  router_id LB1
  notification_email {
    ops@example.com
    "NOC <noc@example.com>"
  }
  smtp_server 192.0.2.2 2525
  smtp_connect_timeout 5
}
vrrp_instance VI_1 {
  interface eth0
  virtual_router_id 61
  priority 150
  advert_int 1
  smtp_alert
  virtual_ipaddress {
    192.0.2.100/24
  }
}
`,
    );
    const v = startVigil(lab, a, conf);
    await v.waitFor(/\(VI_1\) Entering MASTER STATE/, 15_000);
    await until('the BACKUP and MASTER mails', () => mails(rx).length >= 2, 15_000, () => v.log());
    assert.deepEqual(mails(rx).map(subject), ['[LB1] VRRP Instance VI_1 - Entering BACKUP state', '[LB1] VRRP Instance VI_1 - Entering MASTER state']);
    const host = hostname();
    for (const m of mails(rx)) {
      assert.equal(m.helo, host, "keepalived's default HELO: the host name");
      assert.equal(m.from, `root@${host}`, "keepalived's default sender: USER@HOST");
      assert.deepEqual(m.to, ['ops@example.com', 'noc@example.com']);
    }
    const master = mails(rx)[1]!;
    assert.match(
      master.data,
      new RegExp(
        `^Date: (Mon|Tue|Wed|Thu|Fri|Sat|Sun), \\d{2} (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \\d{4} \\d{2}:\\d{2}:\\d{2} [+-]\\d{4}\\r\\n` +
          `From: root@${host.replace(/[.]/g, '\\.')}\\r\\n` +
          `Subject: \\[LB1\\] VRRP Instance VI_1 - Entering MASTER state\\r\\n` +
          `X-Mailer: Keepalived\\r\\n` +
          `To: ops@example.com, NOC <noc@example.com>\\r\\n` +
          `\\r\\n` +
          `=> VRRP Instance is now owning VRRP VIPs <=\\r\\n$`,
      ),
    );
    assert.ok(addressesOf(lab, a, 'eth0').includes('192.0.2.100/24'));
    await v.waitFor(/smtp-alert: sent '\[LB1\] VRRP Instance VI_1 - Entering MASTER state' via 192\.0\.2\.2:2525/);
    // keepalived mails STOP at shutdown too
    await stopChild(v.child);
    await until('the Stopping mail', () => mails(rx).length >= 3, 10_000, () => v.log());
    assert.equal(subject(mails(rx)[2]!), '[LB1] VRRP Instance VI_1 - Stopping');
    assert.ok(mails(rx)[2]!.data.endsWith('\r\n\r\n=> VRRP Instance stopping <=\r\n'));
  });
});

const yaml = (dir: string, timeoutS: number, retry: string) => `global_defs:
  router_id: LB1
  script_user: root
  notification_email: [ops@example.com]
  notification_email_from: vigil@example.com
  smtp_server: 192.0.2.2 2525
  smtp_helo_name: lb1.example.com
  smtp_connect_timeout: ${timeoutS}
  smtp_alert: true
vrrp_instance:
  VI_1:
    interface: eth0
    virtual_router_id: 62
    priority: 150
    advert_int: 1
    virtual_ipaddress:
      - address: 192.0.2.100/24
    notify_backup: ${join(dir, 'notify.sh')} BACKUP
    notify_master: ${join(dir, 'notify.sh')} MASTER
plugins:
  smtp-alert:
    retry: ${retry}
`;

/** notify.sh STATE: appends "STATE <ms since epoch>" to notify.log. */
function notifyScript(dir: string): () => Array<[string, number]> {
  const log = join(dir, 'notify.log');
  writeFileSync(join(dir, 'notify.sh'), `#!/bin/sh\necho "$1 $(date +%s%N)" >> ${log}\n`);
  chmodSync(join(dir, 'notify.sh'), 0o755);
  return () =>
    existsSync(log)
      ? readFileSync(log, 'utf8')
          .trim()
          .split('\n')
          .filter(Boolean)
          .map((l) => {
            const [state = '', ns = '0'] = l.split(' ');
            return [state, Number(ns) / 1e6] as [string, number];
          })
      : [];
}

test('an SMTP server that is down when the daemon starts: retried with back-off, delivered once it appears, reported in the log', { timeout: 90_000 }, async () => {
  needRoot();
  await withPair(['smtpc', 'smtpd'], async ({ lab, dir, a, b }) => {
    notifyScript(dir);
    const conf = join(dir, 'vigil.yaml');
    writeFileSync(conf, yaml(dir, 2, '{ initial_delay_ms: 1000, max_delay_ms: 4000, jitter: 0, max_attempts: 8 }'));
    const v = startVigil(lab, a, conf);
    // nothing listens on 192.0.2.2:2525: B's kernel refuses the connection
    await v.waitFor(/smtp-alert: '\[LB1\] VRRP Instance VI_1 - Entering BACKUP state' not sent to 192\.0\.2\.2:2525 \(attempt 1 of 8\): connect ECONNREFUSED 192\.0\.2\.2:2525.*; retrying in 1000 ms/, 15_000);
    await v.waitFor(/\(VI_1\) Entering MASTER STATE/, 15_000);
    await v.waitFor(/'\[LB1\] VRRP Instance VI_1 - Entering MASTER state' not sent to 192\.0\.2\.2:2525 \(attempt 1 of 8\)/);
    const rx = await startReceiver(lab, b);
    await until('both mails', () => mails(rx).length >= 2, 20_000, () => v.log());
    assert.deepEqual(mails(rx).map(subject).sort(), ['[LB1] VRRP Instance VI_1 - Entering BACKUP state', '[LB1] VRRP Instance VI_1 - Entering MASTER state']);
    assert.equal(mails(rx)[0]!.helo, 'lb1.example.com');
    assert.equal(mails(rx)[0]!.from, 'vigil@example.com');
    await v.waitFor(/smtp-alert: sent '\[LB1\] VRRP Instance VI_1 - Entering BACKUP state' via 192\.0\.2\.2:2525 \(attempt [2-8]\)/);
    await v.waitFor(/smtp-alert: sent '\[LB1\] VRRP Instance VI_1 - Entering MASTER state' via 192\.0\.2\.2:2525 \(attempt [2-8]\)/);
  });
});

test('a slow SMTP server (connects, never greets) delays neither the transition nor the notify scripts', { timeout: 90_000 }, async () => {
  needRoot();
  await withPair(['smtpe', 'smtpf'], async ({ lab, dir, a, b }) => {
    const notified = notifyScript(dir);
    await startReceiver(lab, b, 600_000);
    const conf = join(dir, 'vigil.yaml');
    writeFileSync(conf, yaml(dir, 1, '{ initial_delay_ms: 500, max_delay_ms: 1000, jitter: 0, max_attempts: 3 }'));
    const t0 = Date.now();
    const v = startVigil(lab, a, conf);
    await v.waitFor(/\(VI_1\) Entering MASTER STATE/, 15_000);
    await until('both notify scripts', () => notified().length >= 2, 10_000, () => v.log());
    const [backup, master] = notified();
    assert.equal(backup?.[0], 'BACKUP');
    assert.equal(master?.[0], 'MASTER');
    // Master_Down_Interval with advert_int 1 and priority 150: 3 s + (256-150)/256 s = 3.41 s
    const gap = master![1] - backup![1];
    console.log(`notify_backup -> notify_master: ${gap.toFixed(0)} ms (Master_Down_Interval 3414 ms); daemon start -> notify_backup: ${(backup![1] - t0).toFixed(0)} ms`);
    assert.ok(gap > 1000 && gap < 4500, `MASTER on schedule, not held by the mail (${gap.toFixed(0)} ms)`);
    assert.ok(addressesOf(lab, a, 'eth0').includes('192.0.2.100/24'));
    // meanwhile the mails time out, are retried and then given up, each step in the log
    // nodemailer says "Greeting never received" or "Timeout" for a server that never greets,
    // depending on which of its timers fires first
    await v.waitFor(/smtp-alert: '\[LB1\] VRRP Instance VI_1 - Entering MASTER state' not sent to 192\.0\.2\.2:2525 \(attempt 1 of 3\): (Greeting never received|Timeout) \(ETIMEDOUT\)/, 10_000);
    await v.waitFor(/smtp-alert: gave up '\[LB1\] VRRP Instance VI_1 - Entering MASTER state' after 3 attempt\(s\) to 192\.0\.2\.2:2525: (Greeting never received|Timeout) \(ETIMEDOUT\)/, 15_000);
  });
});
