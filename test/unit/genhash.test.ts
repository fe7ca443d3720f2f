// `vigil genhash` / `vigil -T`, run as the real CLI (bin/vigil) against servers on loopback
// started here: it prints the MD5 this test computes with node:crypto (a 404 page too), keepalived's
// `Connection failed` on a closed port, works over TLS (-S, a self-signed certificate made by
// openssl), sends -V as Host and as SNI with -I, -P 1.1 with Connection: close; usage errors
// exit 1. And it loads neither the daemon nor the config reader.
import { strict as assert } from 'node:assert';
import { execFile, execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { test } from 'node:test';
import { createServer as createTlsServer, type TLSSocket } from 'node:tls';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));
const bin = join(root, 'bin/vigil');
const md5 = (b: string | Buffer) => createHash('md5').update(b).digest('hex');

/** Runs bin/vigil without blocking this process's loop (the servers live here). */
function vigil(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((done) => {
    execFile(process.execPath, [bin, ...args], { encoding: 'utf8', timeout: 60_000 }, (e, stdout, stderr) => {
      done({ code: e ? (typeof e.code === 'number' ? e.code : -1) : 0, stdout, stderr });
    });
  });
}

interface Seen {
  request: string;
  sni: string | false | null | undefined;
}

const PAGE = '<html><body>vigil genhash test page\n' + 'x'.repeat(5000) + '</body></html>\n';
const MISSING = 'no such page\n';

/** Answers /page with PAGE (200) and anything else with MISSING (404), recording requests. */
function pageServer(tls?: { key: Buffer; cert: Buffer }): Promise<{ port: number; seen: Seen[]; server: Server }> {
  const seen: Seen[] = [];
  const onSocket = (sock: Socket) => {
    let text = '';
    sock.on('error', () => {});
    sock.on('data', (d) => {
      text += d.toString('latin1');
      if (!text.includes('\r\n\r\n')) return;
      seen.push({ request: text, sni: (sock as TLSSocket).servername });
      const [status, body] = text.startsWith('GET /page ') ? [200, PAGE] : [404, MISSING];
      sock.end(`HTTP/1.0 ${status} X\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
    });
  };
  const server = tls ? createTlsServer(tls, onSocket) : createServer(onSocket);
  return new Promise((r) => server.listen(0, '127.0.0.1', () => r({ port: (server.address() as AddressInfo).port, seen, server })));
}

test('prints the MD5 of the page, of a 404 page too; -V is the Host header; -P 1.1 sends Connection: close; -T works', async () => {
  const { port, seen, server } = await pageServer();
  try {
    const page = await vigil(['genhash', '-s', '127.0.0.1', '-p', String(port), '-u', '/page']);
    assert.deepEqual(page, { code: 0, stdout: `${md5(PAGE)}\n`, stderr: '' });
    assert.match(seen[0]?.request ?? '', new RegExp(`^GET /page HTTP/1\\.0\\r\\nUser-Agent: KeepAliveClient\\r\\nHost: 127\\.0\\.0\\.1:${port}\\r\\n\\r\\n$`));

    // the status is not checked: the 404 page's body is hashed
    const missing = await vigil(['genhash', '-s', '127.0.0.1', '-p', String(port), '-u', '/nothing']);
    assert.deepEqual(missing, { code: 0, stdout: `${md5(MISSING)}\n`, stderr: '' });

    // keepalived's spelling, -T first; long options; -P 1.1
    const t = await vigil(['-T', '--server', '127.0.0.1', '--port', String(port), '--url', '/page', '-V', 'www.example.org', '-P', '1.1']);
    assert.deepEqual(t, { code: 0, stdout: `${md5(PAGE)}\n`, stderr: '' });
    assert.equal(seen.at(-1)?.request, 'GET /page HTTP/1.1\r\nUser-Agent: KeepAliveClient\r\nConnection: close\r\nHost: www.example.org\r\n\r\n');

    // -v: the headers, the body, then the digest under keepalived's headings and the time
    const v = await vigil(['genhash', '-v', '-s', '127.0.0.1', '-p', String(port), '-u', '/page']);
    assert.equal(v.code, 0);
    const headings = ['HTTP Header Buffer', 'HTTP Header Ascii Buffer', 'HTML Buffer', 'HTML hash resulting', 'HTML hash final resulting'];
    let at = 0;
    for (const h of headings) {
      const i = v.stdout.indexOf(`${h} `, at);
      assert.ok(i >= at, `${h} after the previous section:\n${v.stdout.slice(0, 600)}`);
      at = i;
    }
    assert.match(v.stdout.slice(at), new RegExp(`\\]-+\\n${md5(PAGE)}\\n\\nGlobal response time for \\[/page\\] = \\d+ usecs\\n$`));
    assert.match(v.stdout, /^0000 {2}48 54 54 50 2f 31 2e 30 - 20 32 30 30 20 58 0d 0a {3}HTTP\/1\.0 200 X\.\.$/m);
  } finally {
    server.close();
  }
});

test('a closed port prints keepalived\'s "Connection failed" and exits 0', async () => {
  const { port, server } = await pageServer();
  await new Promise((r) => server.close(r));
  const r = await vigil(['genhash', '-s', '127.0.0.1', '-p', String(port), '-u', '/page']);
  assert.equal(r.code, 0);
  assert.equal(r.stdout, 'Connection failed\n');
  assert.match(r.stderr, /connection refused/);
});

test('-S fetches over TLS without verifying (a self-signed certificate); -I sends -V as SNI', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'vigil-genhash-'));
  let server: Server | undefined;
  try {
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', join(dir, 'k.pem'), '-out', join(dir, 'c.pem'), '-days', '2', '-subj', '/CN=rs.example'], { stdio: 'pipe' });
    const s = await pageServer({ key: readFileSync(join(dir, 'k.pem')), cert: readFileSync(join(dir, 'c.pem')) });
    server = s.server;
    const plain = await vigil(['genhash', '-S', '-s', '127.0.0.1', '-p', String(s.port), '-u', '/page']);
    assert.deepEqual(plain, { code: 0, stdout: `${md5(PAGE)}\n`, stderr: '' });
    assert.equal(s.seen.at(-1)?.sni, false);
    const sni = await vigil(['genhash', '-S', '-I', '-V', 'rs.example', '-s', '127.0.0.1', '-p', String(s.port), '-u', '/page']);
    assert.deepEqual(sni, { code: 0, stdout: `${md5(PAGE)}\n`, stderr: '' });
    assert.equal(s.seen.at(-1)?.sni, 'rs.example');
    assert.match(s.seen.at(-1)?.request ?? '', /\r\nHost: rs\.example\r\n/);
  } finally {
    server?.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('usage errors and -h print the usage on stderr and exit 1; -m is accepted and said unsupported', async () => {
  for (const args of [[], ['-h'], ['-s', '127.0.0.1', '-p', '80'], ['-s', 'not-an-ip', '-p', '80', '-u', '/'], ['-s', '127.0.0.1', '-p', '70000', '-u', '/'], ['-s', '127.0.0.1', '-p', '80', '-u', '/', '-P', '2.0'], ['-s', '127.0.0.1', '-p', '80', '-u', '/', 'extra'], ['-x']]) {
    const r = await vigil(['genhash', ...args]);
    assert.equal(r.code, 1, `${args.join(' ')}: ${JSON.stringify(r)}`);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /Usage: vigil genhash COMMAND \[OPTIONS\]/);
  }
  const { port, server } = await pageServer();
  try {
    const m = await vigil(['genhash', '-m', '5', '-s', '127.0.0.1', '-p', String(port), '-u', '/page']);
    assert.equal(m.code, 0);
    assert.equal(m.stdout, `${md5(PAGE)}\n`);
    assert.match(m.stderr, /fwmark.*not supported/);
  } finally {
    server.close();
  }
});

/** Every module importing `entry` loads before any of its code runs: its static imports (not
 * `import type`), transitively; repository files by path, packages by name. An import() runs
 * only on its command's path, so it is not followed. */
function staticClosure(entry: string): Set<string> {
  const seen = new Set<string>();
  const visit = (file: string) => {
    if (seen.has(file)) return;
    seen.add(file);
    const src = readFileSync(file, 'utf8');
    for (const m of src.matchAll(/^import\s+(?!type\s)[^;]*?from\s+'([^']+)'/gms)) {
      const spec = m[1] as string;
      if (spec.startsWith('.')) visit(resolve(dirname(file), spec));
      else if (!spec.startsWith('node:')) seen.add(spec);
    }
  };
  visit(entry);
  return seen;
}

test('genhash loads neither the daemon nor the config reader', () => {
  const mainTs = join(root, 'src/cli/main.ts');
  // what `vigil genhash` loads: main.ts's static imports (its other commands' import()s are not
  // reached), then genhash.ts and everything it imports
  // what `vigil genhash` loads: main.ts with its static imports, then genhash.ts with its own
  const loaded = new Set([...staticClosure(mainTs), ...staticClosure(join(root, 'src/cli/genhash.ts'))]);
  const rel = [...loaded].map((f) => (f.startsWith(root) ? f.slice(root.length) : f));
  assert.ok(rel.includes('src/lvs/http-check.ts'), rel.join(' '));
  for (const heavy of ['src/daemon/run.ts', 'src/daemon/engine.ts', 'src/config/load.ts', 'src/config/diagnostics.ts', 'src/config/schema.ts', 'src/lvs/balancer.ts', 'zod', 'yaml']) {
    assert.ok(!rel.includes(heavy), `${heavy} is loaded by vigil genhash: ${rel.join(' ')}`);
  }
  // and genhash's own part is node's built-ins plus the probe's fetch and the monotonic clock
  assert.deepEqual([...staticClosure(join(root, 'src/cli/genhash.ts'))].map((f) => f.slice(root.length)).sort(), ['src/cli/genhash.ts', 'src/clock.ts', 'src/lvs/http-check.ts']);
  // the dispatch comes before anything else main() does
  const src = readFileSync(mainTs, 'utf8');
  const body = src.slice(src.indexOf('export async function main('));
  assert.ok(body.indexOf("import('./genhash.ts')") < body.indexOf('parseArgs('), 'genhash is dispatched before the daemon options are parsed');
});
