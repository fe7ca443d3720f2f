// webhook against real HTTP receivers on 127.0.0.1: the exact request (body = the bus event,
// signature, headers), the event filter, retries (5xx, 429 + Retry-After, network errors,
// timeouts), no retry on other 4xx, per-target isolation, seq order, the bounded queue.
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, test } from 'node:test';
import plugin from '../../plugins/webhook/index.ts';
import { DEFAULT_EVENTS, configSchema as schema } from '../../plugins/webhook/config.ts';
import type { EventBody, VigilEvent } from '../../src/bus/events.ts';
import { configSchema, type Config } from '../../src/config/schema.ts';
import { startPlugin, transition, type Harness } from '../lib/plugin-harness.ts';

/** The built-in's config: its section, as the config loader leaves it. */
const builtinSection = (config: Config): unknown => config.plugins['webhook'];

interface Hit {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: string;
  at: number;
}

interface Receiver {
  url: string;
  hits: Hit[];
  /** Answers request number n (1-based); default 204. May wait; may destroy the socket. */
  respond: (hit: Hit, n: number, res: ServerResponse) => Promise<void> | void;
  close(): Promise<void>;
}

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function receiver(): Promise<Receiver> {
  const r: Receiver = {
    url: '',
    hits: [],
    respond: (_h, _n, res) => {
      res.writeHead(204).end();
    },
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((res) => server.close(() => res()));
    },
  };
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const hit: Hit = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks).toString('utf8'), at: Date.now() };
      r.hits.push(hit);
      void Promise.resolve(r.respond(hit, r.hits.length, res)).catch(() => undefined);
    });
  });
  await new Promise<void>((res) => server.listen(0, '127.0.0.1', res));
  r.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
  cleanups.push(() => r.close());
  return r;
}

async function start(targets: unknown[]): Promise<Harness> {
  const h = await startPlugin(plugin, { targets });
  cleanups.push(() => h.stop());
  return h;
}

async function waitFor(what: string, cond: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

const fast = { initial_delay_ms: 5, max_delay_ms: 20, jitter: 0 };
const seqs = (r: Receiver) => r.hits.map((h) => (JSON.parse(h.body) as VigilEvent).seq);
const priority = (instance: string, effective: number): EventBody => ({ type: 'instance.priority', instance, base: 100, previous: 100, effective, cause: 'track-script:chk', adjustments: { 'track-script:chk': effective - 100 } });
const reloaded: EventBody = { type: 'config.reloaded', file: '/etc/vigil.yaml', unchanged: [], updated: [], recreated: [], added: [], removed: [] };

test('config: plugins.webhook is the section, with defaults; bad targets are rejected', () => {
  const parsed = schema.parse(builtinSection(configSchema.parse({ plugins: { webhook: { targets: [{ url: 'https://hooks.example/x' }] } } })));
  assert.deepEqual(parsed.targets[0]?.events, [...DEFAULT_EVENTS]);
  assert.equal(parsed.targets[0]?.retry.max_attempts, 8);
  assert.equal(parsed.targets[0]?.queue_size, 1000);
  assert.equal(builtinSection(configSchema.parse({})), undefined);
  assert.equal(schema.safeParse({ targets: [{ url: 'ftp://x/' }] }).success, false);
  assert.equal(schema.safeParse({ targets: [{ url: 'http://x/', events: ['instance.nope'] }] }).success, false);
  assert.equal(schema.safeParse({ targets: [{ url: 'http://x/', headers: { 'bad header': 'v' } }] }).success, false);
});

test('POSTs the event exactly as on the bus, signed, with the configured headers', async () => {
  const r = await receiver();
  const secret = 'whsec-very-secret-value';
  const h = await start([{ url: `${r.url}?token=abc`, secret, headers: { Authorization: 'Bearer hdr-secret-token', 'X-Team': 'net' } }]);
  const before = Math.floor(Date.now() / 1000);
  const sent = h.emit(transition('VI_1', 'backup', 'master'));
  await waitFor('delivery', () => r.hits.length === 1);
  const hit = r.hits[0]!;
  assert.equal(hit.method, 'POST');
  assert.equal(hit.url, '/hook?token=abc');
  assert.equal(hit.body, JSON.stringify(sent));
  assert.deepEqual(JSON.parse(hit.body), { ...sent });
  assert.equal((JSON.parse(hit.body) as VigilEvent).v, 1);
  assert.equal(hit.headers['content-type'], 'application/json');
  assert.equal(hit.headers['x-vigil-event'], 'instance.transition');
  assert.equal(hit.headers['x-vigil-seq'], String(sent.seq));
  assert.equal(hit.headers['x-vigil-attempt'], '1');
  assert.equal(hit.headers['x-vigil-signature'], `sha256=${createHmac('sha256', secret).update(hit.body).digest('hex')}`);
  const ts = Number(hit.headers['x-vigil-timestamp']);
  assert.ok(ts >= before && ts <= before + 5, `timestamp ${ts}`);
  assert.equal(hit.headers.authorization, 'Bearer hdr-secret-token');
  assert.equal(hit.headers['x-team'], 'net');
  await h.stop();
  const logs = JSON.stringify(h.recorded.logs);
  for (const s of [secret, 'hdr-secret-token', 'token=abc']) assert.ok(!logs.includes(s), `${s} must not be logged`);
});

test('no signature header without a secret; credentials in the URL become Basic auth', async () => {
  const r = await receiver();
  const url = new URL(r.url);
  url.username = 'user';
  url.password = 'p@ss';
  const h = await start([{ url: url.href }]);
  h.emit(transition('VI_1', 'backup', 'master'));
  await waitFor('delivery', () => r.hits.length === 1);
  assert.equal(r.hits[0]?.headers['x-vigil-signature'], undefined);
  assert.equal(r.hits[0]?.headers.authorization, `Basic ${Buffer.from('user:p@ss').toString('base64')}`);
});

test('the default filter sends transitions, faults, priorities and plugin failures only; "*" sends all', async () => {
  const def = await receiver();
  const all = await receiver();
  const h = await start([{ url: def.url }, { url: all.url, events: ['*'] }]);
  h.emit(transition('VI_1', 'initialize', 'backup'));
  h.emit(reloaded);
  h.emit({ type: 'instance.fault', instance: 'VI_1', source: 'track-interface:eth1', active: true, faults: ['track-interface:eth1'] });
  h.emit({ type: 'packets.dropped', scope: 'VI_1', counts: { ttl: 3 }, windowMs: 10_000 });
  h.emit(priority('VI_1', 90));
  h.emit({ type: 'plugin.failed', plugin: 'x', cause: 'threw', error: 'boom', restartInMs: 1000 });
  h.emit({ type: 'plugin.started', plugin: 'x', restarts: 1 });
  h.emit({ type: 'group.transition', group: 'G', from: 'backup', to: 'master', reason: 'member', instance: 'VI_1' });
  await waitFor('all delivered', () => def.hits.length === 5 && all.hits.length === 8);
  assert.deepEqual(seqs(def), [1, 3, 5, 6, 8]);
  assert.deepEqual(seqs(all), [1, 2, 3, 4, 5, 6, 7, 8]);
});

test('retries 5xx and network errors with back-off, then delivers; order by seq is kept', async () => {
  const r = await receiver();
  r.respond = (_h, n, res) => {
    if (n === 1) res.writeHead(500).end();
    else if (n === 2) res.socket?.destroy(); // a connection reset
    else if (n === 3) res.writeHead(503).end('busy');
    else res.writeHead(200).end('ok');
  };
  const h = await start([{ url: r.url, retry: fast }]);
  h.emit(transition('VI_1', 'backup', 'master'));
  h.emit(transition('VI_2', 'backup', 'master'));
  h.emit(priority('VI_1', 80));
  await waitFor('delivered', () => r.hits.length === 6);
  assert.deepEqual(seqs(r), [1, 1, 1, 1, 2, 3]);
  assert.deepEqual(r.hits.map((x) => x.headers['x-vigil-attempt']), ['1', '2', '3', '4', '1', '1']);
});

test('429 honours Retry-After', async () => {
  const r = await receiver();
  r.respond = (_h, n, res) => {
    if (n === 1) res.writeHead(429, { 'retry-after': '1' }).end();
    else res.writeHead(200).end();
  };
  const h = await start([{ url: r.url, retry: fast }]);
  h.emit(transition('VI_1', 'backup', 'master'));
  await waitFor('delivered', () => r.hits.length === 2);
  const gap = r.hits[1]!.at - r.hits[0]!.at;
  assert.ok(gap >= 900, `waited ${gap} ms, not the 1 s the server asked for`);
});

test('other 4xx: no retry; the next event goes out', async () => {
  const r = await receiver();
  r.respond = (_h, n, res) => {
    res.writeHead(n === 1 ? 400 : 200).end();
  };
  const h = await start([{ url: r.url, retry: fast }]);
  h.emit(transition('VI_1', 'backup', 'master'));
  h.emit(transition('VI_1', 'master', 'backup'));
  await waitFor('both', () => r.hits.length === 2);
  await new Promise((res) => setTimeout(res, 100));
  assert.deepEqual(seqs(r), [1, 2]);
  assert.ok(h.recorded.logs.some((l) => l.level === 'warn' && /event seq 1 \(instance.transition\) rejected: HTTP 400; not retrying/.test(l.msg)));
});

test('gives up after max_attempts (a port nobody listens on), and says so', async () => {
  const dead = await receiver();
  const url = dead.url;
  await dead.close(); // nothing listens there now: connection refused
  const h = await start([{ url, retry: { ...fast, max_attempts: 3 } }]);
  h.emit(transition('VI_1', 'backup', 'master'));
  await waitFor('give up', () => h.recorded.logs.some((l) => /event seq 1 \(instance.transition\) not delivered after 3 attempts/.test(l.msg)));
});

test('a request that exceeds timeout_ms is retried', async () => {
  const r = await receiver();
  r.respond = async (_h, n, res) => {
    if (n === 1) await new Promise((x) => setTimeout(x, 2000));
    if (!res.destroyed) res.writeHead(200).end();
  };
  const h = await start([{ url: r.url, timeout_ms: 200, retry: fast }]);
  h.emit(transition('VI_1', 'backup', 'master'));
  await waitFor('retry', () => r.hits.length === 2);
  assert.equal(r.hits[1]?.headers['x-vigil-attempt'], '2');
});

test('a hung target blocks neither another target nor the plugin\'s event handling', async () => {
  const hung = await receiver();
  const ok = await receiver();
  let release!: () => void;
  const gate = new Promise<void>((x) => (release = x));
  hung.respond = async (_h, _n, res) => {
    await gate;
    if (!res.destroyed) res.writeHead(200).end();
  };
  const h = await start([{ url: hung.url, timeout_ms: 60_000 }, { url: ok.url }]);
  for (let i = 0; i < 5; i++) h.emit(transition('VI_1', i % 2 ? 'master' : 'backup', i % 2 ? 'backup' : 'master'));
  await h.idle(); // every handler settled while the hung target still holds its first request
  await waitFor('ok target got all', () => ok.hits.length === 5);
  assert.equal(hung.hits.length, 1);
  release();
  await waitFor('hung target catches up', () => hung.hits.length === 5);
  assert.deepEqual(seqs(hung), [1, 2, 3, 4, 5]);
});

test('full queue: oldest non-transition events are dropped first, then the oldest transition; drops are counted and logged', async () => {
  const r = await receiver();
  let release!: () => void;
  const gate = new Promise<void>((x) => (release = x));
  r.respond = async (_h, n, res) => {
    if (n === 1) await gate;
    res.writeHead(200).end();
  };
  const h = await start([{ url: r.url, queue_size: 2, timeout_ms: 60_000 }]);
  h.emit(transition('VI_1', 'backup', 'master')); // 1: in flight, held by the receiver
  await waitFor('first in flight', () => r.hits.length === 1);
  h.emit(priority('VI_1', 90)); // 2
  h.emit(transition('VI_1', 'master', 'backup')); // 3
  h.emit(priority('VI_1', 80)); // 4: queue full -> 2 dropped
  h.emit(transition('VI_1', 'backup', 'master')); // 5: -> 4 dropped
  h.emit(transition('VI_1', 'master', 'backup')); // 6: only transitions left -> 3 dropped
  await h.idle();
  release();
  await waitFor('drained', () => r.hits.length === 3);
  await new Promise((x) => setTimeout(x, 50));
  assert.deepEqual(seqs(r), [1, 5, 6]);
  const warns = h.recorded.logs.filter((l) => l.level === 'warn').map((l) => l.msg);
  assert.ok(warns.some((m) => /queue full \(2\), dropped 1 event\(s\) \(last: seq 2 instance.priority\); 1 dropped in all/.test(m)), warns.join('\n'));
  assert.ok(warns.some((m) => /dropped 2 event\(s\); 3 dropped in all/.test(m)), warns.join('\n'));
});
