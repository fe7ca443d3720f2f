// The HTTP listener on a real socket (127.0.0.1, port 0) with a Daemon-like object: metric
// names and values, the token, the non-loopback refusal, /events order and slow clients.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { EventBus } from '../../src/bus/bus.ts';
import type { VigilEvent } from '../../src/bus/events.ts';
import { configSchema } from '../../src/config/schema.ts';
import type { EngineStatus, InstanceStatus } from '../../src/daemon/status.ts';
import type { PluginStatus } from '../../src/plugins/host.ts';
import { authorized, isLoopback, parseListen, startHttpControl, type HttpControl, type HttpControlOptions } from '../../src/control/http.ts';
import { needs } from '../lib/require.ts';

function instance(over: Partial<InstanceStatus> = {}): InstanceStatus {
  return {
    name: 'VI_1',
    state: 'master',
    waitingForInterface: false,
    vrid: 51,
    interface: 'eth0',
    family: 4,
    version: 3,
    basePriority: 150,
    effectivePriority: 130,
    adjustments: { 'track-script:chk_web': -20 },
    faults: [],
    masterAddress: '192.0.2.1',
    advertIntervalCs: 100,
    virtualAddresses: ['192.0.2.100/24', '192.0.2.101/24'],
    transitions: [
      { from: 'initialize', to: 'backup', reason: 'startup', priority: 150, time: '2026-01-01T00:00:00.000Z' },
      { from: 'backup', to: 'master', reason: 'master-down-timer', priority: 150, time: '2026-01-01T00:00:03.000Z' },
    ],
    counters: {
      advertsSent: 42,
      advertsReceived: 7,
      priorityZeroSent: 0,
      priorityZeroReceived: 1,
      transitions: 2,
      reassertions: 0,
      addressMismatches: 3,
      dropped: { 'too-short': 2, 'length-mismatch': 1, 'bad-ttl': 4, 'auth-password-mismatch': 5 },
      discarded: { 'interval-mismatch': 6 },
    },
    ...over,
  } as InstanceStatus;
}

function fakeDaemon() {
  const lines: string[] = [];
  const stops: Array<() => void | Promise<void>> = [];
  const bus = new EventBus();
  const config = configSchema.parse({
    vrrp_instance: {
      VI_1: { interface: 'eth0', virtual_router_id: 51, priority: 150, authentication: { auth_type: 'PASS', auth_pass: 'pw-secret' }, virtual_ipaddress: [{ address: '192.0.2.100/24' }, { address: '192.0.2.101/24', dev: 'eth1' }] },
    },
  });
  const engineStatus: EngineStatus = {
    instances: [instance()],
    drops: { 'interface:eth0': { 'bad-checksum': 9 }, VI_1: { 'bad-ttl': 4 } },
    unknownVridPackets: 11,
    reloads: { applied: 2, rejected: 1 },
  };
  const plugins: PluginStatus[] = [
    { id: 'track-script', name: 'track-script', origin: 'builtin', state: 'running', restarts: 3, failures: 4, handlerErrors: 0, eventsDelivered: 10, queued: 0, lastError: 'script said pw-secret' },
  ];
  const log = (level: string) => (m: string) => void lines.push(`${level}: ${m}`);
  return {
    lines,
    stops,
    engineStatus,
    src: {
      bus,
      engine: { status: () => structuredClone(engineStatus) },
      host: { status: () => plugins },
      config: () => config,
      log: { debug: log('debug'), info: log('info'), warn: log('warn'), error: log('error') },
      onStop: (fn: () => void | Promise<void>) => void stops.push(fn),
    },
  };
}

async function withServer(opts: Partial<HttpControlOptions>, fn: (h: { ctl: HttpControl; base: string; d: ReturnType<typeof fakeDaemon> }) => Promise<void>): Promise<void> {
  const d = fakeDaemon();
  const ctl = await startHttpControl(d.src, { listen: '127.0.0.1:0', ...opts });
  assert.ok(ctl, `started; log: ${d.lines.join('\n')}`);
  try {
    await fn({ ctl, base: `http://127.0.0.1:${ctl.address.port}`, d });
  } finally {
    for (const s of d.stops) await s();
  }
  assert.equal(ctl.server.listening, false, 'onStop closed the listener');
}

/** Parses the Prometheus text format into `name{labels}` -> value, checking every line. */
function parseExposition(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('# HELP ') || line.startsWith('# TYPE ')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*",?)*\})? (\S+)$/.exec(line);
    assert.ok(m, `parseable line: ${line}`);
    const value = Number(m[3]);
    assert.ok(!Number.isNaN(value), `numeric value: ${line}`);
    out.set(`${m[1]}${m[2] ?? ''}`, value);
  }
  return out;
}

test('listen addresses: parsing and what counts as loopback', () => {
  assert.deepEqual(parseListen('127.0.0.1:9650'), { host: '127.0.0.1', port: 9650 });
  assert.deepEqual(parseListen('[::1]:80'), { host: '::1', port: 80 });
  assert.deepEqual(parseListen(':9650'), { host: '', port: 9650 });
  assert.throws(() => parseListen('127.0.0.1'));
  assert.throws(() => parseListen('127.0.0.1:70000'));
  for (const h of ['127.0.0.1', '127.1.2.3', '::1', 'localhost', '::ffff:127.0.0.1']) assert.ok(isLoopback(h), h);
  for (const h of ['', '0.0.0.0', '::', '192.0.2.1', '2001:db8::1', 'example.com']) assert.ok(!isLoopback(h), h);
});

test('bearer token check', async () => {
  const { createHash } = await import('node:crypto');
  const d = createHash('sha256').update('s3cret').digest();
  assert.ok(authorized('Bearer s3cret', d));
  assert.ok(authorized('bearer s3cret', d));
  assert.ok(!authorized('Bearer s3cre', d));
  assert.ok(!authorized('Bearer s3cret2', d));
  assert.ok(!authorized('Basic s3cret', d));
  assert.ok(!authorized(undefined, d));
  assert.ok(authorized(undefined, undefined), 'no token configured: open');
});

test('GET /metrics: keepalived exporter names and values, vigil ones, all parseable', async () => {
  await withServer({}, async ({ base, d }) => {
    // a transition from the bus after start
    d.src.bus.publish({ type: 'instance.transition', instance: 'VI_1', vrid: 51, interface: 'eth0', from: 'master', to: 'backup', reason: 'higher-priority-seen', priority: 150 });
    const r = await fetch(`${base}/metrics`);
    assert.equal(r.status, 200);
    assert.match(r.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
    const m = parseExposition(await r.text());
    const L = 'iname="VI_1",intf="eth0",vrid="51"';
    const expect: Record<string, number> = {
      keepalived_up: 1,
      [`keepalived_vrrp_state{${L},ip_address="192.0.2.100/24"}`]: 2,
      // the address's own device, as the exporter labels it
      [`keepalived_vrrp_state{iname="VI_1",intf="eth1",vrid="51",ip_address="192.0.2.101/24"}`]: 2,
      [`keepalived_advertisements_sent_total{${L}}`]: 42,
      [`keepalived_advertisements_received_total{${L}}`]: 7,
      [`keepalived_priority_zero_received_total{${L}}`]: 1,
      [`keepalived_address_list_errors_total{${L}}`]: 3,
      [`keepalived_packet_length_errors_total{${L}}`]: 3,
      [`keepalived_ip_ttl_errors_total{${L}}`]: 4,
      [`keepalived_authentication_failure_total{${L}}`]: 5,
      [`keepalived_advertisements_interval_errors_total{${L}}`]: 6,
      [`keepalived_authentication_invalid_total{${L}}`]: 0,
      // seeded from the history (backup -> master) plus the live master -> backup
      [`keepalived_become_master_total{${L}}`]: 1,
      [`keepalived_release_master_total{${L}}`]: 1,
      [`keepalived_vrrp_priority{${L}}`]: 150,
      [`keepalived_vrrp_effective_priority{${L}}`]: 130,
      'vigil_instance_state{instance="VI_1",state="master"}': 1,
      'vigil_instance_state{instance="VI_1",state="backup"}': 0,
      'vigil_tracker_adjustment{instance="VI_1",tracker="track-script:chk_web"}': -20,
      'vigil_packets_dropped_total{scope="interface:eth0",reason="bad-checksum"}': 9,
      'vigil_packets_dropped_total{scope="VI_1",reason="bad-ttl"}': 4,
      'vigil_unknown_vrid_packets_total': 11,
      'vigil_reloads_total{result="applied"}': 2,
      'vigil_reloads_total{result="rejected"}': 1,
      'vigil_plugin_restarts_total{plugin="track-script"}': 3,
      'vigil_plugin_failures_total{plugin="track-script"}': 4,
      'vigil_transitions_total{instance="VI_1",from="initialize",to="backup",reason="startup"}': 1,
      'vigil_transitions_total{instance="VI_1",from="backup",to="master",reason="master-down-timer"}': 1,
      'vigil_transitions_total{instance="VI_1",from="master",to="backup",reason="higher-priority-seen"}': 1,
    };
    for (const [k, v] of Object.entries(expect)) assert.equal(m.get(k), v, k);
    // values follow the engine at scrape time
    d.engineStatus.instances[0] = instance({ state: 'fault', counters: { ...instance().counters!, advertsSent: 50 } });
    const m2 = parseExposition(await (await fetch(`${base}/metrics`)).text());
    assert.equal(m2.get(`keepalived_vrrp_state{${L},ip_address="192.0.2.100/24"}`), 3);
    assert.equal(m2.get(`keepalived_advertisements_sent_total{${L}}`), 50);
  });
});

test('GET /metrics: an etcd-elected instance shows leadership, the lease time left and renewals by result', async () => {
  await withServer({}, async ({ base, d }) => {
    const election = { backend: 'etcd' as const, name: 'n1', leader: 'n1', lease: { id: '7', ttl: 3, remainingMs: 2500 }, connected: true, policy: 'release' as const, keeping: false, endpoints: ['http://192.0.2.11:2379'], lastError: null, renewals: { ok: 40, failed: 2, lost: 1, maxMs: 9, lastMs: 1.5 } };
    d.engineStatus.instances.push(instance({ name: 'VI_DB', election }));
    let m = parseExposition(await (await fetch(`${base}/metrics`)).text());
    assert.equal(m.get('vigil_election_is_leader{instance="VI_DB",backend="etcd"}'), 1);
    assert.equal(m.get('vigil_election_lease_remaining_seconds{instance="VI_DB"}'), 2.5);
    assert.equal(m.get('vigil_election_renewals_total{instance="VI_DB",result="ok"}'), 40);
    assert.equal(m.get('vigil_election_renewals_total{instance="VI_DB",result="failed"}'), 2);
    assert.equal(m.get('vigil_election_renewals_total{instance="VI_DB",result="lost"}'), 1);
    // VRRP instances have no election series
    assert.equal(m.get('vigil_election_is_leader{instance="VI_1",backend="etcd"}'), undefined);
    d.engineStatus.instances[1] = instance({ name: 'VI_DB', election: { ...election, leader: 'n2', lease: null } });
    m = parseExposition(await (await fetch(`${base}/metrics`)).text());
    assert.equal(m.get('vigil_election_is_leader{instance="VI_DB",backend="etcd"}'), 0);
    assert.equal(m.get('vigil_election_lease_remaining_seconds{instance="VI_DB"}'), 0);
  });
});

test('GET /status: engine and plugin status as JSON; unknown routes 404; only GET', async () => {
  await withServer({}, async ({ base }) => {
    const s = (await (await fetch(`${base}/status`)).json()) as { instances: InstanceStatus[]; plugins: PluginStatus[]; reloads: unknown; pid: number };
    assert.equal(s.instances[0]?.name, 'VI_1');
    assert.equal(s.instances[0]?.effectivePriority, 130);
    assert.equal(s.plugins[0]?.id, 'track-script');
    assert.deepEqual(s.reloads, { applied: 2, rejected: 1 });
    assert.equal(s.pid, process.pid);
    assert.equal(s.plugins[0]?.lastError, 'script said [REDACTED]', 'a secret quoted by a plugin is masked');
    assert.equal((await fetch(`${base}/nope`)).status, 404);
    assert.equal((await fetch(`${base}/status`, { method: 'POST' })).status, 405);
    const page = await fetch(`${base}/`);
    assert.equal(page.status, 200);
    assert.match(page.headers.get('content-security-policy') ?? '', /default-src 'none'/);
    assert.match(await page.text(), /<script src="page\.js"><\/script>/);
    assert.match(await (await fetch(`${base}/page.js`)).text(), /Authorization: Bearer/);
  });
});

test('with a token: data routes need it, the static page does not, the token is never logged', async () => {
  const token = 'tok-' + 'x'.repeat(20);
  await withServer({ token }, async ({ base, d }) => {
    for (const path of ['/metrics', '/status', '/events']) {
      const none = await fetch(`${base}${path}`);
      assert.equal(none.status, 401, `${path} without a token`);
      assert.equal(none.headers.get('www-authenticate'), 'Bearer realm="vigil"');
      assert.equal((await fetch(`${base}${path}`, { headers: { authorization: 'Bearer wrong' } })).status, 401, `${path} with a wrong token`);
      // the query string is not a way in
      assert.equal((await fetch(`${base}${path}?token=${token}`)).status, 401, `${path} with ?token=`);
    }
    assert.equal((await fetch(`${base}/metrics`, { headers: { authorization: `Bearer ${token}` } })).status, 200);
    assert.equal((await fetch(`${base}/status`, { headers: { authorization: `Bearer ${token}` } })).status, 200);
    const ev = await fetch(`${base}/events`, { headers: { authorization: `Bearer ${token}` } });
    assert.equal(ev.status, 200);
    await ev.body?.cancel();
    assert.equal((await fetch(`${base}/`)).status, 200, 'the page shell has no data in it');
    assert.ok(d.lines.some((l) => /bearer token is required/.test(l)));
    assert.ok(!d.lines.some((l) => l.includes(token)), 'token not in the log');
  });
});

test('a non-loopback address without a token is refused with a clear error; with one it starts', async () => {
  for (const listen of ['0.0.0.0:0', '192.0.2.1:9650', '[::]:0', ':9650']) {
    const d = fakeDaemon();
    const ctl = await startHttpControl(d.src, { listen });
    assert.equal(ctl, undefined, listen);
    assert.ok(d.lines.some((l) => l.startsWith('error: ') && l.includes(`refusing to listen on ${listen}`) && l.includes('control.http.token')), d.lines.join('\n'));
    assert.equal(d.stops.length, 0);
  }
  // 0.0.0.0 with a token is allowed (bound to port 0, closed at once; the test reaches it over loopback)
  const d = fakeDaemon();
  const ctl = await startHttpControl(d.src, { listen: '0.0.0.0:0', token: 'secret-token' });
  assert.ok(ctl);
  assert.ok(!d.lines.some((l) => l.includes('secret-token')));
  await ctl.close();
  // a port already taken: logged, not thrown
  await withServer({}, async ({ ctl: first }) => {
    const d2 = fakeDaemon();
    assert.equal(await startHttpControl(d2.src, { listen: `127.0.0.1:${first.address.port}` }), undefined);
    assert.ok(d2.lines.some((l) => /cannot listen on/.test(l)));
  });
});

/** Reads SSE `data:` payloads from a fetch body until `n` have arrived. */
async function readEvents(body: ReadableStream<Uint8Array>, n: number): Promise<VigilEvent[]> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buf = '';
  const out: VigilEvent[] = [];
  while (out.length < n) {
    const { value, done } = await reader.read();
    if (done) break;
    buf += decoder.decode(value, { stream: true });
    let end;
    while ((end = buf.indexOf('\n\n')) >= 0) {
      const block = buf.slice(0, end);
      buf = buf.slice(end + 2);
      const data = block.split('\n').find((l) => l.startsWith('data: '));
      if (data) out.push(JSON.parse(data.slice(6)) as VigilEvent);
    }
  }
  await reader.cancel();
  return out;
}

test('GET /events streams every bus event in order', async () => {
  await withServer({}, async ({ base, d, ctl }) => {
    const r = await fetch(`${base}/events`);
    assert.equal(r.headers.get('content-type'), 'text/event-stream');
    assert.ok(r.body);
    // the client is registered once the headers are out
    const reading = readEvents(r.body, 50);
    for (let i = 0; i < 25; i++) {
      d.src.bus.publish({ type: 'instance.priority', instance: 'VI_1', base: 150, previous: 150 - i, effective: 149 - i, cause: 'test', adjustments: {} });
      d.src.bus.publish({ type: 'instance.transition', instance: 'VI_1', vrid: 51, interface: 'eth0', from: i % 2 ? 'master' : 'backup', to: i % 2 ? 'backup' : 'master', reason: 'master-down-timer', priority: 150 });
    }
    const events = await reading;
    assert.equal(events.length, 50);
    assert.deepEqual(
      events.map((e) => e.seq),
      Array.from({ length: 50 }, (_, i) => i + 1),
    );
    assert.equal(events[1]?.type, 'instance.transition');
    // a secret an event quotes is masked on the stream too
    const r2 = await fetch(`${base}/events`);
    assert.ok(r2.body);
    const reading2 = readEvents(r2.body, 1);
    d.src.bus.publish({ type: 'plugin.failed', plugin: 'x', cause: 'threw', error: 'bad pw-secret', restartInMs: 1 });
    const [failed] = await reading2;
    assert.equal(failed?.type === 'plugin.failed' ? failed.error : undefined, 'bad [REDACTED]');
    const m = parseExposition(await ctl.metrics.render());
    assert.equal(m.get('vigil_http_requests_total{route="events",code="200"}'), 2);
  });
});

test('a client that does not read is dropped; the bus and other clients go on', async () => {
  await withServer({ maxClientBuffer: 64 * 1024 }, async ({ base, ctl, d }) => {
    // the slow client: a raw socket that sends the request and never reads again
    const slow = connect(ctl.address.port, '127.0.0.1');
    await new Promise<void>((resolve) => slow.once('connect', () => resolve()));
    slow.write('GET /events HTTP/1.1\r\nHost: x\r\n\r\n');
    const gotHeaders = new Promise<void>((resolve) => slow.once('data', () => resolve()));
    await gotHeaders;
    slow.pause();
    const closed = new Promise<void>((resolve) => slow.once('close', () => resolve()));
    slow.on('error', () => undefined);
    // the fast client reads everything
    const fast = await fetch(`${base}/events`);
    assert.ok(fast.body);
    const total = 600;
    const reading = readEvents(fast.body, total);
    await new Promise((r) => setTimeout(r, 50));
    // 16 KB per event, ~10 MB in all: the slow client's kernel buffers on loopback fill within a
    // few MB, then the 64 KB cap; the fast client drains between events
    const big = 'e'.repeat(16_000);
    let publishNs = 0n;
    for (let i = 0; i < total; i++) {
      const t0 = process.hrtime.bigint();
      d.src.bus.publish({ type: 'config.rejected', file: 'x', errors: [big] });
      publishNs += process.hrtime.bigint() - t0;
      // let the sockets move, as a real daemon's event loop does between events
      await new Promise((r) => setImmediate(r));
    }
    const publishMs = Number(publishNs) / 1e6;
    const events = await reading;
    assert.equal(events.length, total, 'the fast client got every event');
    assert.deepEqual(
      events.map((e) => e.seq),
      Array.from({ length: total }, (_, i) => i + 1),
    );
    slow.resume(); // drain what was sent, so the close arrives
    await closed;
    const m = parseExposition(await ctl.metrics.render());
    assert.equal(m.get('vigil_http_event_clients_dropped_total'), 1);
    assert.ok((m.get('vigil_http_event_clients') ?? 9) <= 1, 'the slow client is gone (the fast one may have hung up too)');
    assert.ok(d.lines.some((l) => /\/events client .* dropped: it reads too slowly/.test(l)), d.lines.join('\n'));
    assert.ok(publishMs < 2000, `publishing was never held up (${publishMs.toFixed(1)} ms in publish for ${total} events)`);
  });
});

test('control.http.token_file: a 0600 root file is the token; one others could read, or nobody\'s, is refused and the listener does not start; the token is never logged', { ...needs('root') }, async () => {
  const { chmodSync, chownSync, mkdtempSync, rmSync, writeFileSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const dir = mkdtempSync(join(tmpdir(), 'vigil-token-'));
  const file = join(dir, 'http.token');
  const token = 'file-token-' + 'y'.repeat(20);
  try {
    writeFileSync(file, token + '\n', { mode: 0o600 });
    const d = fakeDaemon();
    const ctl = await startHttpControl(d.src, { listen: '0.0.0.0:0', tokenFile: file });
    assert.ok(ctl, d.lines.join('\n'));
    const base = `http://127.0.0.1:${ctl.address.port}`;
    assert.equal((await fetch(`${base}/status`)).status, 401);
    assert.equal((await fetch(`${base}/status`, { headers: { authorization: `Bearer ${token}` } })).status, 200, 'the trailing newline is not part of the token');
    await ctl.close();
    assert.ok(!d.lines.some((l) => l.includes(token)));

    chmodSync(file, 0o644);
    const d2 = fakeDaemon();
    assert.equal(await startHttpControl(d2.src, { listen: '127.0.0.1:0', tokenFile: file }), undefined, 'not even on loopback: it would run without the guard the operator asked for');
    assert.ok(d2.lines.includes(`error: http: refusing control.http.token_file: token file ${file} is readable or writable by others (mode 0644); chmod 600 ${file}; the HTTP listener is not started`), d2.lines.join('\n'));
    assert.ok(!d2.lines.some((l) => l.includes(token)));

    chmodSync(file, 0o600);
    chownSync(file, 65534, 65534);
    const d3 = fakeDaemon();
    assert.equal(await startHttpControl(d3.src, { listen: '127.0.0.1:0', tokenFile: file }), undefined);
    assert.ok(d3.lines.includes(`error: http: refusing control.http.token_file: token file ${file} is owned by uid 65534, not root; chown root ${file}; the HTTP listener is not started`), d3.lines.join('\n'));
    assert.equal(d3.stops.length, 0);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
