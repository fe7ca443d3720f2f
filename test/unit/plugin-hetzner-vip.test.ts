// hetzner-vip against a fake Hetzner Cloud API on 127.0.0.1: the exact requests of a move,
// idempotence, retries, and fencing (a move for a master state already left is not applied).
import assert from 'node:assert/strict';
import { afterEach, test } from 'node:test';
import plugin from '../../plugins/hetzner-vip/index.ts';
import { configSchema as schema } from '../../plugins/hetzner-vip/config.ts';
import { configSchema, type Config } from '../../src/config/schema.ts';
import { startFakeHetzner, type FakeHetzner } from '../lib/fake-hetzner.ts';
import { startPlugin, transition, type Harness } from '../lib/plugin-harness.ts';

/** The built-in's config: its section, as the config loader leaves it. */
const builtinSection = (config: Config): unknown => config.plugins['hetzner-vip'];

const TOKEN = 'hc-token-s3cr3t-0123456789';
const fast = { initial_delay_ms: 5, max_delay_ms: 20, jitter: 0 };

let fake: FakeHetzner | undefined;
let h: Harness | undefined;
afterEach(async () => {
  await h?.stop();
  await fake?.close();
  h = undefined;
  fake = undefined;
});

async function waitFor(what: string, cond: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

const logged = (re: RegExp) => () => (h?.recorded.logs ?? []).some((l) => re.test(l.msg));

async function setup(floatingIps: Record<number, number | null>, extra: Record<string, unknown> = {}, actionPollsRunning = 0) {
  fake = await startFakeHetzner({ token: TOKEN, floatingIps, actionPollsRunning });
  h = await startPlugin(plugin, {
    token: TOKEN,
    endpoint: fake.endpoint,
    action_poll_ms: 5,
    retry: fast,
    instances: { VI_1: { floating_ip_id: 7, server_id: 42 } },
    ...extra,
  });
  return { fake, h };
}

test('config: plugins.hetzner-vip is the section; defaults applied; absent section = not started', () => {
  const config = configSchema.parse({ plugins: { 'hetzner-vip': { token: 't', instances: { VI_1: { floating_ip_id: [1, 2], server_id: 3 } } } } });
  const parsed = schema.parse(builtinSection(config));
  assert.equal(parsed.endpoint, 'https://api.hetzner.cloud/v1');
  assert.deepEqual(parsed.instances.VI_1, { floating_ip_id: [1, 2], server_id: 3 });
  assert.equal(builtinSection(configSchema.parse({})), undefined);
  assert.equal(schema.safeParse({ token: 't', instances: { VI_1: { floating_ip_id: 'x', server_id: 3 } } }).success, false);
});

test('master: checks the assignment, assigns to this server, follows the action to success', async () => {
  const { fake, h } = await setup({ 7: 99 }, {}, 1);
  h.emit(transition('VI_1', 'backup', 'master'));
  await waitFor('move done', logged(/VI_1: address moved to this node/));
  assert.deepEqual(
    fake.requests.map((r) => [r.method, r.path, r.authorization, r.body]),
    [
      ['GET', '/v1/floating_ips/7', `Bearer ${TOKEN}`, ''],
      ['POST', '/v1/floating_ips/7/actions/assign', `Bearer ${TOKEN}`, '{"server":42}'],
      ['GET', '/v1/actions/1001', `Bearer ${TOKEN}`, ''],
      ['GET', '/v1/actions/1001', `Bearer ${TOKEN}`, ''],
    ],
  );
  assert.equal(fake.assigns()[0]?.contentType, 'application/json');
  assert.equal(fake.assignments.get(7), 42);
  assert.ok(!h.recorded.logs.some((l) => l.msg.includes(TOKEN)), 'the token is never logged');
});

test('backup, fault and initialize transitions move nothing', async () => {
  const { fake, h } = await setup({ 7: 99 });
  h.emit(transition('VI_1', 'initialize', 'backup'));
  h.emit(transition('VI_1', 'backup', 'fault'));
  h.emit(transition('VI_1', 'fault', 'backup'));
  h.emit(transition('VI_2', 'backup', 'master')); // not configured for this plugin
  await h.idle();
  await new Promise((r) => setTimeout(r, 100));
  assert.deepEqual(fake.requests, []);
  assert.equal(fake.assignments.get(7), 99);
});

test('idempotent: already assigned to this server = success without an assign', async () => {
  const { fake, h } = await setup({ 7: 42 });
  h.emit(transition('VI_1', 'backup', 'master'));
  await waitFor('done', logged(/VI_1: address already assigned/));
  assert.deepEqual(fake.requests.map((r) => `${r.method} ${r.path}`), ['GET /v1/floating_ips/7']);
});

test('several floating IPs per instance: each checked, only the foreign one assigned', async () => {
  const { fake, h } = await setup({ 7: 42, 8: null }, { wait_for_action: false, instances: { VI_1: { floating_ip_id: [7, 8], server_id: 42 } } });
  h.emit(transition('VI_1', 'backup', 'master'));
  await waitFor('done', logged(/VI_1: address moved/));
  assert.deepEqual(fake.requests.map((r) => `${r.method} ${r.path}`), ['GET /v1/floating_ips/7', 'GET /v1/floating_ips/8', 'POST /v1/floating_ips/8/actions/assign']);
  assert.equal(fake.assignments.get(8), 42);
});

test('retries on 500 (and 429 with Retry-After) until it succeeds', async () => {
  const { fake, h } = await setup({ 7: 99 }, { wait_for_action: false });
  let posts = 0;
  fake.intercept = (r) => {
    if (r.method !== 'POST') return undefined;
    posts++;
    if (posts === 1) return { status: 500, body: { error: { code: 'server_error', message: 'boom', details: {} } } };
    if (posts === 2) return { status: 429, headers: { 'retry-after': '0' }, body: { error: { code: 'rate_limit_exceeded', message: 'slow down', details: {} } } };
    return undefined;
  };
  h.emit(transition('VI_1', 'backup', 'master'));
  await waitFor('moved', logged(/VI_1: address moved to this node \(attempt 3\)/));
  assert.deepEqual(fake.requests.map((r) => `${r.method} ${r.path}`), [
    'GET /v1/floating_ips/7',
    'POST /v1/floating_ips/7/actions/assign',
    'GET /v1/floating_ips/7',
    'POST /v1/floating_ips/7/actions/assign',
    'GET /v1/floating_ips/7',
    'POST /v1/floating_ips/7/actions/assign',
  ]);
  assert.equal(fake.assignments.get(7), 42);
  assert.equal(h.recorded.logs.filter((l) => l.level === 'warn' && /retrying/.test(l.msg)).length, 2);
});

test('no retry on a permanent error (401)', async () => {
  const { fake, h } = await setup({ 7: 99 }, { token: 'wrong-token' });
  h.emit(transition('VI_1', 'backup', 'master'));
  await waitFor('failure', logged(/VI_1: move failed, not retrying: GET \/floating_ips\/7: HTTP 401 unauthorized/));
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(fake.requests.length, 1);
  assert.equal(fake.assignments.get(7), 99);
  assert.ok(!h.recorded.logs.some((l) => l.msg.includes('wrong-token')));
});

test('fencing: a backup transition while the server delays the first request: the move is not applied', async () => {
  const { fake, h } = await setup({ 7: 99 });
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  fake.intercept = async (_r, n) => {
    if (n === 1) await gate;
    return undefined;
  };
  h.emit(transition('VI_1', 'backup', 'master'));
  await waitFor('first request', () => fake.requests.length === 1);
  h.emit(transition('VI_1', 'master', 'backup', 100));
  await waitFor('fenced', logged(/VI_1: move for event 1 not applied: the instance left that master state/));
  release();
  await new Promise((r) => setTimeout(r, 150));
  assert.deepEqual(fake.assigns(), []);
  assert.equal(fake.requests.length, 1);
  assert.equal(fake.assignments.get(7), 99);
});

test('fencing: a backup transition while a move is being retried stops the retries', async () => {
  const { fake, h } = await setup({ 7: 99 }, { retry: { initial_delay_ms: 300, max_delay_ms: 300, jitter: 0 } });
  fake.intercept = (r) => (r.method === 'POST' ? { status: 503, body: { error: { code: 'unavailable', message: 'try later', details: {} } } } : undefined);
  h.emit(transition('VI_1', 'backup', 'master'));
  await waitFor('first failure', logged(/VI_1: move attempt 1 failed \(POST \/floating_ips\/7\/actions\/assign: HTTP 503 unavailable: try later\); retrying in 300 ms/));
  h.emit(transition('VI_1', 'master', 'backup'));
  await waitFor('fenced', logged(/not applied/));
  await new Promise((r) => setTimeout(r, 600));
  assert.equal(fake.assigns().length, 1);
  assert.equal(fake.requests.length, 2);
});

test('fencing: master -> backup -> master: only the latest move runs, and it is applied', async () => {
  const { fake, h } = await setup({ 7: 99 }, { wait_for_action: false });
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  fake.intercept = async (_r, n) => {
    if (n === 1) await gate;
    return undefined;
  };
  h.emit(transition('VI_1', 'backup', 'master'));
  await waitFor('first request', () => fake.requests.length === 1);
  h.emit(transition('VI_1', 'master', 'backup'));
  h.emit(transition('VI_1', 'backup', 'master'));
  await waitFor('moved', logged(/VI_1: address moved/));
  release();
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(fake.assigns().length, 1);
  assert.equal(fake.assignments.get(7), 42);
  assert.equal(h.recorded.logs.filter((l) => /not applied/.test(l.msg)).length, 1);
});

test('started while its instance is already Master (a restart): claims the address without a transition', async () => {
  fake = await startFakeHetzner({ token: TOKEN, floatingIps: { 7: 99 }, actionPollsRunning: 0 });
  h = await startPlugin(
    plugin,
    { token: TOKEN, endpoint: fake.endpoint, action_poll_ms: 5, retry: fast, instances: { VI_1: { floating_ip_id: 7, server_id: 42 } } },
    [{ name: 'VI_1', vrid: 51, interface: 'eth0', family: 4, version: 2, priority: 100, virtualAddresses: ['192.0.2.100/24'], state: 'master' }],
  );
  const f = fake;
  await waitFor('move done', () => f.assignments.get(7) === 42);
  assert.equal(f.assigns().length, 1);
});
