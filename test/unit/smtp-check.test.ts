// SMTP_CHECK against a real SMTP responder on loopback (node:net, one script per test): a
// healthy dialogue passes and the server sees keepalived's HELO and QUIT; a `220-` multi-line
// banner, a 4xx banner, a rejected HELO, a close at each step, a server that never speaks and
// one that talks without newlines all fail with their reason, within the budget. 2,000
// attempts against a hostile responder leave no handle behind.
import { strict as assert } from 'node:assert';
import { createServer, type Server, type Socket } from 'node:net';
import { test } from 'node:test';
import type { ProbeResult, SmtpCheck } from '../../src/lvs/checks.ts';
import { smtpCode, smtpProbe } from '../../src/lvs/smtp-check.ts';
import { handles, settle } from '../lib/handles.ts';

const timing = { retry: 1, delayBeforeRetryMs: 1000, delayLoopMs: 1000, warmupMs: 0, alpha: false };

/** The server's side of one connection: `greet` when it connects, `onLine` per client line. */
interface Script {
  greet?: (s: Socket) => void;
  onLine?: (line: string, s: Socket) => void;
}

const healthy: Script = {
  greet: (s) => s.write('220 mail.example.org ESMTP ready\r\n'),
  onLine: (line, s) => {
    if (line.startsWith('HELO ')) s.write('250 mail.example.org\r\n');
    else if (line === 'QUIT') s.end('221 bye\r\n');
  },
};

async function responder(script: Script, host = '127.0.0.1') {
  const lines: string[] = [];
  const peers: string[] = [];
  const sockets = new Set<Socket>();
  const server: Server = createServer((s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => {});
    peers.push(`${s.remoteAddress}:${s.remotePort}`);
    let buf = '';
    s.setEncoding('latin1');
    s.on('data', (d: string) => {
      buf += d;
      let nl: number;
      while ((nl = buf.indexOf('\r\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 2);
        lines.push(line);
        if (!s.destroyed) script.onLine?.(line, s);
      }
    });
    script.greet?.(s);
  });
  await new Promise<void>((r) => server.listen(0, host, r));
  const port = (server.address() as { port: number }).port;
  const close = async () => {
    for (const s of sockets) s.destroy();
    await new Promise<void>((r) => server.close(() => r()));
  };
  return { port, lines, peers, close };
}

const check = (port: number, o: Partial<SmtpCheck> = {}): SmtpCheck => ({
  kind: 'smtp',
  name: `SMTP_CHECK 127.0.0.1:${port}`,
  host: '127.0.0.1',
  port,
  timeoutMs: 1500,
  ...timing,
  heloName: 'smtpchecker.keepalived.org',
  ...o,
});

const summary = (r: ProbeResult) => (r.ok ? 'pass' : r.error);

async function against(script: Script, o: Partial<SmtpCheck> = {}) {
  const server = await responder(script);
  try {
    const r = await smtpProbe(check(server.port, o));
    return { r, lines: server.lines, peers: server.peers };
  } finally {
    await server.close();
  }
}

test('a healthy server passes; it sees HELO with helo_name, then QUIT', async () => {
  const { r, lines } = await against(healthy);
  assert.equal(summary(r), 'pass');
  assert.deepEqual(lines, ['HELO smtpchecker.keepalived.org', 'QUIT']);
  const own = await against(healthy, { heloName: 'lb1.example.org' });
  assert.deepEqual(own.lines[0], 'HELO lb1.example.org');
});

test('over IPv6 too, and from bindto:bind_port', async () => {
  const server = await responder(healthy, '::1');
  try {
    const r = await smtpProbe(check(server.port, { host: '::1', bindto: '::1' }));
    assert.equal(summary(r), 'pass');
    assert.match(server.peers[0] ?? '', /^::1:\d+$/);
  } finally {
    await server.close();
  }
  const free = await responder({});
  const port = free.port; // free a moment ago
  await free.close();
  const { r, peers } = await against(healthy, { bindto: '127.0.0.1', bindPort: port });
  assert.equal(summary(r), 'pass');
  assert.deepEqual(peers, [`127.0.0.1:${port}`]);
});

test('a bare "220" and a banner split across packets pass', async () => {
  assert.equal(summary((await against({ ...healthy, greet: (s) => s.write('220\r\n') })).r), 'pass');
  const split: Script = {
    ...healthy,
    greet: (s) => {
      s.write('22');
      setTimeout(() => !s.destroyed && s.write('0 slow\r'), 30);
      setTimeout(() => !s.destroyed && s.write('\n'), 60);
    },
  };
  assert.equal(summary((await against(split)).r), 'pass');
});

test('a multi-line 220- banner fails, as in keepalived, and so does a 4xx banner', async () => {
  const multi = await against({ ...healthy, greet: (s) => s.write('220-mail.example.org hello\r\n220 ESMTP\r\n') });
  assert.equal(summary(multi.r), "banner '220-mail.example.org hello' is not 220");
  assert.deepEqual(multi.lines, [], 'no HELO sent');
  assert.equal(summary((await against({ ...healthy, greet: (s) => s.write('421 busy\r\n') })).r), "banner '421 busy' is not 220");
  assert.equal(summary((await against({ ...healthy, greet: (s) => s.write('2200 odd\r\n') })).r), "banner '2200 odd' is not 220");
});

test('a rejected or multi-line HELO reply fails', async () => {
  const reject: Script = { ...healthy, onLine: (line, s) => void (line.startsWith('HELO') && s.write('550 go away\r\n')) };
  assert.equal(summary((await against(reject)).r), "HELO answered '550 go away', not 250");
  const multi: Script = { ...healthy, onLine: (line, s) => void (line.startsWith('HELO') && s.write('250-hello\r\n250 ok\r\n')) };
  assert.equal(summary((await against(multi)).r), "HELO answered '250-hello', not 250");
});

test('the server closing mid-dialogue fails with where it closed', async () => {
  assert.equal(summary((await against({ greet: (s) => s.end() })).r), 'closed before the banner');
  const atHelo: Script = { ...healthy, onLine: (_l, s) => s.end() };
  assert.equal(summary((await against(atHelo)).r), 'closed after HELO');
  const resetAtHelo: Script = { ...healthy, onLine: (_l, s) => s.resetAndDestroy() };
  assert.equal(summary((await against(resetAtHelo)).r), 'closed after HELO (reset)');
  const atQuit: Script = { ...healthy, onLine: (line, s) => (line.startsWith('HELO') ? s.write('250 ok\r\n') : s.end()) };
  assert.equal(summary((await against(atQuit)).r), 'closed after QUIT', 'keepalived needs a line back to QUIT');
});

test('a server that never speaks, or talks without a newline, fails by the timeout', async () => {
  const silent = await against({}, { timeoutMs: 500 });
  assert.equal(summary(silent.r), 'no banner within 500 ms');
  assert.ok(silent.r.ms >= 450 && silent.r.ms < 2500, `${silent.r.ms} ms`);
  const drip: Script = {
    greet: (s) => {
      const t = setInterval(() => (s.destroyed ? clearInterval(t) : s.write('x'.repeat(4096))), 10);
      s.on('close', () => clearInterval(t));
    },
  };
  const endless = await against(drip, { timeoutMs: 500 });
  assert.equal(summary(endless.r), 'no banner within 500 ms');
  const noQuitReply: Script = { ...healthy, onLine: (line, s) => void (line.startsWith('HELO') && s.write('250 ok\r\n')) };
  assert.equal(summary((await against(noQuitReply, { timeoutMs: 500 })).r), 'no reply to QUIT within 500 ms');
});

test('connection refused, and an abort, end the attempt at once', async () => {
  const gone = await responder({});
  const port = gone.port;
  await gone.close();
  const r = await smtpProbe(check(port, { timeoutMs: 5000 }));
  assert.equal(summary(r), 'connection refused');
  const server = await responder({});
  try {
    const abort = new AbortController();
    const pending = smtpProbe(check(server.port, { timeoutMs: 60_000 }), abort.signal);
    setTimeout(() => abort.abort(), 50);
    assert.equal(summary(await pending), 'aborted');
  } finally {
    await server.close();
  }
});

test('reply codes: three digits, then a space or the end', () => {
  assert.equal(smtpCode('220 ok'), 220);
  assert.equal(smtpCode('220'), 220);
  assert.equal(smtpCode('220-more'), undefined);
  assert.equal(smtpCode('22 ok'), undefined);
  assert.equal(smtpCode(' 220 ok'), undefined);
});

test('2,000 attempts against a hostile responder leave no handle behind', async () => {
  let n = 0;
  const mute = new WeakSet<Socket>();
  const hostile: Script = {
    greet: (s) => {
      const mode = n++ % 5;
      if (mode === 0) return; // silent
      if (mode === 1) return void s.resetAndDestroy();
      if (mode === 2) return void s.write('421 busy\r\n');
      if (mode === 3) {
        mute.add(s); // greets, then never answers HELO
        return void s.write('220 ok\r\n');
      }
      healthy.greet?.(s);
    },
    onLine: (line, s) => void (mute.has(s) || healthy.onLine?.(line, s)),
  };
  const server = await responder(hostile);
  try {
    await settle();
    const before = handles();
    const outcomes = new Map<string, number>();
    for (let batch = 0; batch < 20; batch++) {
      const results = await Promise.all(Array.from({ length: 100 }, () => smtpProbe(check(server.port, { timeoutMs: 300 }))));
      for (const r of results) outcomes.set(summary(r), (outcomes.get(summary(r)) ?? 0) + 1);
    }
    await server.close(); // the server's own sockets out of the count
    await settle();
    const after = handles();
    delete before.TCPServerWrap;
    assert.deepEqual(after, before, 'sockets and timers back to the baseline');
    assert.ok((outcomes.get('pass') ?? 0) > 0 && (outcomes.get('no reply to HELO within 300 ms') ?? 0) > 0, JSON.stringify([...outcomes]));
  } finally {
    await server.close().catch(() => {});
  }
});
