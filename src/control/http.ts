// The HTTP listener (control.http): Prometheus /metrics, JSON /status, server-sent /events and
// the status page at /. Off unless configured; loopback by default.
//
// Security: a non-loopback listen address without a token is refused (the daemon keeps
// running, the listener does not start, the log says why): metrics and events tell an
// attacker which node holds the addresses. With a token, every data route needs
// `Authorization: Bearer <token>`, compared in constant time; the token is never logged.
// The page itself (/ and /page.js) is served without it: it is a static file with no data in
// it, and a browser cannot add a header to a navigation. The page takes the token from the
// URL fragment (#token=..., never sent to a server) and sends it as a header on its fetches,
// including /events, which it reads with fetch() rather than EventSource (EventSource cannot
// set headers, and a ?token= query would put the secret into URLs, logs and history).
//
// /events: every bus event as `data: <json>`; each client has a bounded buffer (bytes
// accepted by the socket but not yet sent), and a client that lets it fill up is dropped
// (counted): the bus publishes synchronously from the engine, so a slow reader must never
// make it wait, nor make the daemon's memory grow.

import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ROOT } from '../install-paths.ts';
import { createHash, timingSafeEqual } from 'node:crypto';
import { closeSync, fstatSync, openSync, readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { isIP } from 'node:net';
import type { AddressInfo } from 'node:net';
import type { VigilEvent } from '../bus/events.ts';
import { dirProblem, effectiveUid, octal, trustedOwner } from '../config/file-trust.ts';
import type { Logger } from '../daemon/log.ts';
import { createMetrics, type Metrics, type MetricsSource } from './metrics.ts';
import { secretMasker } from './socket.ts';

export interface HttpControlSource extends MetricsSource {
  readonly log: Logger;
  onStop(fn: () => void | Promise<void>): void;
}

export interface HttpControlOptions {
  listen: string;
  token?: string | undefined;
  /** Read the token from this file (see readTokenFile). */
  tokenFile?: string | undefined;
  /** Bytes an /events client may have waiting before it is dropped. */
  maxClientBuffer?: number;
  /** A comment line on idle /events streams, so proxies and the page can tell it is alive. */
  heartbeatMs?: number;
}

export interface HttpControl {
  readonly server: Server;
  /** Where it listens (the real port when 0 was asked for). */
  readonly address: AddressInfo;
  readonly metrics: Metrics;
  close(): Promise<void>;
}

/** Parses `host:port`, `[v6]:port` or `:port` (all addresses). */
export function parseListen(listen: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d{1,5})$/.exec(listen.trim());
  if (!m) throw new Error(`control.http.listen: '${listen}' is not host:port`);
  const port = Number(m[3]);
  if (port > 65535) throw new Error(`control.http.listen: port ${port} is out of range`);
  return { host: m[1] ?? m[2] ?? '', port };
}

/** Only addresses that can never be reached from another host. A host name other than
 * localhost is not loopback: what it resolves to can change. */
export function isLoopback(host: string): boolean {
  if (host === 'localhost') return true;
  if (isIP(host) === 4) return host.startsWith('127.');
  if (isIP(host) === 6) return host === '::1' || /^::ffff:127\./i.test(host);
  return false;
}

/** The token in control.http.token_file, or why it is refused. A secret the daemon trusts to
 * guard the listener: nobody but its owner may read or write it (no group or other bits at
 * all), the owner is root (or the daemon's user), it is a regular file, and nobody else can
 * change a directory above it (they could put a token of their own in its place). A trailing
 * newline is dropped. The error never quotes the file's content. */
export function readTokenFile(path: string, euid: number = effectiveUid()): { ok: true; token: string } | { ok: false; error: string } {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (e) {
    return { ok: false, error: `cannot read token file ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}` };
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) return { ok: false, error: `token file ${path} is not a regular file` };
    if ((st.mode & 0o077) !== 0) {
      const who = (st.mode & 0o007) !== 0 ? 'others' : 'its group';
      return { ok: false, error: `token file ${path} is readable or writable by ${who} (mode ${octal(st.mode)}); chmod 600 ${path}` };
    }
    if (!trustedOwner(st.uid, euid)) return { ok: false, error: `token file ${path} is owned by uid ${st.uid}, not ${euid === 0 ? 'root' : `root or uid ${euid}`}; chown ${euid === 0 ? 'root' : euid} ${path}` };
    const dir = dirProblem(path, { euid });
    if (dir) return { ok: false, error: `token file ${path}: ${dir.dir} ${dir.reason}, so others could put a token of their own in its place; keep it in a directory only root can write to` };
    const token = readFileSync(fd, 'utf8').replace(/\r?\n$/, '');
    if (token === '' || /\s/.test(token)) return { ok: false, error: `token file ${path} must hold one token (no blanks), and nothing else` };
    return { ok: true, token };
  } finally {
    closeSync(fd);
  }
}

function digest(s: string): Buffer {
  return createHash('sha256').update(s).digest();
}

/** Constant-time check of `Authorization: Bearer <token>`: both sides are hashed first, so
 * neither the length nor the content of the token leaks through timing. */
export function authorized(header: string | undefined, tokenDigest: Buffer | undefined): boolean {
  if (!tokenDigest) return true;
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header ?? '');
  return timingSafeEqual(digest(m?.[1] ?? ''), tokenDigest) && m !== null;
}

const pageDir = pathToFileURL(`${join(ROOT, 'src', 'control', 'page')}/`);
const PAGE_FILES: Record<string, { file: string; type: string }> = {
  '/': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/index.html': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/page.js': { file: 'page.js', type: 'text/javascript; charset=utf-8' },
};
/** Nothing but this origin: the page loads no external asset and talks to no one else. */
const CSP = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/** Starts the listener, or logs why not and returns undefined (the daemon goes on without). */
export async function startHttpControl(src: HttpControlSource, opts: HttpControlOptions): Promise<HttpControl | undefined> {
  const { log } = src;
  let host: string;
  let port: number;
  try {
    ({ host, port } = parseListen(opts.listen));
  } catch (e) {
    log.error(`http: ${(e as Error).message}; the HTTP listener is not started`);
    return undefined;
  }
  let token = opts.token;
  if (opts.tokenFile !== undefined) {
    const r = readTokenFile(opts.tokenFile);
    if (!r.ok) {
      log.error(`http: refusing control.http.token_file: ${r.error}; the HTTP listener is not started`);
      return undefined;
    }
    token = r.token;
  }
  if (!isLoopback(host) && !token) {
    log.error(`http: refusing to listen on ${opts.listen}: a non-loopback address needs control.http.token (metrics and events would be open to the network); the HTTP listener is not started`);
    return undefined;
  }
  const tokenDigest = token ? digest(token) : undefined;
  const maxClientBuffer = opts.maxClientBuffer ?? 256 * 1024;
  const heartbeatMs = opts.heartbeatMs ?? 15_000;
  const metrics = createMetrics(src);
  // the same last guard as the control socket: no status carries a secret by construction, but
  // a plugin's error text or an event could quote one
  const mask = secretMasker(src);
  const clients = new Set<ServerResponse>();
  const page = new Map<string, Buffer>();
  const pageFile = (name: string): Buffer => {
    let b = page.get(name);
    if (!b) page.set(name, (b = readFileSync(new URL(name, pageDir))));
    return b;
  };

  const send = (res: ServerResponse, route: string, code: number, type: string, body: string | Buffer, extra: Record<string, string> = {}) => {
    metrics.http.requests.inc({ route, code: String(code) });
    res.writeHead(code, { 'content-type': type, 'cache-control': 'no-store', 'x-content-type-options': 'nosniff', ...extra });
    res.end(body);
  };

  const dropClient = (res: ServerResponse) => {
    if (!clients.delete(res)) return;
    metrics.http.eventClients.set(clients.size);
    res.destroy();
  };

  // one serialization per event, shared by every client
  const unsubscribe = src.bus.subscribe((e: VigilEvent) => {
    if (clients.size === 0) return;
    const chunk = `id: ${e.seq}\nevent: ${e.type}\ndata: ${mask(JSON.stringify(e))}\n\n`;
    for (const res of [...clients]) {
      if (res.writableLength + chunk.length > maxClientBuffer) {
        metrics.http.eventClientsDropped.inc();
        log.warn(`http: /events client ${res.req.socket.remoteAddress ?? '?'} dropped: it reads too slowly (${res.writableLength} bytes waiting)`);
        dropClient(res);
        continue;
      }
      res.write(chunk);
    }
  });
  const heartbeat = setInterval(() => {
    for (const res of clients) if (res.writableLength < maxClientBuffer) res.write(': keep-alive\n\n');
  }, heartbeatMs);
  heartbeat.unref();

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://vigil');
    const path = url.pathname;
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(res, 'other', 405, 'text/plain', 'only GET\n', { allow: 'GET, HEAD' });
    const pf = PAGE_FILES[path];
    if (pf) return send(res, 'page', 200, pf.type, pageFile(pf.file), { 'content-security-policy': CSP, 'referrer-policy': 'no-referrer' });
    const route = path === '/metrics' || path === '/status' || path === '/events' ? path.slice(1) : 'other';
    if (!authorized(req.headers.authorization, tokenDigest)) return send(res, route, 401, 'text/plain', 'unauthorized\n', { 'www-authenticate': 'Bearer realm="vigil"' });
    switch (path) {
      case '/metrics':
        return send(res, route, 200, metrics.contentType, await metrics.render());
      case '/status':
        return send(res, route, 200, 'application/json', mask(JSON.stringify(statusOf(src))) + '\n');
      case '/events': {
        metrics.http.requests.inc({ route, code: '200' });
        res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store', 'x-accel-buffering': 'no', connection: 'keep-alive' });
        // the first line tells the client where the stream starts (events before it are in /status)
        res.write(`: vigil events from seq ${src.bus.lastSeq + 1}\nretry: 2000\n\n`);
        clients.add(res);
        metrics.http.eventClients.set(clients.size);
        res.on('close', () => dropClient(res));
        return;
      }
      default:
        return send(res, route, 404, 'text/plain', 'not found\n');
    }
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((e: Error) => {
      log.error(`http: ${req.method} ${new URL(req.url ?? '/', 'http://vigil').pathname}: ${e.message}`);
      if (!res.headersSent) send(res, 'other', 500, 'text/plain', 'internal error\n');
      else res.destroy();
    });
  });
  // a client that never finishes its request must not hold a socket; both bound receiving the
  // request only, so a long /events response is not cut
  server.headersTimeout = 10_000;
  server.requestTimeout = 30_000;

  const ok = await new Promise<boolean>((resolve) => {
    server.once('error', (e: Error) => {
      log.error(`http: cannot listen on ${opts.listen}: ${e.message}; the HTTP listener is not started`);
      resolve(false);
    });
    server.listen({ host, port }, () => resolve(true));
  });
  if (!ok) {
    unsubscribe();
    clearInterval(heartbeat);
    metrics.close();
    return undefined;
  }
  server.on('error', (e: Error) => log.warn(`http: ${e.message}`));
  const address = server.address() as AddressInfo;
  log.info(`http: listening on ${address.family === 'IPv6' ? `[${address.address}]` : address.address}:${address.port} (metrics, status, events, page)${tokenDigest ? '; a bearer token is required' : ''}`);

  let closing: Promise<void> | undefined;
  const close = (): Promise<void> =>
    (closing ??= new Promise<void>((resolve) => {
      unsubscribe();
      clearInterval(heartbeat);
      metrics.close();
      for (const res of [...clients]) dropClient(res);
      server.close(() => resolve());
      server.closeAllConnections();
    }));
  src.onStop(close);
  return { server, address, metrics, close };
}

/** What /status answers: the engine's snapshot and the plugins', plus enough to tell daemons
 * apart. */
export function statusOf(src: MetricsSource): Record<string, unknown> {
  return {
    pid: process.pid,
    time: new Date().toISOString(),
    lastSeq: src.bus.lastSeq,
    ...src.engine.status(),
    plugins: src.host.status(),
  };
}
