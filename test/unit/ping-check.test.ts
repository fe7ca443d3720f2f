// PING_CHECK: ICMP and ICMPv6 echo to 127.0.0.1 and ::1 pass (also from bindto, and inside a
// worker thread, where the probes run in the daemon); in a namespace made here, the failures:
// ping sockets not allowed (ping_group_range), the echo dropped (timeout), the echo rejected
// with an ICMP error (fails at once), no route. 2,000 attempts leave no handle. Needs root
// (namespaces, nft): fails, not skips, without it.
import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import { test } from 'node:test';
import { Worker } from 'node:worker_threads';
import type { PingCheck, ProbeResult } from '../../src/lvs/checks.ts';
import { echoMismatch, echoRequest, pingProbe } from '../../src/lvs/ping-check.ts';
import { isRoot, Lab } from '../lib/netns.ts';
import { handles, settle } from '../lib/handles.ts';

const timing = { retry: 1, delayBeforeRetryMs: 1000, delayLoopMs: 1000, warmupMs: 0, alpha: false };

const check = (host: string, o: Partial<PingCheck> = {}): PingCheck => ({ kind: 'ping', name: `PING_CHECK ${host}`, host, timeoutMs: 1500, ...timing, ...o });
const summary = (r: ProbeResult) => (r.ok ? 'pass' : r.error);

test('an echo to 127.0.0.1 and ::1 passes, from bindto too', async () => {
  assert.equal(summary(await pingProbe(check('127.0.0.1'))), 'pass');
  assert.equal(summary(await pingProbe(check('::1'))), 'pass');
  assert.equal(summary(await pingProbe(check('127.0.0.1', { bindto: '127.0.0.1' }))), 'pass');
  assert.equal(summary(await pingProbe(check('::1', { bindto: '::1' }))), 'pass');
  assert.equal(summary(await pingProbe(check('::1', { bindto: '127.0.0.1' }))), "bindto 127.0.0.1 is not of the target's family");
});

test('inside a worker thread (where the daemon runs its probes) echoes pass too', async () => {
  // the worker gets the same TypeScript loader as the daemon's probe worker (probe-worker-entry.mjs)
  const code = `
    const { parentPort, workerData } = require('node:worker_threads');
    (async () => {
      const { register } = await import(workerData.tsx);
      register();
      const { pingProbe } = await import(workerData.mod);
      const base = ${JSON.stringify({ kind: 'ping', timeoutMs: 1500, ...timing })};
      const out = [];
      for (const host of ['127.0.0.1', '::1']) out.push(await pingProbe({ ...base, name: 'PING_CHECK ' + host, host }));
      parentPort.postMessage(out);
    })().catch((e) => parentPort.postMessage(String(e && e.stack || e)));
  `;
  const worker = new Worker(code, {
    eval: true,
    workerData: { tsx: import.meta.resolve('tsx/esm/api'), mod: new URL('../../src/lvs/ping-check.ts', import.meta.url).href },
  });
  try {
    const answer = await new Promise<unknown>((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
      worker.once('exit', (c) => reject(new Error(`worker exited with ${c}`)));
    });
    assert.ok(Array.isArray(answer), String(answer));
    assert.deepEqual(
      (answer as ProbeResult[]).map((r) => summary(r)),
      ['pass', 'pass'],
    );
  } finally {
    await worker.terminate();
  }
});

test('the echo request on the wire, and what counts as the reply', () => {
  const v4 = echoRequest(4, 0x1234);
  assert.equal(v4.length, 8 + 128, "keepalived's 128-byte payload");
  assert.deepEqual([...v4.subarray(0, 8)], [8, 0, 0, 0, 0, 0, 0x12, 0x34]);
  assert.equal(v4.subarray(8, 27).toString(), 'keepalived check - ');
  assert.equal(echoRequest(6, 1)[0], 128);
  const reply = Buffer.from(v4);
  reply[0] = 0;
  assert.equal(echoMismatch(4, 0x1234, reply), undefined);
  assert.equal(echoMismatch(4, 0x1235, reply), 'echo reply sequence 4660, expected 4661');
  reply[0] = 3;
  reply[1] = 1;
  assert.equal(echoMismatch(4, 0x1234, reply), 'ICMP type 3 code 1, not an echo reply');
  assert.equal(echoMismatch(6, 1, Buffer.from([129, 0, 0])), 'short ICMP packet of 3 bytes');
});

test('an abort ends the attempt; 2,000 attempts (passing, aborted, timed out at once) leave no handle', async () => {
  const abort = new AbortController();
  abort.abort();
  assert.equal(summary(await pingProbe(check('127.0.0.1'), abort.signal)), 'aborted');
  await settle();
  const before = handles();
  const outcomes = new Map<string, number>();
  for (let batch = 0; batch < 20; batch++) {
    const results = await Promise.all(
      Array.from({ length: 100 }, (_, i) => {
        const host = i % 2 === 0 ? '127.0.0.1' : '::1';
        if (i % 10 === 3) {
          const a = new AbortController();
          queueMicrotask(() => a.abort());
          return pingProbe(check(host), a.signal);
        }
        return pingProbe(check(host, i % 10 === 7 ? { timeoutMs: 0 } : {}));
      }),
    );
    for (const r of results) outcomes.set(summary(r), (outcomes.get(summary(r)) ?? 0) + 1);
  }
  await settle();
  assert.deepEqual(handles(), before, 'sockets and timers back to the baseline');
  assert.ok((outcomes.get('pass') ?? 0) > 1000 && (outcomes.get('aborted') ?? 0) > 0, JSON.stringify([...outcomes]));
});

test('in a namespace: ping sockets refused, echo dropped, echo answered by an ICMP error, no route', { timeout: 120_000 }, async () => {
  assert.ok(isRoot, 'this test needs root (network namespaces, nft)');
  const lab = new Lab();
  try {
    const ns = lab.addNamespace('ping');
    // the namespace's own addresses, on its loopback (no dummy driver needed)
    lab.exec(ns, 'ip', ['addr', 'add', '192.0.2.1/32', 'dev', 'lo']);
    lab.exec(ns, 'ip', ['addr', 'add', '2001:db8::1/128', 'dev', 'lo']);
    /** pingProbe run by a node inside the namespace (the probe opens its socket there). */
    const probeIn = (hosts: string[], timeoutMs = 1000): string[] => {
      const mod = new URL('../../src/lvs/ping-check.ts', import.meta.url).href;
      const code = `const { pingProbe } = await import(${JSON.stringify(mod)});
        const out = [];
        for (const host of ${JSON.stringify(hosts)}) out.push(await pingProbe({ kind: 'ping', name: 'p', host, timeoutMs: ${timeoutMs}, ...${JSON.stringify(timing)} }));
        console.log(JSON.stringify(out));`;
      const stdout = lab.exec(ns, process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code]);
      return (JSON.parse(stdout) as ProbeResult[]).map(summary);
    };

    // a new namespace's net.ipv4.ping_group_range is "1 0": no group may open ping sockets
    assert.deepEqual(probeIn(['192.0.2.1', '2001:db8::1']), ['ICMP socket: EACCES (see net.ipv4.ping_group_range)', 'ICMP socket: EACCES (see net.ipv4.ping_group_range)']);
    lab.exec(ns, 'sysctl', ['-q', '-w', 'net.ipv4.ping_group_range=0 0']);
    assert.deepEqual(probeIn(['192.0.2.1', '2001:db8::1']), ['pass', 'pass'], 'healthy in the namespace');

    lab.exec(ns, 'nft', ['add table inet h3; add chain inet h3 in { type filter hook input priority 0; }']);
    lab.exec(ns, 'nft', ['add rule inet h3 in icmp type echo-request drop; add rule inet h3 in icmpv6 type echo-request drop']);
    const started = performance.now();
    assert.deepEqual(probeIn(['192.0.2.1', '2001:db8::1'], 700), ['no echo reply within 700 ms', 'no echo reply within 700 ms']);
    assert.ok(performance.now() - started < 30_000);

    lab.exec(ns, 'nft', ['flush chain inet h3 in']);
    lab.exec(ns, 'nft', [
      'add rule inet h3 in icmp type echo-request reject with icmp type host-unreachable; add rule inet h3 in icmpv6 type echo-request reject with icmpv6 type addr-unreachable',
    ]);
    assert.deepEqual(probeIn(['192.0.2.1', '2001:db8::1'], 5000), ['ICMP host unreachable', 'ICMP host unreachable']);
    lab.exec(ns, 'nft', ['flush chain inet h3 in']);
    lab.exec(ns, 'nft', ['add rule inet h3 in icmp type echo-request reject with icmp type prot-unreachable']);
    assert.deepEqual(probeIn(['192.0.2.1'], 5000), ['ICMP protocol unreachable']);

    assert.deepEqual(probeIn(['203.0.113.9', '2001:db8:1::9'], 5000), ['network unreachable', 'network unreachable'], 'no route in the namespace');
  } finally {
    await lab.cleanup();
  }
  assert.throws(() => execFileSync('ip', ['netns', 'pids', `${lab.prefix}-ping`], { stdio: 'ignore' }), 'namespace removed');
});
