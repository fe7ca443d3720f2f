// The probe worker: attempts run in a worker thread and come back with their results; an abort
// ends one early; a closed runner fails what it held and leaves no thread behind.
import { strict as assert } from 'node:assert';
import { createServer, type Server, type Socket } from 'node:net';
import { test } from 'node:test';
import type { HttpCheck, TcpCheck } from '../../src/lvs/checks.ts';
import { InlineProbes, CheckerWorker } from '../../src/lvs/probe-runner.ts';

const timing = { retry: 1, delayBeforeRetryMs: 1000, delayLoopMs: 1000, warmupMs: 0, alpha: false };

function listen(): Promise<{ server: Server; port: number }> {
  return new Promise((resolve) => {
    const server = createServer((s) => s.destroy());
    server.listen(0, '127.0.0.1', () => resolve({ server, port: (server.address() as { port: number }).port }));
  });
}

const tcp = (port: number, timeoutMs = 2000): TcpCheck => ({ kind: 'tcp', name: `TCP_CHECK 127.0.0.1:${port}`, host: '127.0.0.1', port, timeoutMs, ...timing });

test('a TCP attempt in the worker passes against a listener and fails against a closed port', async () => {
  const { server, port } = await listen();
  const probes = new CheckerWorker();
  try {
    const up = await probes.run(tcp(port));
    assert.equal(up.ok, true);
    server.close();
    await new Promise((r) => setTimeout(r, 50));
    const down = await probes.run(tcp(port));
    assert.deepEqual({ ok: down.ok, error: down.ok ? undefined : down.error }, { ok: false, error: 'connection refused' });
  } finally {
    server.close();
    await probes.close();
  }
});

test('many attempts in flight at once each get their own answer', async () => {
  const { server, port } = await listen();
  const probes = new CheckerWorker();
  try {
    const results = await Promise.all(Array.from({ length: 200 }, (_, i) => probes.run(tcp(i % 2 === 0 ? port : 1))));
    results.forEach((r, i) => assert.equal(r.ok, i % 2 === 0, `attempt ${i}`));
  } finally {
    server.close();
    await probes.close();
  }
});

test('an abort ends an attempt in the worker early, and a closed runner runs nothing', async () => {
  // a server that accepts and never speaks: an HTTP attempt would wait its whole minute
  const sockets = new Set<Socket>();
  const server = createServer((s) => void sockets.add(s));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  const probes = new CheckerWorker();
  const check: HttpCheck = {
    kind: 'http', name: `HTTP_GET 127.0.0.1:${port}`, host: '127.0.0.1', port, timeoutMs: 60_000, ...timing,
    tls: false, verifyTls: false, protocol: '1.0', maxBodyBytes: 1 << 20,
    urls: [{ path: '/', statusCodes: [[200, 299]], host: `127.0.0.1:${port}` }],
  };
  try {
    const abort = new AbortController();
    const started = performance.now();
    setTimeout(() => abort.abort(), 200);
    const r = await probes.run(check, abort.signal);
    assert.deepEqual(r.ok ? 'passed' : r.error, 'aborted');
    assert.ok(performance.now() - started < 10_000, 'the abort ended it, not its 60 s timeout');
  } finally {
    await probes.close();
    for (const s of sockets) s.destroy();
    server.close();
  }
  const after = await probes.run(tcp(port));
  assert.deepEqual(after.ok ? 'passed' : after.error, 'aborted', 'a closed runner runs nothing');
});

test('the inline runner gives the same answers as the worker', async () => {
  const { server, port } = await listen();
  try {
    const r = await new InlineProbes().run(tcp(port));
    assert.equal(r.ok, true);
  } finally {
    server.close();
  }
});
