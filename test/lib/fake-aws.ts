// A fake EC2 endpoint on 127.0.0.1 for the aws-vip tests. It speaks what the real one does to
// the official SDK: the query protocol (a form body, Action=...&Version=2016-11-15&...), SigV4
// authentication (the Authorization header is parsed, and the signature recomputed from the
// request and the test's secret key, per the SigV4 spec), and EC2's XML responses and error
// envelope. It keeps a little state (ENIs and their private IPs, Elastic IPs and their
// associations) and records every request. `intercept` lets a test delay or fail requests.

import { createHash, createHmac, randomUUID } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface AwsCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

export interface Ec2Request {
  action: string;
  params: Record<string, string>;
  headers: IncomingHttpHeaders;
  body: string;
  /** Why authentication failed, or undefined when the signature checked out. */
  authError: string | undefined;
}

export interface Ec2Reply {
  status: number;
  xml: string;
}

export interface FakeAwsOptions {
  region: string;
  credentials: AwsCredentials;
  /** ENI id -> its private IPs (the first is the primary). */
  enis: Record<string, string[]>;
  /** Allocation id -> its public IP and current association (none: unassociated). */
  addresses: Record<string, { publicIp: string; eni?: string; privateIp?: string }>;
}

export interface FakeAws {
  endpoint: string;
  requests: Ec2Request[];
  enis: Map<string, string[]>;
  addresses: Map<string, { publicIp: string; eni?: string; privateIp?: string; associationId?: string }>;
  intercept: ((r: Ec2Request, n: number) => Promise<Ec2Reply | undefined> | Ec2Reply | undefined) | undefined;
  /** The requests with this Action. */
  calls(action: string): Ec2Request[];
  close(): Promise<void>;
}

const NS = 'http://ec2.amazonaws.com/doc/2016-11-15/';

export function ec2Error(status: number, code: string, message: string): Ec2Reply {
  return {
    status,
    xml: `<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error><Code>${code}</Code><Message>${escapeXml(message)}</Message></Error></Errors><RequestID>${randomUUID()}</RequestID></Response>`,
  };
}

function ok(action: string, inner: string): Ec2Reply {
  return { status: 200, xml: `<?xml version="1.0" encoding="UTF-8"?>\n<${action}Response xmlns="${NS}">\n<requestId>${randomUUID()}</requestId>\n${inner}\n</${action}Response>` };
}

function escapeXml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

const sha256 = (s: string | Buffer) => createHash('sha256').update(s).digest('hex');
const hmac = (key: string | Buffer, s: string) => createHmac('sha256', key).update(s, 'utf8').digest();

/** RFC 3986 encoding as SigV4 wants it: unreserved characters stay, the rest is %XX. */
function uriEncode(s: string): string {
  return encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

/** Checks a request's SigV4 signature (header form); returns why it fails, or undefined. */
export function verifySigV4(
  req: { method: string; url: string; headers: IncomingHttpHeaders; body: Buffer },
  creds: AwsCredentials,
  region: string,
  service: string,
  now = Date.now(),
): string | undefined {
  const auth = req.headers.authorization;
  if (!auth) return 'no Authorization header';
  const m = auth.match(/^AWS4-HMAC-SHA256 Credential=([^/\s]+)\/(\d{8})\/([^/\s]+)\/([^/\s]+)\/aws4_request, ?SignedHeaders=([a-z0-9;-]+), ?Signature=([0-9a-f]{64})$/);
  if (!m) return `malformed Authorization header: ${auth}`;
  const [, akid, date, credRegion, credService, signedHeadersText, signature] = m as unknown as [string, string, string, string, string, string, string];
  if (akid !== creds.accessKeyId) return `unknown access key ${akid}`;
  if (credRegion !== region) return `credential scope region ${credRegion}, expected ${region}`;
  if (credService !== service) return `credential scope service ${credService}, expected ${service}`;
  const amzDate = req.headers['x-amz-date'];
  if (typeof amzDate !== 'string' || !/^\d{8}T\d{6}Z$/.test(amzDate)) return 'missing or malformed X-Amz-Date';
  if (amzDate.slice(0, 8) !== date) return 'X-Amz-Date does not match the credential scope date';
  const at = Date.UTC(+amzDate.slice(0, 4), +amzDate.slice(4, 6) - 1, +amzDate.slice(6, 8), +amzDate.slice(9, 11), +amzDate.slice(11, 13), +amzDate.slice(13, 15));
  if (Math.abs(now - at) > 15 * 60_000) return 'request time too skewed';
  const signedHeaders = signedHeadersText.split(';');
  if (!signedHeaders.includes('host') || !signedHeaders.includes('x-amz-date')) return 'host and x-amz-date must be signed';
  if ([...signedHeaders].sort().join(';') !== signedHeadersText) return 'SignedHeaders not sorted';
  if (creds.sessionToken !== undefined) {
    if (req.headers['x-amz-security-token'] !== creds.sessionToken) return 'missing or wrong X-Amz-Security-Token';
    if (!signedHeaders.includes('x-amz-security-token')) return 'X-Amz-Security-Token not signed';
  }
  const canonicalHeaders = signedHeaders
    .map((h) => {
      const v = req.headers[h];
      if (v === undefined) return undefined;
      return `${h}:${(Array.isArray(v) ? v.join(',') : v).trim().replace(/\s+/g, ' ')}\n`;
    });
  if (canonicalHeaders.includes(undefined)) return 'a signed header is missing from the request';
  const url = new URL(req.url, 'http://x');
  const path = url.pathname.split('/').map((seg) => uriEncode(decodeURIComponent(seg))).join('/') || '/';
  const query = [...url.searchParams]
    .map(([k, v]) => [uriEncode(k), uriEncode(v)] as const)
    .sort(([a, x], [b, y]) => (a < b ? -1 : a > b ? 1 : x < y ? -1 : x > y ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`)
    .join('&');
  const payloadHash = typeof req.headers['x-amz-content-sha256'] === 'string' ? req.headers['x-amz-content-sha256'] : sha256(req.body);
  if (payloadHash !== 'UNSIGNED-PAYLOAD' && payloadHash !== sha256(req.body)) return 'X-Amz-Content-Sha256 does not match the body';
  const canonicalRequest = [req.method, path, query, canonicalHeaders.join(''), signedHeadersText, payloadHash].join('\n');
  const scope = `${date}/${region}/${service}/aws4_request`;
  const stringToSign = ['AWS4-HMAC-SHA256', amzDate, scope, sha256(canonicalRequest)].join('\n');
  const kSigning = hmac(hmac(hmac(hmac(`AWS4${creds.secretAccessKey}`, date), region), service), 'aws4_request');
  const expected = createHmac('sha256', kSigning).update(stringToSign, 'utf8').digest('hex');
  return expected === signature ? undefined : 'SignatureDoesNotMatch';
}

/** The members of an EC2 query list parameter (`Name.1`, `Name.2`, ...), in order. */
function list(params: Record<string, string>, name: string): string[] {
  const out: string[] = [];
  for (let i = 1; params[`${name}.${i}`] !== undefined; i++) out.push(params[`${name}.${i}`]!);
  return out;
}

export async function startFakeAws(opts: FakeAwsOptions): Promise<FakeAws> {
  const enis = new Map(Object.entries(opts.enis).map(([k, v]) => [k, [...v]]));
  const addresses = new Map(Object.entries(opts.addresses).map(([k, v]) => [k, { ...v, ...(v.eni ? { associationId: `eipassoc-${randomUUID().slice(0, 8)}` } : {}) }]));
  const requests: Ec2Request[] = [];

  const eniOf = (ip: string) => [...enis].find(([, ips]) => ips.includes(ip))?.[0];

  const handle = (r: Ec2Request): Ec2Reply => {
    if (r.authError) return r.authError === 'SignatureDoesNotMatch' ? ec2Error(403, 'SignatureDoesNotMatch', 'The request signature we calculated does not match the signature you provided.') : ec2Error(401, 'AuthFailure', `AWS was not able to validate the provided access credentials (${r.authError})`);
    if (r.params.Version !== '2016-11-15') return ec2Error(400, 'InvalidParameterValue', `bad Version ${r.params.Version}`);
    const p = r.params;
    switch (r.action) {
      case 'DescribeNetworkInterfaces': {
        const ids = list(p, 'NetworkInterfaceId');
        const missing = ids.find((id) => !enis.has(id));
        if (missing) return ec2Error(400, 'InvalidNetworkInterfaceID.NotFound', `The networkInterface ID '${missing}' does not exist`);
        const items = ids
          .map((id) => {
            const ips = enis.get(id)!;
            const ipItems = ips.map((ip, i) => `<item><privateIpAddress>${ip}</privateIpAddress><primary>${i === 0}</primary></item>`).join('');
            return `<item><networkInterfaceId>${id}</networkInterfaceId><status>in-use</status><privateIpAddress>${ips[0] ?? ''}</privateIpAddress><privateIpAddressesSet>${ipItems}</privateIpAddressesSet></item>`;
          })
          .join('');
        return ok('DescribeNetworkInterfaces', `<networkInterfaceSet>${items}</networkInterfaceSet>`);
      }
      case 'AssignPrivateIpAddresses': {
        const eni = p.NetworkInterfaceId ?? '';
        if (!enis.has(eni)) return ec2Error(400, 'InvalidNetworkInterfaceID.NotFound', `The networkInterface ID '${eni}' does not exist`);
        const ips = list(p, 'PrivateIpAddress');
        if (ips.length === 0) return ec2Error(400, 'MissingParameter', 'PrivateIpAddress or SecondaryPrivateIpAddressCount required');
        for (const ip of ips) {
          const holder = eniOf(ip);
          if (holder && holder !== eni && p.AllowReassignment !== 'true') return ec2Error(400, 'PrivateIpAddressInUse', `Address ${ip} is in use.`);
        }
        for (const ip of ips) {
          const holder = eniOf(ip);
          if (holder === eni) continue;
          if (holder) enis.set(holder, enis.get(holder)!.filter((x) => x !== ip));
          enis.get(eni)!.push(ip);
        }
        const set = ips.map((ip) => `<item><privateIpAddress>${ip}</privateIpAddress></item>`).join('');
        return ok('AssignPrivateIpAddresses', `<return>true</return>\n<networkInterfaceId>${eni}</networkInterfaceId>\n<assignedPrivateIpAddressesSet>${set}</assignedPrivateIpAddressesSet>`);
      }
      case 'DescribeAddresses': {
        const ids = list(p, 'AllocationId');
        const missing = ids.find((id) => !addresses.has(id));
        if (missing) return ec2Error(400, 'InvalidAllocationID.NotFound', `The allocation ID '${missing}' does not exist`);
        const items = ids
          .map((id) => {
            const a = addresses.get(id)!;
            const assoc = a.eni ? `<associationId>${a.associationId}</associationId><networkInterfaceId>${a.eni}</networkInterfaceId><networkInterfaceOwnerId>123456789012</networkInterfaceOwnerId><privateIpAddress>${a.privateIp}</privateIpAddress>` : '';
            return `<item><publicIp>${a.publicIp}</publicIp><allocationId>${id}</allocationId><domain>vpc</domain>${assoc}<publicIpv4Pool>amazon</publicIpv4Pool><networkBorderGroup>${opts.region}</networkBorderGroup></item>`;
          })
          .join('');
        return ok('DescribeAddresses', `<addressesSet>${items}</addressesSet>`);
      }
      case 'AssociateAddress': {
        const alloc = p.AllocationId ?? '';
        const a = addresses.get(alloc);
        if (!a) return ec2Error(400, 'InvalidAllocationID.NotFound', `The allocation ID '${alloc}' does not exist`);
        const eni = p.NetworkInterfaceId ?? '';
        if (!enis.has(eni)) return ec2Error(400, 'InvalidNetworkInterfaceID.NotFound', `The networkInterface ID '${eni}' does not exist`);
        const privateIp = p.PrivateIpAddress ?? enis.get(eni)![0]!;
        if (!enis.get(eni)!.includes(privateIp)) return ec2Error(400, 'InvalidParameterValue', `private IP ${privateIp} is not on ${eni}`);
        if (a.eni && (a.eni !== eni || a.privateIp !== privateIp) && p.AllowReassociation !== 'true') return ec2Error(400, 'Resource.AlreadyAssociated', `resource ${alloc} is already associated`);
        a.eni = eni;
        a.privateIp = privateIp;
        a.associationId = `eipassoc-${randomUUID().slice(0, 8)}`;
        return ok('AssociateAddress', `<return>true</return>\n<associationId>${a.associationId}</associationId>`);
      }
      default:
        return ec2Error(400, 'InvalidAction', `The action ${r.action} is not valid for this web service.`);
    }
  };

  const fake: FakeAws = {
    endpoint: '',
    requests,
    enis,
    addresses,
    intercept: undefined,
    calls: (action) => requests.filter((r) => r.action === action),
    close: () =>
      new Promise<void>((res) => {
        server.closeAllConnections();
        server.close(() => res());
      }),
  };

  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const text = body.toString('utf8');
      const params = Object.fromEntries(new URLSearchParams(text));
      const r: Ec2Request = {
        action: params.Action ?? '',
        params,
        headers: req.headers,
        body: text,
        authError: req.method === 'POST' && String(req.headers['content-type']).startsWith('application/x-www-form-urlencoded')
          ? verifySigV4({ method: req.method, url: req.url ?? '/', headers: req.headers, body }, opts.credentials, opts.region, 'ec2')
          : `expected a form POST, got ${req.method} ${String(req.headers['content-type'])}`,
      };
      requests.push(r);
      void (async () => {
        const reply = (fake.intercept ? await fake.intercept(r, requests.length) : undefined) ?? handle(r);
        if (res.destroyed) return;
        res.writeHead(reply.status, { 'content-type': 'text/xml;charset=UTF-8' });
        res.end(reply.xml);
      })();
    });
  });
  await new Promise<void>((res) => server.listen(0, '127.0.0.1', res));
  fake.endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return fake;
}
