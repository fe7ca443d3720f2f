// Issue 12 end to end: every connecting checker against real servers in namespaces that turn
// hostile on the test's word, in the LVS lab (test/lib/lvs-lab.ts). One vigil (lb1, from
// keepalived.conf) runs one virtual server per scenario, all at once; lb2 is a VRRP Backup with
// no virtual servers. Each scenario:
// - up: a client through the VIP reaches its real server (the checker keeps it in the pool);
// - a failure mode (an nftables rule in the real server's namespace, or the service's mode):
//   the real server is removed within keepalived's budget, delay_loop + (retry+1) x timeout +
//   retry x delay_before_retry (LVS.md section 6), plus a margin, and the log says why in the
//   checker's words;
// - recovery: it is enabled again within the same budget, and the client reaches it again;
// - the bus (`vigil events --json`) carries realserver.down with the checker's reason, then
//   realserver.up.
// Failure modes: no answer to SYN, reset, accepts and never speaks, a slow-drip body, a 10 MB
// body, garbage instead of HTTP (HTTP_GET), a self-signed certificate with verify_tls (SSL_GET;
// without verify_tls the same certificate passes), a DNS reply for another name, an SMTP server
// that closes at HELO, ICMP port unreachable with require_reply (UDP_CHECK), ICMP echo dropped
// (PING_CHECK), no answer to SYN (TCP_CHECK).
// Also: `vigil -t` accepts the config and calls no checker unsupported; `vigil genhash` prints the
// MD5 the test computed (plain and -S); notify_down / notify_up scripts run and see the reason;
// lb1 stays Master throughout (its adverts kept their schedule while the hostile checks ran).
// Needs root: fails otherwise.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { startVigil, type DaemonHandle } from '../lib/daemon.ts';
import { balancerConf, VIP, withLvsLab, type LvsLab } from '../lib/lvs-lab.ts';
import {
  budgetMs,
  client,
  escape,
  fault,
  followEvents,
  healthBody,
  logAfter,
  makeCerts,
  MARGIN_MS,
  md5,
  setMode,
  startTargets,
  timingLines,
  VIGIL,
  type SeenEvent,
} from './fixtures/checker-lab.ts';

const run = promisify(execFile);

interface Scenario {
  name: string;
  proto: 'TCP' | 'UDP';
  vsPort: number;
  /** Real server index (0-based) and its port. */
  rs: number;
  rsPort: number;
  /** vip-client.mjs kind that reaches the service. */
  client: string;
  /** The checker's type, as keepalived names it in the reason, and its block's body. */
  type: string;
  body: string;
  /** The failure mode: applies it, returns what undoes it. */
  fault?: (l: LvsLab, dir: string) => () => void;
  /** What the failed attempt's error says (after `TYPE ADDRESS[:PORT]: `). */
  error?: RegExp;
  /** More real_server lines. */
  extra?: string;
}

const httpUrl = (rs: number) => `            url {
                path /health
                digest ${md5(healthBody(`rs${rs + 1}`))}
            }
`;

/** The real server's address and `rsN:PORT` both name it in notify records. */
const notifyLines = (dir: string, tag: string) => `        notify_up "${join(dir, 'notify.sh')} up ${tag}"
        notify_down "${join(dir, 'notify.sh')} down ${tag}"
`;

function scenarios(dir: string): Scenario[] {
  const mode = (port: number, m: string) => (_l: LvsLab, d: string) => {
    setMode(d, port, m);
    return () => setMode(d, port, 'good');
  };
  const nft = (rs: number, id: string, rule: string) => (l: LvsLab) => fault(l.lab, l.rs[rs] as string, id, rule);
  const timedOut = /within|timed? ?out|timeout/i;
  return [
    { name: 'HTTP_GET: no answer to SYN', proto: 'TCP', vsPort: 8001, rs: 0, rsPort: 8001, client: 'http', type: 'HTTP_GET', body: httpUrl(0), fault: nft(0, 'syn8001', 'tcp dport 8001 drop'), error: /no connection|connect|within|timed? ?out/i },
    { name: 'HTTP_GET: reset', proto: 'TCP', vsPort: 8002, rs: 0, rsPort: 8002, client: 'http', type: 'HTTP_GET', body: httpUrl(0), fault: nft(0, 'rst8002', 'tcp dport 8002 reject with tcp reset'), error: /refused|reset/i, extra: notifyLines(dir, 'rs1:8002') },
    { name: 'HTTP_GET: accepts and never speaks', proto: 'TCP', vsPort: 8003, rs: 0, rsPort: 8003, client: 'http', type: 'HTTP_GET', body: httpUrl(0), fault: mode(8003, 'silent'), error: timedOut },
    { name: 'HTTP_GET: slow-drip body', proto: 'TCP', vsPort: 8004, rs: 0, rsPort: 8004, client: 'http', type: 'HTTP_GET', body: httpUrl(0), fault: mode(8004, 'drip'), error: timedOut },
    { name: 'HTTP_GET: 10 MB body', proto: 'TCP', vsPort: 8005, rs: 0, rsPort: 8005, client: 'http', type: 'HTTP_GET', body: httpUrl(0), fault: mode(8005, 'huge'), error: /larger|body|size/i },
    { name: 'HTTP_GET: garbage instead of HTTP', proto: 'TCP', vsPort: 8006, rs: 0, rsPort: 8006, client: 'http', type: 'HTTP_GET', body: httpUrl(0), fault: mode(8006, 'garbage'), error: /not an HTTP|invalid|malformed|garbage|status line/i },
    { name: 'TCP_CHECK: no answer to SYN', proto: 'TCP', vsPort: 8010, rs: 0, rsPort: 8010, client: 'http', type: 'TCP_CHECK', body: '', fault: nft(0, 'syn8010', 'tcp dport 8010 drop'), error: /no connection|within|timed? ?out/i },
    {
      name: 'SSL_GET with verify_tls: self-signed certificate',
      proto: 'TCP',
      vsPort: 8443,
      rs: 1,
      rsPort: 8443,
      client: 'https',
      type: 'SSL_GET',
      body: `${httpUrl(1)}            verify_tls\n            ca ${join(dir, 'ca.pem')}\n`,
      fault: mode(8443, 'selfsigned'),
      error: /certificate|self.signed|TLS|verif/i,
    },
    // keepalived never verifies: the same self-signed certificate passes without verify_tls
    { name: 'SSL_GET without verify_tls: self-signed certificate passes', proto: 'TCP', vsPort: 8444, rs: 1, rsPort: 8444, client: 'https', type: 'SSL_GET', body: httpUrl(1) },
    { name: 'DNS_CHECK: reply for another name', proto: 'UDP', vsPort: 53, rs: 2, rsPort: 5353, client: 'dns', type: 'DNS_CHECK', body: '            type A\n            name check.example.org\n', fault: mode(5353, 'wrongname'), error: /name|question|reply is for/i },
    { name: 'SMTP_CHECK: closes at HELO', proto: 'TCP', vsPort: 25, rs: 2, rsPort: 2525, client: 'smtp', type: 'SMTP_CHECK', body: '            helo_name lb1.example.org\n', fault: mode(2525, 'closemid'), error: /clos|HELO|reset|end/i },
    { name: 'UDP_CHECK require_reply: port unreachable', proto: 'UDP', vsPort: 7, rs: 2, rsPort: 7007, client: 'udp', type: 'UDP_CHECK', body: '            require_reply\n', fault: nft(2, 'unr7007', 'udp dport 7007 reject'), error: /unreachable|refused/i },
    { name: 'PING_CHECK: echo dropped', proto: 'TCP', vsPort: 8081, rs: 3, rsPort: 8080, client: 'http', type: 'PING_CHECK', body: '', fault: nft(3, 'echo', 'icmp type echo-request drop'), error: /no reply|within|timed? ?out|timeout/i },
  ];
}

const vsName = (s: Scenario) => `[${VIP}]:${s.proto.toLowerCase()}:${s.vsPort}`;
const rsName = (l: LvsLab, s: Scenario) => `[${l.rsAddress(s.rs)}]:${s.proto.toLowerCase()}:${s.rsPort}`;

function vsBlocks(l: LvsLab, all: Scenario[]): string {
  return all
    .map(
      (s) => `virtual_server ${VIP} ${s.vsPort} {
    delay_loop 1
    lb_algo wrr
    lb_kind NAT
    protocol ${s.proto}
    real_server ${l.rsAddress(s.rs)} ${s.rsPort} {
        weight 1
${s.extra ?? ''}        ${s.type} {
${s.body}${timingLines()}        }
    }
}
`,
    )
    .join('');
}

/** Records each run: its arguments and environment, so the test sees what a script is told. */
const NOTIFY_SCRIPT = (log: string) => `#!/bin/sh
{ printf 'ARGS %s\\n' "$*"; env; printf 'END\\n'; } >> ${log}
`;

async function runScenario(l: LvsLab, dir: string, lb1: DaemonHandle, events: () => SeenEvent[], s: Scenario): Promise<void> {
  const rs = rsName(l, s);
  const vs = vsName(s);
  const name = `rs${s.rs + 1}`;
  const up = await client(l, s.client, VIP, s.vsPort, 3);
  assert.deepEqual(up.counts, { [name]: 3 }, `${s.name}: through the VIP before the fault: ${JSON.stringify(up)}`);
  assert.doesNotMatch(lb1.log(), new RegExp(`removing real server ${escape(rs)} `), `${s.name}: a healthy target is never removed`);
  if (!s.fault) return;

  // the failure: removed within budget, with the checker's reason
  const budget = budgetMs() + MARGIN_MS;
  const from = lb1.log().length;
  const t0 = Date.now();
  const undo = s.fault(l, dir);
  let reason: string;
  try {
    const m = await logAfter(lb1, from, new RegExp(`${escape(vs)}: removing real server ${escape(rs)} \\((.*)\\)`), budget);
    const took = Date.now() - t0;
    reason = m[1] ?? '';
    console.log(`${s.name}: removed after ${took} ms (budget ${budgetMs()} ms + ${MARGIN_MS}): ${reason}`);
    assert.match(reason, new RegExp(`^${s.type} ${escape(l.rsAddress(s.rs))}(:\\d+)?: `), `${s.name}: the reason names the checker`);
    assert.match(reason.replace(/^\S+ \S+: /, ''), s.error ?? /./, `${s.name}: the reason says why`);
  } finally {
    undo();
  }

  // recovery
  const from2 = lb1.log().length;
  const t1 = Date.now();
  await logAfter(lb1, from2, new RegExp(`${escape(vs)}: enabling real server ${escape(rs)} `), budget);
  console.log(`${s.name}: enabled again ${Date.now() - t1} ms after recovery`);
  const back = await client(l, s.client, VIP, s.vsPort, 3);
  assert.deepEqual(back.counts, { [name]: 3 }, `${s.name}: through the VIP after recovery: ${JSON.stringify(back)}`);

  // the bus said so, with the reason
  const mine = events().filter((e) => e.virtualServer === vs && e.realServer === rs);
  const down = mine.findIndex((e) => e.type === 'realserver.down');
  assert.ok(down >= 0, `${s.name}: realserver.down on the bus: ${JSON.stringify(mine)}`);
  assert.equal(mine[down]?.reason, reason, `${s.name}: the event's reason is the log's`);
  assert.ok(mine.slice(down + 1).some((e) => e.type === 'realserver.up' && (e.reason ?? '').startsWith(s.type)), `${s.name}: realserver.up after it, naming the checker: ${JSON.stringify(mine)}`);
}

test('every checker: up, each failure mode down within its budget with its reason, back up; events, notify scripts, genhash, adverts', { timeout: 300_000, concurrency: true }, async (t) => {
  assert.equal(process.getuid?.(), 0, 'this test needs root (network namespaces, nftables)');
  await withLvsLab({ balancers: 2, realServers: 4 }, async (l) => {
    const dir = l.dir;
    makeCerts(dir, l.rsAddress(1), 'rs2.example.org');
    setMode(dir, 8444, 'selfsigned'); // always the self-signed certificate
    await Promise.all([
      startTargets(l, 0, ['http:8001', 'http:8002', 'http:8003', 'http:8004', 'http:8005', 'http:8006', 'http:8010'], dir),
      startTargets(l, 1, [8443, 8444].map((p) => `https:${p}:${join(dir, 'good.pem')}:${join(dir, 'good.key')}:${join(dir, 'bad.pem')}:${join(dir, 'bad.key')}`), dir),
      startTargets(l, 2, ['dns:5353', 'smtp:2525', 'udp:7007'], dir),
      startTargets(l, 3, ['http:8080'], dir),
    ]);
    const notifyLog = join(dir, 'notify.log');
    writeFileSync(join(dir, 'notify.sh'), NOTIFY_SCRIPT(notifyLog));
    chmodSync(join(dir, 'notify.sh'), 0o755);

    const all = scenarios(dir);
    const conf1 = join(dir, 'lb1.conf');
    const conf2 = join(dir, 'lb2.conf');
    writeFileSync(conf1, balancerConf(1, vsBlocks(l, all), { globalDefs: '    enable_script_security\n    script_user root\n' }));
    writeFileSync(conf2, balancerConf(2, ''));

    const lb1 = startVigil(l.lab, l.lbs[0] as string, conf1);
    await lb1.waitFor(/\(VI_FRONT\) Entering MASTER STATE/);
    await lb1.waitFor(/\(VI_BACK\) Entering MASTER STATE/);
    await lb1.waitFor(new RegExp(`LVS: data plane holds ${all.length} service\\(s\\)`));
    const lb2 = startVigil(l.lab, l.lbs[1] as string, conf2);
    await lb2.waitFor(/\(VI_FRONT\) Entering BACKUP STATE/);
    const ev = await followEvents(l.lab, l.lbs[0] as string, conf1);
    // every checker has run at least once (the first runs 1 s after start, warmup 0)
    await new Promise((r) => setTimeout(r, 3000));

    await Promise.all([
      t.test('vigil -t accepts every checker', async () => {
        const r = await run('ip', ['netns', 'exec', l.lbs[0] as string, process.execPath, VIGIL, '-t', '-f', conf1], { encoding: 'utf8' }).catch((e: { code: number; stdout: string; stderr: string }) => e);
        const out = `${r.stdout}${r.stderr}`;
        assert.equal('code' in r ? r.code : 0, 0, out);
        assert.doesNotMatch(out, /unsupported|not (yet )?supported/i, out);
      }),
      t.test('vigil genhash prints the MD5 of the page (plain and -S)', async () => {
        const gen = async (args: string[]) => (await run('ip', ['netns', 'exec', l.lbs[0] as string, process.execPath, VIGIL, 'genhash', ...args], { encoding: 'utf8' })).stdout.trim();
        assert.equal(await gen(['-s', l.rsAddress(0), '-p', '8001', '-u', '/health']), md5(healthBody('rs1')));
        assert.equal(await gen(['-S', '-s', l.rsAddress(1), '-p', '8444', '-u', '/health']), md5(healthBody('rs2')));
      }),
      ...all.map((s) => t.test(s.name, () => runScenario(l, dir, lb1, ev.events, s))),
    ]);

    await t.test('notify_down and notify_up ran, and the down script saw the reason', () => {
      const records = readFileSync(notifyLog, 'utf8').split('END\n').filter(Boolean);
      const down = records.find((r) => r.startsWith('ARGS down rs1:8002'));
      const up = records.findLast((r) => r.startsWith('ARGS up rs1:8002'));
      assert.ok(down, `notify_down ran: ${records.map((r) => r.split('\n')[0]).join(', ')}`);
      assert.ok(up && records.indexOf(up) > records.indexOf(down), 'notify_up ran after it');
      // keepalived adds no arguments; vigil's reason reaches the script some other way (its
      // environment): the checker's name and what failed
      assert.match(down, new RegExp(`HTTP_GET ${escape(l.rsAddress(0))}:8002: .*(refused|reset)`, 'i'), `the reason reaches the script:\n${down}`);
    });

    await t.test('lb1 stayed Master while the hostile checks ran (its adverts kept their schedule)', () => {
      assert.doesNotMatch(lb2.log(), /\(VI_FRONT\) Entering MASTER STATE/, 'the Backup never took over');
      // (every instance starts in BACKUP; none may leave MASTER once there)
      const sinceMaster = lb1.log().slice(lb1.log().indexOf('(VI_FRONT) Entering MASTER STATE'));
      assert.doesNotMatch(sinceMaster, /Entering (BACKUP|FAULT) STATE/);
      assert.equal(lb1.child.exitCode, null, 'lb1 still runs');
    });
  });
});
