// UDP_CHECK against real UDP responders on loopback: without require_reply silence passes (after
// the timeout) and any reply passes; a closed port fails at once (ICMP port unreachable, over
// IPv4 and IPv6); with require_reply silence fails, and a HEX pattern with X nibbles and the
// length limits decide. The payload and bindto:bind_port are checked as the responder saw them.
// 2,000 attempts against a hostile responder leave no handle behind.
import { strict as assert } from 'node:assert';
import dgram from 'node:dgram';
import { test } from 'node:test';
import type { ProbeResult, UdpCheck } from '../../src/lvs/checks.ts';
import { DEFAULT_UDP_PAYLOAD_HEX } from '../../src/lvs/resolve.ts';
import { udpProbe, udpReplyMismatch } from '../../src/lvs/udp-check.ts';
import { isRoot, Lab } from '../lib/netns.ts';
import { handles, settle } from '../lib/handles.ts';

const timing = { retry: 1, delayBeforeRetryMs: 1000, delayLoopMs: 1000, warmupMs: 0, alpha: false };

/** What the responder sends back for a datagram (nothing: silence). */
type Behaviour = (msg: Buffer) => Buffer[];

async function responder(family: 4 | 6, behave: Behaviour) {
  const socket = dgram.createSocket(family === 4 ? 'udp4' : 'udp6');
  const seen: Array<{ msg: Buffer; from: string }> = [];
  socket.on('message', (msg, rinfo) => {
    seen.push({ msg, from: `${rinfo.address}:${rinfo.port}` });
    for (const out of behave(msg)) socket.send(out, rinfo.port, rinfo.address);
  });
  await new Promise<void>((r) => socket.bind(0, family === 4 ? '127.0.0.1' : '::1', r));
  return { port: socket.address().port, seen, close: () => new Promise<void>((r) => socket.close(() => r())) };
}

/** A port nothing listens on (bound a moment ago, then closed). */
async function closedPort(family: 4 | 6): Promise<number> {
  const r = await responder(family, () => []);
  await r.close();
  return r.port;
}

const check = (port: number, o: Partial<UdpCheck> = {}): UdpCheck => ({
  kind: 'udp',
  name: `UDP_CHECK 127.0.0.1:${port}`,
  host: '127.0.0.1',
  port,
  timeoutMs: 1500,
  ...timing,
  payloadHex: DEFAULT_UDP_PAYLOAD_HEX,
  requireReply: false,
  minReplyLength: 0,
  maxReplyLength: 255,
  ...o,
});

const summary = (r: ProbeResult) => (r.ok ? 'pass' : r.error);

async function against(behave: Behaviour, o: Partial<UdpCheck> = {}, family: 4 | 6 = 4) {
  const server = await responder(family, behave);
  try {
    const r = await udpProbe(check(server.port, { ...(family === 6 ? { host: '::1' } : {}), ...o }));
    return { r, seen: server.seen };
  } finally {
    await server.close();
  }
}

const echo: Behaviour = (m) => [m];

test('without require_reply: silence passes once the timeout has passed, a reply passes at once', async () => {
  const silent = await against(() => [], { timeoutMs: 500 });
  assert.equal(summary(silent.r), 'pass');
  assert.ok(silent.r.ms >= 450, `waited for the timeout (${silent.r.ms} ms)`);
  assert.equal(silent.seen[0]?.msg.toString('latin1'), 'keepalived check - keepalived ch', "keepalived's default payload");
  const answered = await against(() => [Buffer.from('anything')], { timeoutMs: 5000 });
  assert.equal(summary(answered.r), 'pass');
  assert.ok(answered.r.ms < 2500);
});

test('a closed port fails at once with ICMP port unreachable, over IPv4 and IPv6', async () => {
  const v4 = await udpProbe(check(await closedPort(4), { timeoutMs: 5000 }));
  assert.equal(summary(v4), 'ICMP port unreachable');
  assert.ok(v4.ms < 2500);
  const v6 = await udpProbe(check(await closedPort(6), { host: '::1', timeoutMs: 5000 }));
  assert.equal(summary(v6), 'ICMP port unreachable');
});

test('require_reply without a pattern: silence fails, any reply passes (lengths not applied, as in 2.2.7)', async () => {
  assert.equal(summary((await against(() => [], { requireReply: true, timeoutMs: 500 })).r), 'no reply within 500 ms');
  assert.equal(summary((await against(() => [Buffer.alloc(400)], { requireReply: true, minReplyLength: 1, maxReplyLength: 10 })).r), 'pass');
  assert.equal(summary((await against(echo, { requireReply: true }, 6)).r), 'pass');
});

test('require_reply with a pattern: X nibbles match anything, the shorter length is compared, lengths bound the reply', async () => {
  const reply = Buffer.from('cafe0042', 'hex');
  const p = (replyPattern: string, extra: Partial<UdpCheck> = {}) => against(() => [reply], { requireReply: true, replyPattern, ...extra });
  assert.equal(summary((await p('cafe0042')).r), 'pass');
  assert.equal(summary((await p('cXfe00X2')).r), 'pass');
  assert.equal(summary((await p('XXXXXXXX')).r), 'pass');
  assert.equal(summary((await p('cafe')).r), 'pass', 'a pattern shorter than the reply: its bytes only');
  assert.equal(summary((await p('cafe004211223344')).r), 'pass', 'a reply shorter than the pattern: its bytes only');
  assert.equal(summary((await p('cafe0043')).r), 'reply byte 3 is 42, not 43');
  assert.equal(summary((await p('Xbfe0042')).r), 'reply byte 0 is ca, not Xb');
  assert.equal(summary((await p('cafe', { minReplyLength: 5 })).r), 'reply of 4 bytes is shorter than 5');
  assert.equal(summary((await p('cafe', { maxReplyLength: 3 })).r), 'reply of more than 3 bytes');
  assert.equal(summary((await p('cafe', { minReplyLength: 4, maxReplyLength: 4 })).r), 'pass');
});

test('the payload and bindto:bind_port are what the responder sees', async () => {
  const port = await closedPort(4); // free a moment ago
  const { r, seen } = await against(echo, { payloadHex: '00ff10', bindto: '127.0.0.1', bindPort: port });
  assert.equal(summary(r), 'pass');
  assert.deepEqual(seen.map((s) => [s.msg.toString('hex'), s.from]), [['00ff10', `127.0.0.1:${port}`]]);
  const v6 = await against(echo, { bindto: '::1' }, 6);
  assert.match(v6.seen[0]?.from ?? '', /^::1:\d+$/);
  const wrongFamily = await udpProbe(check(port, { bindto: '::1' }));
  assert.equal(summary(wrongFamily), 'bindto ::1 is not of the target\'s family');
});

test('an abort ends the attempt at once', async () => {
  const server = await responder(4, () => []);
  try {
    const abort = new AbortController();
    const pending = udpProbe(check(server.port, { requireReply: true, timeoutMs: 60_000 }), abort.signal);
    setTimeout(() => abort.abort(), 50);
    assert.equal(summary(await pending), 'aborted');
  } finally {
    await server.close();
  }
});

test('in a namespace: ICMP host unreachable fails at once (IP_RECVERR; without it that would pass as silence)', { timeout: 60_000 }, async () => {
  assert.ok(isRoot, 'this test needs root (network namespaces, nft)');
  const lab = new Lab();
  try {
    const ns = lab.addNamespace('udp');
    lab.exec(ns, 'ip', ['addr', 'add', '192.0.2.1/32', 'dev', 'lo']);
    lab.exec(ns, 'ip', ['addr', 'add', '2001:db8::1/128', 'dev', 'lo']);
    lab.exec(ns, 'nft', [
      'add table inet h3; add chain inet h3 in { type filter hook input priority 0; }; ' +
        'add rule inet h3 in udp dport 9 reject with icmp type host-unreachable; add rule inet h3 in udp dport 9 reject with icmpv6 type addr-unreachable',
    ]);
    const mod = new URL('../../src/lvs/udp-check.ts', import.meta.url).href;
    const code = `const { udpProbe } = await import(${JSON.stringify(mod)});
      const out = [];
      for (const host of ['192.0.2.1', '2001:db8::1']) out.push(await udpProbe({ ...${JSON.stringify(check(9, { timeoutMs: 5000 }))}, host }));
      console.log(JSON.stringify(out));`;
    const out = JSON.parse(lab.exec(ns, process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code])) as ProbeResult[];
    assert.deepEqual(out.map(summary), ['ICMP host unreachable', 'ICMP host unreachable']);
    assert.ok(out.every((r) => r.ms < 2500), 'long before the timeout');
  } finally {
    await lab.cleanup();
  }
});

test('udpReplyMismatch on bytes', () => {
  assert.equal(udpReplyMismatch(Buffer.from([]), 'ff', 0, 255), undefined, 'an empty reply compares no byte');
  assert.equal(udpReplyMismatch(Buffer.from([0x1f]), 'X0', 0, 255), 'reply byte 0 is 1f, not X0');
  assert.equal(udpReplyMismatch(Buffer.from([0x1f]), '1X', 0, 255), undefined);
});

test('2,000 attempts against a hostile responder leave no handle behind', async () => {
  let n = 0;
  const server = await responder(4, () => {
    switch (n++ % 3) {
      case 0:
        return [];
      case 1:
        return [Buffer.from('ffff', 'hex')];
      default:
        return [Buffer.from('cafe', 'hex')];
    }
  });
  const refused = await closedPort(4);
  try {
    await settle();
    const before = handles();
    const outcomes = new Map<string, number>();
    for (let batch = 0; batch < 20; batch++) {
      const results = await Promise.all(
        Array.from({ length: 100 }, (_, i) => udpProbe(check(i % 4 === 0 ? refused : server.port, { requireReply: true, replyPattern: 'cafe', timeoutMs: 150 }))),
      );
      for (const r of results) outcomes.set(summary(r), (outcomes.get(summary(r)) ?? 0) + 1);
    }
    await settle();
    assert.deepEqual(handles(), before, 'sockets and timers back to the baseline');
    for (const k of ['pass', 'ICMP port unreachable', 'no reply within 150 ms', 'reply byte 0 is ff, not ca']) assert.ok((outcomes.get(k) ?? 0) > 0, `${k}: ${JSON.stringify([...outcomes])}`);
  } finally {
    await server.close();
  }
});
