// aws-vip through the official SDK against a fake EC2 endpoint on 127.0.0.1 that checks SigV4
// signatures with the test's secret key: exact query-protocol requests, idempotence, retries,
// and fencing. Credentials and endpoint are always explicit, so the SDK never looks for
// instance metadata or a real endpoint.
import assert from 'node:assert/strict';
import { afterEach, test } from 'node:test';
import plugin from '../../plugins/aws-vip/index.ts';
import { configSchema as schema } from '../../plugins/aws-vip/config.ts';
import { configSchema, type Config } from '../../src/config/schema.ts';
import { ec2Error, startFakeAws, verifySigV4, type FakeAws } from '../lib/fake-aws.ts';
import { startPlugin, transition, type Harness } from '../lib/plugin-harness.ts';

/** The built-in's config: its section, as the config loader leaves it. */
const builtinSection = (config: Config): unknown => config.plugins['aws-vip'];

process.env.AWS_EC2_METADATA_DISABLED = 'true';

const REGION = 'eu-central-1';
const CREDS = { accessKeyId: 'AKIDEXAMPLE0000TEST', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYTESTKEY00', sessionToken: 'session-token-abc' };
const fast = { initial_delay_ms: 5, max_delay_ms: 20, jitter: 0 };

let fake: FakeAws | undefined;
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
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; logs: ${JSON.stringify(h?.recorded.logs)}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}
const logged = (re: RegExp) => () => (h?.recorded.logs ?? []).some((l) => re.test(l.msg));

/** Our ENI eni-0a has 10.0.0.10; the peer's eni-0b holds the VIP 10.0.0.100 and the EIP. */
async function setup(extra: Record<string, unknown> = {}, state?: { enis?: Record<string, string[]>; addresses?: Record<string, { publicIp: string; eni?: string; privateIp?: string }> }) {
  fake = await startFakeAws({
    region: REGION,
    credentials: CREDS,
    enis: state?.enis ?? { 'eni-0a': ['10.0.0.10'], 'eni-0b': ['10.0.0.20', '10.0.0.100'] },
    addresses: state?.addresses ?? { 'eipalloc-01': { publicIp: '198.51.100.7', eni: 'eni-0b', privateIp: '10.0.0.100' } },
  });
  h = await startPlugin(plugin, {
    region: REGION,
    endpoint: fake.endpoint,
    credentials: { access_key_id: CREDS.accessKeyId, secret_access_key: CREDS.secretAccessKey, session_token: CREDS.sessionToken },
    retry: fast,
    instances: { VI_1: { network_interface_id: 'eni-0a', private_ip: '10.0.0.100', allocation_id: 'eipalloc-01' } },
    ...extra,
  });
  return { fake, h };
}

test('config: plugins.aws-vip is the section; private_ip normalised; an instance needs something to move', () => {
  const parsed = schema.parse(builtinSection(configSchema.parse({ plugins: { 'aws-vip': { region: 'us-east-1', instances: { VI_1: { network_interface_id: 'eni-0a', private_ip: ['10.0.0.5', '10.0.0.6'] } } } } })));
  assert.deepEqual(parsed.instances.VI_1, { network_interface_id: 'eni-0a', private_ips: ['10.0.0.5', '10.0.0.6'], allocation_id: undefined, eip_private_ip: '10.0.0.5' });
  assert.equal(builtinSection(configSchema.parse({})), undefined);
  assert.equal(schema.safeParse({ region: 'us-east-1', instances: { VI_1: { network_interface_id: 'eni-0a' } } }).success, false);
  assert.equal(schema.safeParse({ region: 'us-east-1', instances: { VI_1: { network_interface_id: 'i-123', allocation_id: 'eipalloc-1' } } }).success, false);
});

test('the fake checks SigV4 for real: a wrong key or a malformed header fails', () => {
  const body = Buffer.from('Action=DescribeAddresses&Version=2016-11-15');
  const amzDate = new Date().toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '');
  const headers = { host: '127.0.0.1:1', 'x-amz-date': amzDate, authorization: `AWS4-HMAC-SHA256 Credential=${CREDS.accessKeyId}/${amzDate.slice(0, 8)}/${REGION}/ec2/aws4_request, SignedHeaders=host;x-amz-date, Signature=${'0'.repeat(64)}` };
  assert.equal(verifySigV4({ method: 'POST', url: '/', headers, body }, { accessKeyId: CREDS.accessKeyId, secretAccessKey: 'x' }, REGION, 'ec2'), 'SignatureDoesNotMatch');
  assert.match(verifySigV4({ method: 'POST', url: '/', headers: { ...headers, authorization: 'AWS4-HMAC-SHA256 nonsense' }, body }, CREDS, REGION, 'ec2') ?? '', /malformed/);
});

test('master: reassigns the private IP to our ENI and re-associates the EIP, SigV4-signed', async () => {
  const { fake, h } = await setup();
  h.emit(transition('VI_1', 'backup', 'master'));
  await waitFor('moved', logged(/VI_1: address moved to this node \(attempt 1\)/));
  assert.deepEqual(
    fake.requests.map((r) => r.authError),
    [undefined, undefined, undefined, undefined],
    'every request carries a valid SigV4 signature',
  );
  assert.deepEqual(
    fake.requests.map((r) => r.params),
    [
      { Action: 'DescribeNetworkInterfaces', Version: '2016-11-15', 'NetworkInterfaceId.1': 'eni-0a' },
      { Action: 'AssignPrivateIpAddresses', Version: '2016-11-15', NetworkInterfaceId: 'eni-0a', 'PrivateIpAddress.1': '10.0.0.100', AllowReassignment: 'true' },
      { Action: 'DescribeAddresses', Version: '2016-11-15', 'AllocationId.1': 'eipalloc-01' },
      { Action: 'AssociateAddress', Version: '2016-11-15', AllocationId: 'eipalloc-01', NetworkInterfaceId: 'eni-0a', PrivateIpAddress: '10.0.0.100', AllowReassociation: 'true' },
    ],
  );
  const auth = fake.requests[0]!.headers.authorization ?? '';
  assert.match(auth, new RegExp(`^AWS4-HMAC-SHA256 Credential=${CREDS.accessKeyId}/\\d{8}/${REGION}/ec2/aws4_request, SignedHeaders=[a-z0-9;-]*host[a-z0-9;-]*, Signature=[0-9a-f]{64}$`));
  assert.equal(fake.requests[0]!.headers['x-amz-security-token'], CREDS.sessionToken);
  // The same signed request re-checks fine, and fails once its body is tampered with.
  const signed = fake.requests[3]!;
  assert.equal(verifySigV4({ method: 'POST', url: '/', headers: signed.headers, body: Buffer.from(signed.body) }, CREDS, REGION, 'ec2'), undefined);
  const tampered = Buffer.from(signed.body.replace('eni-0a', 'eni-0c'));
  assert.notEqual(verifySigV4({ method: 'POST', url: '/', headers: signed.headers, body: tampered }, CREDS, REGION, 'ec2'), undefined);
  assert.deepEqual(fake.enis.get('eni-0a'), ['10.0.0.10', '10.0.0.100']);
  assert.deepEqual(fake.enis.get('eni-0b'), ['10.0.0.20']);
  assert.equal(fake.addresses.get('eipalloc-01')?.eni, 'eni-0a');
  assert.equal(fake.addresses.get('eipalloc-01')?.privateIp, '10.0.0.100');
  const logs = JSON.stringify(h.recorded.logs);
  for (const s of [CREDS.secretAccessKey, CREDS.sessionToken]) assert.ok(!logs.includes(s), 'credentials are never logged');
});

test('EIP only, to the primary address: no private-IP calls, no PrivateIpAddress parameter', async () => {
  const { fake, h } = await setup({ instances: { VI_1: { network_interface_id: 'eni-0a', allocation_id: 'eipalloc-01' } } }, { enis: { 'eni-0a': ['10.0.0.10'], 'eni-0b': ['10.0.0.20'] }, addresses: { 'eipalloc-01': { publicIp: '198.51.100.7' } } });
  h.emit(transition('VI_1', 'backup', 'master'));
  await waitFor('moved', logged(/VI_1: address moved/));
  assert.deepEqual(fake.requests.map((r) => r.action), ['DescribeAddresses', 'AssociateAddress']);
  assert.deepEqual(fake.calls('AssociateAddress')[0]?.params, { Action: 'AssociateAddress', Version: '2016-11-15', AllocationId: 'eipalloc-01', NetworkInterfaceId: 'eni-0a', AllowReassociation: 'true' });
  assert.equal(fake.addresses.get('eipalloc-01')?.privateIp, '10.0.0.10');
});

test('backup and fault transitions move nothing', async () => {
  const { fake, h } = await setup();
  h.emit(transition('VI_1', 'initialize', 'backup'));
  h.emit(transition('VI_1', 'backup', 'fault'));
  h.emit(transition('VI_1', 'fault', 'backup'));
  await h.idle();
  await new Promise((r) => setTimeout(r, 100));
  assert.deepEqual(fake.requests, []);
});

test('idempotent: addresses already ours = success with describes only', async () => {
  const { fake, h } = await setup({}, { enis: { 'eni-0a': ['10.0.0.10', '10.0.0.100'], 'eni-0b': ['10.0.0.20'] }, addresses: { 'eipalloc-01': { publicIp: '198.51.100.7', eni: 'eni-0a', privateIp: '10.0.0.100' } } });
  h.emit(transition('VI_1', 'backup', 'master'));
  await waitFor('done', logged(/VI_1: address already assigned to this node/));
  assert.deepEqual(fake.requests.map((r) => r.action), ['DescribeNetworkInterfaces', 'DescribeAddresses']);
});

test('retries on 500 and throttling, then succeeds', async () => {
  const { fake, h } = await setup();
  let associates = 0;
  fake.intercept = (r) => {
    if (r.action !== 'AssociateAddress') return undefined;
    associates++;
    if (associates === 1) return ec2Error(500, 'InternalError', 'An internal error has occurred');
    if (associates === 2) return ec2Error(503, 'RequestLimitExceeded', 'Request limit exceeded.');
    return undefined;
  };
  h.emit(transition('VI_1', 'backup', 'master'));
  await waitFor('moved', logged(/VI_1: address moved to this node \(attempt 3\)/));
  assert.equal(fake.calls('AssociateAddress').length, 3);
  // The private IP was moved on attempt 1; attempts 2 and 3 see it in place and skip it.
  assert.equal(fake.calls('AssignPrivateIpAddresses').length, 1);
  assert.equal(fake.addresses.get('eipalloc-01')?.eni, 'eni-0a');
  const warns = h.recorded.logs.filter((l) => l.level === 'warn').map((l) => l.msg);
  assert.equal(warns.length, 2);
  assert.match(warns[0]!, /AssociateAddress eipalloc-01 -> eni-0a: HTTP 500 InternalError/);
});

test('a client error (bad signature) is not retried', async () => {
  const { fake, h } = await setup({ credentials: { access_key_id: CREDS.accessKeyId, secret_access_key: 'not-the-right-key', session_token: CREDS.sessionToken } });
  h.emit(transition('VI_1', 'backup', 'master'));
  await waitFor('failed', logged(/VI_1: move failed, not retrying: DescribeNetworkInterfaces eni-0a: HTTP 403 SignatureDoesNotMatch/));
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(fake.requests.length, 1);
  assert.equal(fake.requests[0]?.authError, 'SignatureDoesNotMatch');
  assert.ok(!JSON.stringify(h.recorded.logs).includes('not-the-right-key'));
});

test('fencing: a backup transition while the server delays the first request: nothing is assigned', async () => {
  const { fake, h } = await setup();
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  fake.intercept = async (_r, n) => {
    if (n === 1) await gate;
    return undefined;
  };
  h.emit(transition('VI_1', 'backup', 'master'));
  await waitFor('first request', () => fake!.requests.length === 1);
  h.emit(transition('VI_1', 'master', 'backup'));
  await waitFor('fenced', logged(/VI_1: move for event 1 not applied/));
  release();
  await new Promise((r) => setTimeout(r, 150));
  assert.deepEqual(fake.requests.map((r) => r.action), ['DescribeNetworkInterfaces']);
  assert.equal(fake.addresses.get('eipalloc-01')?.eni, 'eni-0b');
});

test('fencing: a backup transition while retrying: the stale move is not retried', async () => {
  const { fake, h } = await setup({ retry: { initial_delay_ms: 300, max_delay_ms: 300, jitter: 0 } });
  fake.intercept = (r) => (r.action === 'AssociateAddress' ? ec2Error(500, 'InternalError', 'An internal error has occurred') : undefined);
  h.emit(transition('VI_1', 'backup', 'master'));
  await waitFor('first failure', logged(/move attempt 1 failed/));
  h.emit(transition('VI_1', 'master', 'backup'));
  await waitFor('fenced', logged(/not applied/));
  await new Promise((r) => setTimeout(r, 600));
  assert.equal(fake.calls('AssociateAddress').length, 1);
  assert.equal(fake.addresses.get('eipalloc-01')?.eni, 'eni-0b');
});
