// A fake Hetzner Cloud API on 127.0.0.1 for the hetzner-vip tests: bearer auth, the JSON shapes
// of GET /floating_ips/{id}, POST /floating_ips/{id}/actions/assign (201 with a running
// action) and GET /actions/{id}, and Hetzner's error envelope. Tests script faults and delays
// with `intercept`, and read back every request.

import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface RecordedRequest {
  method: string;
  path: string;
  authorization: string | undefined;
  contentType: string | undefined;
  body: string;
}

export interface Reply {
  status: number;
  body: unknown;
  headers?: Record<string, string>;
}

export interface FakeHetznerOptions {
  token: string;
  /** Floating IP id -> the server it is assigned to (null: unassigned). */
  floatingIps: Record<number, number | null>;
  /** Polls of an assign action that answer `running` before it answers `success`. */
  actionPollsRunning?: number;
  /** Address to listen on (default 127.0.0.1; a lab test gives a namespace's address). */
  host?: string;
}

export interface FakeHetzner {
  /** Base URL, as the plugin's `endpoint` (…/v1). */
  endpoint: string;
  requests: RecordedRequest[];
  /** Current assignments. */
  assignments: Map<number, number | null>;
  /** Called for every request before the fake's own handling; return a reply to answer
   * with it instead (a fault), or undefined to carry on. May wait (a slow server). */
  intercept: ((r: RecordedRequest, n: number) => Promise<Reply | undefined> | Reply | undefined) | undefined;
  /** Requests that changed an assignment. */
  assigns(): RecordedRequest[];
  close(): Promise<void>;
}

function error(status: number, code: string, message: string): Reply {
  return { status, body: { error: { code, message, details: {} } } };
}

export async function startFakeHetzner(opts: FakeHetznerOptions): Promise<FakeHetzner> {
  const assignments = new Map<number, number | null>(Object.entries(opts.floatingIps).map(([k, v]) => [Number(k), v]));
  const actions = new Map<number, { fip: number; server: number; polls: number; started: string }>();
  let nextAction = 1000;
  const requests: RecordedRequest[] = [];

  const actionJson = (id: number, status: 'running' | 'success') => {
    const a = actions.get(id)!;
    return {
      id,
      command: 'assign_floating_ip',
      status,
      progress: status === 'success' ? 100 : 0,
      started: a.started,
      finished: status === 'success' ? new Date().toISOString() : null,
      resources: [
        { id: a.server, type: 'server' },
        { id: a.fip, type: 'floating_ip' },
      ],
      error: null,
    };
  };

  const handle = (r: RecordedRequest): Reply => {
    if (r.authorization !== `Bearer ${opts.token}`) return error(401, 'unauthorized', 'unable to authenticate');
    const url = new URL(r.path, 'http://x');
    let m: RegExpMatchArray | null;
    if (r.method === 'GET' && (m = url.pathname.match(/^\/v1\/floating_ips\/(\d+)$/))) {
      const id = Number(m[1]);
      if (!assignments.has(id)) return error(404, 'not_found', `Floating IP with ID ${id} not found`);
      return {
        status: 200,
        body: {
          floating_ip: {
            id,
            name: `fip-${id}`,
            description: null,
            ip: `203.0.113.${id % 250}`,
            type: 'ipv4',
            server: assignments.get(id) ?? null,
            dns_ptr: [],
            home_location: { id: 1, name: 'fsn1' },
            blocked: false,
            protection: { delete: false },
            labels: {},
            created: '2024-01-01T00:00:00+00:00',
          },
        },
      };
    }
    if (r.method === 'POST' && (m = url.pathname.match(/^\/v1\/floating_ips\/(\d+)\/actions\/assign$/))) {
      const id = Number(m[1]);
      if (!assignments.has(id)) return error(404, 'not_found', `Floating IP with ID ${id} not found`);
      if (!r.contentType?.startsWith('application/json')) return error(400, 'json_error', 'content-type must be application/json');
      let body: unknown;
      try {
        body = JSON.parse(r.body);
      } catch {
        return error(400, 'json_error', 'invalid JSON');
      }
      const server = (body as { server?: unknown }).server;
      if (typeof server !== 'number' || Object.keys(body as object).length !== 1) return error(400, 'invalid_input', 'invalid input in field server');
      assignments.set(id, server);
      const aid = ++nextAction;
      actions.set(aid, { fip: id, server, polls: 0, started: new Date().toISOString() });
      return { status: 201, body: { action: actionJson(aid, 'running') } };
    }
    if (r.method === 'GET' && (m = url.pathname.match(/^\/v1\/actions\/(\d+)$/))) {
      const id = Number(m[1]);
      const a = actions.get(id);
      if (!a) return error(404, 'not_found', `action with ID ${id} not found`);
      a.polls++;
      return { status: 200, body: { action: actionJson(id, a.polls > (opts.actionPollsRunning ?? 0) ? 'success' : 'running') } };
    }
    return error(404, 'not_found', 'not found');
  };

  const fake: FakeHetzner = {
    endpoint: '',
    requests,
    assignments,
    intercept: undefined,
    assigns: () => requests.filter((r) => r.method === 'POST' && r.path.endsWith('/actions/assign')),
    close: () => new Promise<void>((res) => {
      server.closeAllConnections();
      server.close(() => res());
    }),
  };

  const server: Server = createServer((req: IncomingMessage, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const r: RecordedRequest = {
        method: req.method ?? '',
        path: req.url ?? '',
        authorization: req.headers.authorization,
        contentType: req.headers['content-type'],
        body: Buffer.concat(chunks).toString('utf8'),
      };
      requests.push(r);
      void (async () => {
        const injected = fake.intercept ? await fake.intercept(r, requests.length) : undefined;
        // A fault that says "pretend it did not happen" is recorded but not applied.
        const reply = injected ?? handle(r);
        if (res.destroyed) return;
        res.writeHead(reply.status, { 'content-type': 'application/json', ...reply.headers });
        res.end(JSON.stringify(reply.body));
      })();
    });
  });
  const host = opts.host ?? '127.0.0.1';
  await new Promise<void>((res) => server.listen(0, host, res));
  fake.endpoint = `http://${host}:${(server.address() as AddressInfo).port}/v1`;
  return fake;
}
