// HTTP_GET / SSL_GET against real servers on loopback, started here: keepalived's request byte
// for byte, status ranges, digests, Host and SNI, TLS with and without verification (a
// self-signed certificate made by openssl in a temp dir), client certificates; hostile servers
// (reset, silent, slow drip, 10 MB, garbage, cut mid-headers) each fail within the timeout plus a
// margin with their reason; an abort ends a probe at once; 2,000 probes against hostile servers
// leave no socket, no timer and no heap growth behind; as root, a target that never answers SYN
// (its own namespace, an nftables drop) fails by timeout.
import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { createServer as createTlsServer, type TLSSocket } from 'node:tls';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { HttpCheck, HttpUrl } from '../../src/lvs/checks.ts';
import { httpFetch, httpProbe, httpRequest } from '../../src/lvs/http-check.ts';

const MARGIN_MS = 2000;
const md5 = (b: string | Buffer) => createHash('md5').update(b).digest('hex');

interface Served {
  port: number;
  /** Each connection's request, as received, and its SNI (TLS), remote address and port. */
  requests: Array<{ text: string; sni: string | false | null | undefined; remote: string; remotePort: number }>;
  /** Sockets still open on the server side. */
  open: Set<Socket>;
  close(): Promise<void>;
}

type Handler = (sock: Socket, request: string) => void;

/** A server that reads one request (up to its blank line) and hands it to `handler`; with
 * `onConnect`, the handler runs at once instead (servers that never read). */
function serve(handler: Handler, opts: { tls?: { key: Buffer; cert: Buffer; ca?: Buffer; requestCert?: boolean }; onConnect?: boolean } = {}): Promise<Served> {
  const requests: Served['requests'] = [];
  const open = new Set<Socket>();
  const onSocket = (sock: Socket) => {
    open.add(sock);
    sock.on('close', () => open.delete(sock));
    sock.on('error', () => {});
    if (opts.onConnect) {
      // read (and drop) what comes, so the client's close is seen and this side closes too
      sock.resume();
      return handler(sock, '');
    }
    let text = '';
    const onData = (d: Buffer) => {
      text += d.toString('latin1');
      if (!text.includes('\r\n\r\n')) return;
      sock.off('data', onData);
      requests.push({ text, sni: (sock as TLSSocket).servername, remote: sock.remoteAddress ?? '', remotePort: sock.remotePort ?? 0 });
      handler(sock, text);
    };
    sock.on('data', onData);
  };
  const server: Server = opts.tls
    ? createTlsServer({ key: opts.tls.key, cert: opts.tls.cert, ...(opts.tls.requestCert ? { requestCert: true, rejectUnauthorized: true, ca: opts.tls.ca } : {}) }, onSocket)
    : createServer(onSocket);
  // a TLS client that gives up mid-handshake is no concern of these tests
  server.on('tlsClientError', () => {});
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () =>
      resolve({
        port: (server.address() as AddressInfo).port,
        requests,
        open,
        close: () =>
          new Promise((r) => {
            for (const s of open) s.destroy();
            server.close(() => r());
          }),
      }),
    );
  });
}

const respond = (status: number, body: string | Buffer, extra = ''): Handler => (sock) => {
  sock.end(Buffer.concat([Buffer.from(`HTTP/1.0 ${status} Whatever\r\nContent-Length: ${Buffer.byteLength(body)}\r\n${extra}\r\n`), Buffer.from(body)]));
};

const timing = { retry: 1, delayBeforeRetryMs: 1000, delayLoopMs: 1000, warmupMs: 0, alpha: false };

function check(port: number, urls: Array<Partial<HttpUrl>> = [{}], over: Partial<HttpCheck> = {}): HttpCheck {
  return {
    kind: 'http',
    name: `HTTP_GET 127.0.0.1:${port}`,
    host: '127.0.0.1',
    port,
    tls: false,
    verifyTls: false,
    protocol: '1.0',
    maxBodyBytes: 1024 * 1024,
    timeoutMs: 3000,
    ...timing,
    ...over,
    urls: urls.map((u) => ({ path: '/health', statusCodes: [[200, 299]], host: `127.0.0.1:${port}`, ...u })),
  };
}

/** Runs a probe and returns its result with how long it took, measured here. */
async function timed(c: HttpCheck, signal?: AbortSignal) {
  const t0 = performance.now();
  const r = await httpProbe(c, signal);
  return { r, took: performance.now() - t0 };
}

const errorOf = (r: Awaited<ReturnType<typeof httpProbe>>) => (r.ok ? 'passed' : r.error);

test('a healthy 200 passes, and the request is keepalived\'s, byte for byte, per http_protocol', async () => {
  const s = await serve(respond(200, 'ok\n'));
  try {
    for (const protocol of ['1.0', '1.0C', '1.1'] as const) {
      const r = await httpProbe(check(s.port, [{ path: '/a/b?c=d', host: 'www.example.org' }], { protocol }));
      assert.equal(r.ok, true, errorOf(r));
    }
    assert.deepEqual(
      s.requests.map((q) => q.text),
      [
        'GET /a/b?c=d HTTP/1.0\r\nUser-Agent: KeepAliveClient\r\nHost: www.example.org\r\n\r\n',
        'GET /a/b?c=d HTTP/1.0\r\nUser-Agent: KeepAliveClient\r\nConnection: close\r\nHost: www.example.org\r\n\r\n',
        'GET /a/b?c=d HTTP/1.1\r\nUser-Agent: KeepAliveClient\r\nConnection: close\r\nHost: www.example.org\r\n\r\n',
      ],
    );
    assert.equal(httpRequest('/', '1.0', '[2001:db8::1]:80'), 'GET / HTTP/1.0\r\nUser-Agent: KeepAliveClient\r\nHost: [2001:db8::1]:80\r\n\r\n');
  } finally {
    await s.close();
  }
});

test('each url sends its own Host header; every url is checked in order and all must pass', async () => {
  const s = await serve((sock, req) => (req.startsWith('GET /bad ') ? respond(500, 'no') : respond(200, 'yes'))(sock, req));
  try {
    const ok = await httpProbe(check(s.port, [{ path: '/one', host: 'a.example' }, { path: '/two', host: `127.0.0.1:${s.port}` }]));
    assert.equal(ok.ok, true, errorOf(ok));
    assert.deepEqual(
      s.requests.map((q) => /^Host: (.*)$/m.exec(q.text)?.[1]?.trim()),
      ['a.example', `127.0.0.1:${s.port}`],
    );
    const bad = await httpProbe(check(s.port, [{ path: '/one' }, { path: '/bad' }, { path: '/three' }]));
    assert.equal(errorOf(bad), '/bad: status 500 not in 200-299');
    // the third url was never asked for: the attempt ended at the first failure
    assert.ok(!s.requests.some((q) => q.text.startsWith('GET /three ')));
  } finally {
    await s.close();
  }
});

test('status_code ranges decide', async () => {
  let status = 503;
  const s = await serve((sock, req) => respond(status, 'x')(sock, req));
  try {
    assert.equal(errorOf(await httpProbe(check(s.port))), 'status 503 not in 200-299');
    assert.equal(errorOf(await httpProbe(check(s.port, [{ statusCodes: [[500, 503]] }]))), 'passed');
    status = 404;
    assert.equal(errorOf(await httpProbe(check(s.port, [{ statusCodes: [[200, 299], [404, 404]] }]))), 'passed');
    assert.equal(errorOf(await httpProbe(check(s.port, [{ statusCodes: [[200, 299], [301, 302]] }]))), 'status 404 not in 200-299,301-302');
    status = 200;
    assert.equal(errorOf(await httpProbe(check(s.port, [{ statusCodes: [[404, 404]] }]))), 'status 200 not in 404');
  } finally {
    await s.close();
  }
});

test('digest: the MD5 of the body matches or fails with both digests; the body stops at Content-Length', async () => {
  const page = '<html>hello</html>\n';
  const s = await serve((sock, req) => {
    if (req.startsWith('GET /extra ')) {
      // 5 bytes beyond Content-Length, then close: not part of the body
      sock.end(`HTTP/1.0 200 OK\r\nContent-Length: ${page.length}\r\n\r\n${page}EXTRA`);
    } else if (req.startsWith('GET /noclen ')) {
      sock.end(`HTTP/1.0 200 OK\r\n\r\n${page}`);
    } else respond(200, page)(sock, req);
  });
  try {
    const good = md5(page);
    assert.equal(errorOf(await httpProbe(check(s.port, [{ digest: good }]))), 'passed');
    assert.equal(errorOf(await httpProbe(check(s.port, [{ path: '/extra', digest: good }]))), 'passed');
    assert.equal(errorOf(await httpProbe(check(s.port, [{ path: '/noclen', digest: good }]))), 'passed');
    const wrong = md5('something else');
    assert.equal(errorOf(await httpProbe(check(s.port, [{ digest: wrong }]))), `digest ${good} != expected ${wrong}`);
  } finally {
    await s.close();
  }
});

test('a chunked body is hashed as it arrives, chunk lines included (as keepalived)', async () => {
  const wire = '5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n';
  const s = await serve((sock) => sock.end(`HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n${wire}`));
  try {
    const r = await httpFetch({ host: '127.0.0.1', port: s.port, protocol: '1.1', path: '/', hostHeader: 'x', timeoutMs: 3000, maxBodyBytes: 1000 });
    assert.ok(r.ok, r.ok ? '' : r.error);
    assert.equal(r.md5, md5(wire));
    assert.equal(r.status, 200);
  } finally {
    await s.close();
  }
});

test('bindto and bind_port set the probe\'s source address and port', async () => {
  const s = await serve(respond(200, 'ok'));
  // a free port: bound and released
  const spare = await serve(() => {});
  const bindPort = spare.port;
  await spare.close();
  try {
    const r = await httpProbe(check(s.port, [{}], { bindto: '127.0.0.2', bindPort }));
    assert.equal(r.ok, true, errorOf(r));
    assert.equal(s.requests[0]?.remote, '127.0.0.2');
    assert.equal(s.requests[0]?.remotePort, bindPort);
  } finally {
    await s.close();
  }
});

// ---- TLS -----------------------------------------------------------------------------------

function makeCerts(dir: string) {
  const req = (name: string, subj: string, san: string, keyArgs: string[]) =>
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', ...keyArgs, '-keyout', join(dir, `${name}.key`), '-out', join(dir, `${name}.pem`), '-days', '2', '-subj', subj, '-addext', san], { stdio: 'pipe' });
  req('server', '/CN=rs.example', 'subjectAltName=DNS:rs.example,IP:127.0.0.1', ['-nodes']);
  // the client's key is encrypted: the global SSL block's password opens it
  req('client', '/CN=vigil-probe', 'subjectAltName=DNS:vigil-probe', ['-passout', 'pass:s3cret']);
  return {
    serverKey: readFileSync(join(dir, 'server.key')),
    serverCert: readFileSync(join(dir, 'server.pem')),
    serverCertFile: join(dir, 'server.pem'),
    clientCertFile: join(dir, 'client.pem'),
    clientKeyFile: join(dir, 'client.key'),
    clientCert: readFileSync(join(dir, 'client.pem')),
  };
}

test('SSL_GET: a self-signed certificate passes without verify_tls, fails with it, passes with its CA; SNI and the name checked', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'vigil-http-tls-'));
  let s: Served | undefined;
  let m: Served | undefined;
  try {
    const c = makeCerts(dir);
    s = await serve(respond(200, 'tls ok'), { tls: { key: c.serverKey, cert: c.serverCert } });
    const tlsCheck = (urls: Array<Partial<HttpUrl>>, over: Partial<HttpCheck> = {}) => check(s!.port, urls, { tls: true, name: `SSL_GET 127.0.0.1:${s!.port}`, ...over });

    // keepalived's default: no verification; no SNI unless asked
    assert.equal(errorOf(await httpProbe(tlsCheck([{ digest: md5('tls ok') }]))), 'passed');
    assert.equal(s.requests.at(-1)?.sni, false);
    // with enable_sni, the server sees the name
    assert.equal(errorOf(await httpProbe(tlsCheck([{ sni: 'rs.example' }]))), 'passed');
    assert.equal(s.requests.at(-1)?.sni, 'rs.example');

    // verify_tls against the system's CAs: the self-signed certificate is refused
    assert.equal(errorOf(await httpProbe(tlsCheck([{ sni: 'rs.example' }], { verifyTls: true }))), 'TLS: self-signed certificate');
    // with its certificate as the CA: passes, by SNI name and by the Host header's address
    assert.equal(errorOf(await httpProbe(tlsCheck([{ sni: 'rs.example' }], { verifyTls: true, caFile: c.serverCertFile }))), 'passed');
    assert.equal(errorOf(await httpProbe(tlsCheck([{}], { verifyTls: true, caFile: c.serverCertFile }))), 'passed');
    // ... but not for a name the certificate does not carry (the Host header's host, no SNI)
    assert.equal(errorOf(await httpProbe(tlsCheck([{ host: 'other.example' }], { verifyTls: true, caFile: c.serverCertFile }))), 'TLS: certificate not for other.example');
    assert.equal(errorOf(await httpProbe(tlsCheck([{ sni: 'other.example' }], { verifyTls: true, caFile: c.serverCertFile }))), 'TLS: certificate not for other.example');
    // a CA file that is not there
    assert.match(errorOf(await httpProbe(tlsCheck([{}], { verifyTls: true, caFile: join(dir, 'missing.pem') }))), /^TLS: .*ENOENT/);

    // a server that wants a client certificate: the global SSL block's certificate and key
    m = await serve(respond(200, 'mutual'), { tls: { key: c.serverKey, cert: c.serverCert, ca: c.clientCert, requestCert: true } });
    const mutual = (over: Partial<HttpCheck>) => check(m!.port, [{}], { tls: true, ...over });
    assert.equal(errorOf(await httpProbe(mutual({ certFile: c.clientCertFile, keyFile: c.clientKeyFile, keyPassword: 's3cret' }))), 'passed');
    assert.match(errorOf(await httpProbe(mutual({}))), /^TLS: |connection (reset|closed)/);
    assert.match(errorOf(await httpProbe(mutual({ certFile: c.clientCertFile, keyFile: c.clientKeyFile, keyPassword: 'wrong' }))), /^TLS: /);
  } finally {
    await s?.close();
    await m?.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

// ---- hostile targets -------------------------------------------------------------------------

const TIMEOUT = 1500;

/** The hostile servers, by what they do once the request is in. */
const HOSTILE: Record<string, { handler: Handler; onConnect?: boolean; error: RegExp }> = {
  reset: { handler: (sock) => sock.resetAndDestroy(), error: /^connection reset$/ },
  silent: { handler: () => {}, onConnect: true, error: new RegExp(`^no response within ${TIMEOUT} ms$`) },
  drip: {
    handler: (sock) => {
      sock.write('HTTP/1.0 200 OK\r\nContent-Length: 100000\r\n\r\n');
      const t = setInterval(() => sock.write('x'), 50);
      sock.on('close', () => clearInterval(t));
    },
    error: new RegExp(`^body not complete within ${TIMEOUT} ms$`),
  },
  huge: {
    // 10 MB with no Content-Length: fails once past the bound
    handler: (sock) => {
      sock.write('HTTP/1.0 200 OK\r\n\r\n');
      sock.end(Buffer.alloc(10 * 1024 * 1024, 0x61));
    },
    error: /^body larger than 1048576 bytes$/,
  },
  hugeDeclared: {
    handler: (sock) => {
      sock.write(`HTTP/1.0 200 OK\r\nContent-Length: ${10 * 1024 * 1024}\r\n\r\n`);
      sock.end(Buffer.alloc(10 * 1024 * 1024, 0x61));
    },
    error: /^body larger than 1048576 bytes \(Content-Length 10485760\)$/,
  },
  garbage: { handler: (sock) => sock.write('SSH-2.0-OpenSSH_9.2p1 Debian\r\n'), error: /^not an HTTP response$/ },
  garbageStatus: { handler: (sock) => sock.write('HTTP/1.1 abc nope\r\n\r\n'), error: /^not an HTTP response$/ },
  midHeaders: { handler: (sock) => sock.end('HTTP/1.1 200 OK\r\nContent-Type: te'), error: /^connection closed mid-headers$/ },
  closeAtOnce: { handler: (sock) => sock.end(), error: /^connection closed without a response$/ },
  shortBody: { handler: (sock) => sock.end('HTTP/1.0 200 OK\r\nContent-Length: 10\r\n\r\nabc'), error: /^connection closed after 3 of 10 body bytes$/ },
  keepsOpen: { handler: (sock) => sock.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok'), error: new RegExp(`^connection not closed within ${TIMEOUT} ms$`) },
  endlessHeaders: {
    handler: (sock) => {
      sock.write('HTTP/1.1 200 OK\r\n');
      const t = setInterval(() => sock.write(`X-Pad: ${'p'.repeat(1000)}\r\n`), 1);
      sock.on('close', () => clearInterval(t));
    },
    error: /^headers larger than 65536 bytes$/,
  },
};

test('hostile targets each fail within the timeout plus a margin, with their reason', async () => {
  const servers: Served[] = [];
  try {
    const results = await Promise.all(
      Object.entries(HOSTILE).map(async ([name, h]) => {
        const s = await serve(h.handler, h.onConnect ? { onConnect: true } : {});
        servers.push(s);
        const { r, took } = await timed(check(s.port, [{}], { timeoutMs: TIMEOUT }));
        return { name, error: errorOf(r), took, expected: h.error };
      }),
    );
    // and a closed port
    const closed = await serve(() => {});
    await closed.close();
    const refused = await timed(check(closed.port, [{}], { timeoutMs: TIMEOUT }));
    results.push({ name: 'refused', error: errorOf(refused.r), took: refused.took, expected: /^connection refused$/ });
    for (const x of results) {
      assert.match(x.error, x.expected, `${x.name}: ${x.error}`);
      assert.ok(x.took < TIMEOUT + MARGIN_MS, `${x.name}: took ${Math.round(x.took)} ms`);
    }
  } finally {
    await Promise.all(servers.map((s) => s.close()));
  }
});

test('a TLS server that accepts and never completes the handshake fails by timeout', async () => {
  const s = await serve(() => {}, { onConnect: true });
  try {
    const { r, took } = await timed(check(s.port, [{}], { tls: true, timeoutMs: TIMEOUT }));
    assert.equal(errorOf(r), `no TLS handshake within ${TIMEOUT} ms`);
    assert.ok(took < TIMEOUT + MARGIN_MS, `took ${Math.round(took)} ms`);
  } finally {
    await s.close();
  }
});

test('an abort signal ends a probe at once', async () => {
  const s = await serve(() => {}, { onConnect: true });
  try {
    const ac = new AbortController();
    const pending = timed(check(s.port, [{}], { timeoutMs: 60_000 }), ac.signal);
    setTimeout(() => ac.abort(), 100);
    const { r, took } = await pending;
    assert.equal(errorOf(r), 'aborted');
    assert.ok(took < 100 + MARGIN_MS, `took ${Math.round(took)} ms`);
    // already aborted: no connection at all
    const before = s.requests.length + s.open.size;
    const again = await httpProbe(check(s.port, [{}], { timeoutMs: 60_000 }), AbortSignal.abort());
    assert.equal(errorOf(again), 'aborted');
    assert.equal(s.requests.length + s.open.size, before);
  } finally {
    await s.close();
  }
});

// ---- leaks ------------------------------------------------------------------------------------

/** Counts of the active handles this process holds, by kind (sockets, servers, timers). */
function resources(): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const r of process.getActiveResourcesInfo()) counts[r] = (counts[r] ?? 0) + 1;
  return counts;
}

test('2,000 probes against hostile servers leave no socket, timer or heap growth behind', { timeout: 240_000 }, async () => {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  // the slow ones fail by a short timeout; the others fail fast under a long one, so that a
  // timer left running after its probe ended is still there when the handles are counted
  const modes: Record<string, { handler: Handler; onConnect?: boolean; timeoutMs: number }> = {
    reset: { ...HOSTILE.reset!, timeoutMs: 60_000 },
    silent: { ...HOSTILE.silent!, timeoutMs: 300 },
    garbage: { ...HOSTILE.garbage!, timeoutMs: 60_000 },
    midHeaders: { ...HOSTILE.midHeaders!, timeoutMs: 60_000 },
    big: { handler: (sock) => sock.end(Buffer.concat([Buffer.from('HTTP/1.0 200 OK\r\n\r\n'), Buffer.alloc(256 * 1024, 0x62)])), timeoutMs: 60_000 },
    drip: { ...HOSTILE.drip!, timeoutMs: 300 },
    bad: { handler: respond(503, 'down'), timeoutMs: 60_000 },
  };
  const servers = await Promise.all(Object.values(modes).map((m) => serve(m.handler, m.onConnect ? { onConnect: true } : {})));
  const closedPort = await serve(() => {});
  await closedPort.close();
  const targets = [...servers.map((s, i) => ({ port: s.port, timeoutMs: Object.values(modes)[i]!.timeoutMs })), { port: closedPort.port, timeoutMs: 60_000 }];
  const settle = async () => {
    const deadline = Date.now() + 15_000;
    while (servers.some((s) => s.open.size > 0) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    await new Promise((r) => setTimeout(r, 100));
  };
  const batch = async (n: number) => {
    let failed = 0;
    for (let i = 0; i < n; i += 100) {
      const rs = await Promise.all(targets.flatMap((t) => Array.from({ length: Math.ceil(100 / targets.length) }, () => httpProbe(check(t.port, [{}], { timeoutMs: t.timeoutMs, maxBodyBytes: 16 * 1024 })))));
      failed += rs.filter((r) => !r.ok).length;
      assert.ok(rs.every((r) => !r.ok), `a hostile server passed: ${JSON.stringify(rs.find((r) => r.ok))}`);
    }
    return failed;
  };
  try {
    // warm-up: module caches, JIT, and the earlier tests' sockets done closing; then measure
    await batch(200);
    await settle();
    const baseline = resources();
    gc();
    const heap0 = process.memoryUsage().heapUsed;
    const failed = await batch(2000);
    assert.ok(failed >= 2000, `probes run: ${failed}`);
    await settle();
    gc();
    const heap1 = process.memoryUsage().heapUsed;
    const after = resources();
    for (const kind of ['TCPSocketWrap', 'Timeout', 'TLSWrap']) assert.ok((after[kind] ?? 0) <= (baseline[kind] ?? 0), `${kind}: ${JSON.stringify({ baseline, after })}`);
    const grew = heap1 - heap0;
    assert.ok(grew < 4 * 1024 * 1024, `heap grew by ${Math.round(grew / 1024)} KiB over 2,000 probes`);
  } finally {
    await Promise.all(servers.map((s) => s.close()));
  }
});

// ---- a target that never answers SYN (root: a namespace of its own) ---------------------------

test('a target that never answers SYN fails by timeout (namespace with an nftables drop; needs root)', async () => {
  assert.equal(process.getuid?.(), 0, 'this test needs root (a network namespace and nftables)');
  const ns = `vigil-http-syn-${process.pid}`;
  // from the repository, where tsx resolves
  const cwd = new URL('../..', import.meta.url).pathname;
  const sh = (args: string[]) => execFileSync(args[0] as string, args.slice(1), { stdio: 'pipe', encoding: 'utf8', cwd });
  try {
    sh(['ip', 'netns', 'add', ns]);
    sh(['ip', '-n', ns, 'link', 'set', 'lo', 'up']);
    // only the namespace's own loopback: SYNs to port 8080 vanish, no RST comes back
    sh(['ip', 'netns', 'exec', ns, 'nft', 'add table inet t; add chain inet t in { type filter hook input priority 0; }; add rule inet t in tcp dport 8080 drop']);
    const probe = `import { httpProbe } from ${JSON.stringify(new URL('../../src/lvs/http-check.ts', import.meta.url).href)};
const r = await httpProbe({ kind: 'http', name: 'HTTP_GET 127.0.0.1:8080', host: '127.0.0.1', port: 8080, tls: false, verifyTls: false, protocol: '1.0', maxBodyBytes: 1024, timeoutMs: ${TIMEOUT}, retry: 1, delayBeforeRetryMs: 1, delayLoopMs: 1, warmupMs: 0, alpha: false, urls: [{ path: '/', statusCodes: [[200, 299]], host: '127.0.0.1:8080' }] });
process.stdout.write(JSON.stringify(r));`;
    const out = sh(['ip', 'netns', 'exec', ns, process.execPath, '--import', 'tsx', '--input-type=module', '-e', probe]);
    const r = JSON.parse(out) as { ok: boolean; error?: string; ms: number };
    assert.equal(r.error, `no connection within ${TIMEOUT} ms`);
    assert.ok(r.ms >= TIMEOUT - 50 && r.ms < TIMEOUT + MARGIN_MS, `took ${Math.round(r.ms)} ms`);
  } finally {
    try {
      sh(['ip', 'netns', 'del', ns]);
    } catch {
      // not created (not root): nothing to remove
    }
  }
});
