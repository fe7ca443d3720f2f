// DNS_CHECK against a real DNS responder on loopback (a dgram server written here, one behaviour
// per test): a healthy answer passes, RCODE != 0 fails, a reply with another ID is ignored until
// the timeout (and a good one after it still counts), a reply about another name or type fails,
// silence times out, a closed port fails at once. The query's bytes are checked as the server
// saw them, and the codec on its own. 2,000 attempts against a hostile responder leave no handle.
import { strict as assert } from 'node:assert';
import dgram from 'node:dgram';
import { test } from 'node:test';
import type { DnsCheck, DnsType, ProbeResult } from '../../src/lvs/checks.ts';
import { dnsProbe } from '../../src/lvs/dns-check.ts';
import { encodeQuery, judgeReply, readName } from '../../src/lvs/dns-message.ts';
import { handles, settle } from '../lib/handles.ts';

const timing = { retry: 1, delayBeforeRetryMs: 1000, delayLoopMs: 1000, warmupMs: 0, alpha: false };

/** What the responder does with each query: the datagrams to send back (none: stay silent). */
type Behaviour = (query: Buffer) => Buffer[];

/** A reply to `query`: same ID unless told, QR set, RD copied, the given RCODE, and the
 * question copied (or replaced by `question`), with no answer records. */
function reply(query: Buffer, o: { rcode?: number; id?: number; qr?: boolean; question?: Buffer } = {}): Buffer {
  const header = Buffer.alloc(12);
  header.writeUInt16BE(o.id ?? query.readUInt16BE(0), 0);
  header.writeUInt16BE((o.qr === false ? 0 : 0x8000) | (query.readUInt16BE(2) & 0x0100) | (o.rcode ?? 0), 2);
  header.writeUInt16BE(1, 4);
  return Buffer.concat([header, o.question ?? query.subarray(12)]);
}

/** A question section: name labels, type code, class. */
function question(name: string, type: number, klass = 1): Buffer {
  const labels = name === '' ? [] : name.split('.');
  const parts = labels.flatMap((l) => [Buffer.from([l.length]), Buffer.from(l)]);
  const tail = Buffer.alloc(5);
  tail.writeUInt16BE(type, 1);
  tail.writeUInt16BE(klass, 3);
  return Buffer.concat([...parts, tail]);
}

async function responder(family: 4 | 6, behave: Behaviour) {
  const socket = dgram.createSocket(family === 4 ? 'udp4' : 'udp6');
  const seen: Buffer[] = [];
  socket.on('message', (msg, rinfo) => {
    seen.push(msg);
    for (const out of behave(msg)) socket.send(out, rinfo.port, rinfo.address);
  });
  await new Promise<void>((r) => socket.bind(0, family === 4 ? '127.0.0.1' : '::1', r));
  return { socket, port: socket.address().port, seen, close: () => new Promise<void>((r) => socket.close(() => r())) };
}

const check = (port: number, o: Partial<DnsCheck> = {}): DnsCheck => ({
  kind: 'dns',
  name: `DNS_CHECK 127.0.0.1:${port}`,
  host: '127.0.0.1',
  port,
  timeoutMs: 1500,
  ...timing,
  type: 'A',
  query: 'www.example.org',
  ...o,
});

const summary = (r: ProbeResult) => (r.ok ? 'pass' : r.error);

async function against(behave: Behaviour, o: Partial<DnsCheck> = {}, family: 4 | 6 = 4) {
  const server = await responder(family, behave);
  try {
    const r = await dnsProbe(check(server.port, { ...(family === 6 ? { host: '::1' } : {}), ...o }));
    return { r, seen: server.seen };
  } finally {
    await server.close();
  }
}

test('a healthy server passes, over IPv4 and IPv6; the query is keepalived\'s (random ID, RD, one question, class IN)', async () => {
  const v4 = await against((q) => [reply(q)]);
  assert.equal(summary(v4.r), 'pass');
  const q = v4.seen[0];
  assert.ok(q);
  assert.equal(q.readUInt16BE(2), 0x0100, 'RD only');
  assert.deepEqual([q.readUInt16BE(4), q.readUInt16BE(6), q.readUInt16BE(8), q.readUInt16BE(10)], [1, 0, 0, 0]);
  assert.deepEqual(q.subarray(12), question('www.example.org', 1));
  const v6 = await against((q6) => [reply(q6)], { type: 'SOA', query: '' }, 6);
  assert.equal(summary(v6.r), 'pass');
  assert.deepEqual(v6.seen[0]?.subarray(12), Buffer.from([0, 0, 6, 0, 1]), 'the root, SOA, IN');
});

test('an empty answer with RCODE 0 passes (keepalived looks at no answer); the name matches in any case', async () => {
  const upper = await against((q) => [reply(q, { question: question('WWW.Example.ORG', 1) })]);
  assert.equal(summary(upper.r), 'pass');
});

test('RCODE other than 0 fails with its name', async () => {
  assert.equal(summary((await against((q) => [reply(q, { rcode: 3 })])).r), 'RCODE NXDOMAIN');
  assert.equal(summary((await against((q) => [reply(q, { rcode: 2 })])).r), 'RCODE SERVFAIL');
  assert.equal(summary((await against((q) => [reply(q, { rcode: 15 })])).r), 'RCODE 15');
});

test('a reply with another ID is ignored: alone it ends in the timeout, followed by ours it passes', async () => {
  const started = performance.now();
  const alone = await against((q) => [reply(q, { id: q.readUInt16BE(0) ^ 1 })], { timeoutMs: 600 });
  assert.equal(summary(alone.r), 'no reply within 600 ms');
  assert.ok(performance.now() - started >= 550, 'waited for the timeout');
  const wrongThenRight = await against((q) => [reply(q, { id: q.readUInt16BE(0) ^ 1, rcode: 2 }), Buffer.from('runt'), reply(q, { qr: false }), reply(q)]);
  assert.equal(summary(wrongThenRight.r), 'pass', 'another ID, a runt and a query are all passed over');
});

test('a reply about another name, type or class fails (vigil\'s rule; keepalived would pass it)', async () => {
  assert.equal(summary((await against((q) => [reply(q, { question: question('www.example.com', 1) })])).r), "reply is for 'www.example.com', not 'www.example.org'");
  assert.equal(summary((await against((q) => [reply(q, { question: question('www.example.org', 28) })])).r), 'reply is for type 28, not 1');
  assert.equal(summary((await against((q) => [reply(q, { question: question('www.example.org', 1, 3) })])).r), 'reply is for class 3, not IN');
  const none = await against((q) => {
    const r = reply(q, { question: Buffer.alloc(0) });
    r.writeUInt16BE(0, 4);
    return [r];
  });
  assert.equal(summary(none.r), 'reply has no question section');
  assert.equal(summary((await against((q) => [reply(q, { question: Buffer.from([3, 0x77]) })])).r), 'reply has a malformed question');
});

test('a silent server fails by the timeout; a closed port fails at once with ICMP port unreachable', async () => {
  const silent = await against(() => [], { timeoutMs: 500 });
  assert.equal(summary(silent.r), 'no reply within 500 ms');
  assert.ok(silent.r.ms < 2500, `ended within its budget (${silent.r.ms} ms)`);
  const gone = await responder(4, () => []);
  const port = gone.port;
  await gone.close();
  const refused = await dnsProbe(check(port, { timeoutMs: 5000 }));
  assert.equal(summary(refused), 'ICMP port unreachable');
  assert.ok(refused.ms < 2500, 'long before the timeout');
});

test('bindto and bind_port are the query\'s source', async () => {
  const probe = dgram.createSocket('udp4');
  await new Promise<void>((r) => probe.bind(0, '127.0.0.1', r));
  const free = probe.address().port; // a port that was free a moment ago
  await new Promise<void>((r) => probe.close(() => r()));
  const server = await responder(4, (q) => [reply(q)]);
  let source = '';
  server.socket.prependListener('message', (_m, rinfo) => (source = `${rinfo.address}:${rinfo.port}`));
  try {
    const r = await dnsProbe(check(server.port, { bindto: '127.0.0.1', bindPort: free }));
    assert.equal(summary(r), 'pass');
    assert.equal(source, `127.0.0.1:${free}`);
  } finally {
    await server.close();
  }
});

test('an abort ends the attempt at once', async () => {
  const server = await responder(4, () => []);
  try {
    const abort = new AbortController();
    const pending = dnsProbe(check(server.port, { timeoutMs: 60_000 }), abort.signal);
    setTimeout(() => abort.abort(), 50);
    const r = await pending;
    assert.equal(summary(r), 'aborted');
    assert.ok(r.ms < 5000);
  } finally {
    await server.close();
  }
});

test('the codec: queries on the wire, names with compression pointers, hostile pointers refused', () => {
  const types: Array<[DnsType, number]> = [['A', 1], ['NS', 2], ['CNAME', 5], ['SOA', 6], ['MX', 15], ['TXT', 16], ['AAAA', 28], ['RRSIG', 46], ['DNSKEY', 48]];
  for (const [type, code] of types) assert.equal(encodeQuery(7, 'a.b', type).readUInt16BE(12 + 5), code, type);
  assert.deepEqual(encodeQuery(0x1234, 'ab.c', 'MX'), Buffer.from([0x12, 0x34, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 2, 0x61, 0x62, 1, 0x63, 0, 0, 15, 0, 1]));
  assert.throws(() => encodeQuery(1, 'a..b', 'A'), RangeError);
  assert.throws(() => encodeQuery(1, `${'x'.repeat(64)}.org`, 'A'), RangeError);
  // "b.a" at 12, then a name "c" + pointer to 12 at offset 17
  const msg = Buffer.from([...Array<number>(12).fill(0), 1, 0x62, 1, 0x61, 0, 1, 0x63, 0xc0, 12]);
  assert.deepEqual(readName(msg, 17), { labels: ['c', 'b', 'a'], end: 21 });
  assert.equal(readName(Buffer.from([0xc0, 0]), 0), undefined, 'a pointer to itself');
  assert.equal(readName(Buffer.from([0, 0xc0, 3, 0]), 1), undefined, 'a pointer forwards');
  assert.equal(readName(Buffer.from([5, 0x61]), 0), undefined, 'a label past the end');
  const q = encodeQuery(9, 'x.org', 'A');
  assert.deepEqual(judgeReply(q, Buffer.alloc(5)), { t: 'ignore', why: '5 bytes, shorter than a DNS header' });
  assert.deepEqual(judgeReply(q, reply(q)), { t: 'pass' });
});

test('2,000 attempts against a hostile responder (silence, wrong IDs, garbage, errors) leave no handle behind', async () => {
  let n = 0;
  const server = await responder(4, (q) => {
    switch (n++ % 5) {
      case 0:
        return [];
      case 1:
        return [reply(q, { id: q.readUInt16BE(0) ^ 0xff })];
      case 2:
        return [Buffer.from('not dns at all, just bytes')];
      case 3:
        return [reply(q, { rcode: 5 })];
      default:
        return [reply(q)];
    }
  });
  try {
    await settle(); // sockets earlier tests closed finish closing
    const before = handles();
    const outcomes = new Map<string, number>();
    for (let batch = 0; batch < 20; batch++) {
      const results = await Promise.all(Array.from({ length: 100 }, () => dnsProbe(check(server.port, { timeoutMs: 150 }))));
      for (const r of results) outcomes.set(summary(r), (outcomes.get(summary(r)) ?? 0) + 1);
    }
    await settle();
    assert.deepEqual(handles(), before, 'sockets and timers back to the baseline');
    assert.ok((outcomes.get('pass') ?? 0) > 0 && (outcomes.get('RCODE REFUSED') ?? 0) > 0 && (outcomes.get('no reply within 150 ms') ?? 0) > 0, JSON.stringify([...outcomes]));
  } finally {
    await server.close();
  }
});
