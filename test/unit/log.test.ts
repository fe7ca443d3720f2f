// The daemon's log: pino JSON lines by default, keepalived-like text with -l (the shape users'
// alerts and the netns tests match), debug only with -D, and secrets never written: by field
// name at any depth, and by value anywhere in the line once the config's secrets are known.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { configSecrets, createLogger } from '../../src/daemon/log.ts';

// a fixed local time for the console timestamp
const NOW = new Date(2026, 10, 30, 14, 30, 8);
const TS = 'Mon Nov 30 14:30:08 2026: ';

const capture = (console: boolean, detail = false) => {
  const lines: string[] = [];
  return { lines, log: createLogger({ detail, console, write: (l) => lines.push(l), now: () => NOW }) };
};

test('JSON lines: level label, ISO time, pid, msg, and the fields', () => {
  const { lines, log } = capture(false);
  log.info('(VI_1) Entering MASTER STATE', { from: 'backup', reason: 'preempted', priority: 200 });
  assert.equal(lines.length, 1);
  const rec = JSON.parse(lines[0] ?? '') as Record<string, unknown>;
  assert.equal(rec.level, 'info');
  assert.equal(rec.pid, process.pid);
  assert.equal(rec.msg, '(VI_1) Entering MASTER STATE');
  assert.match(String(rec.time), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  assert.deepEqual([rec.from, rec.reason, rec.priority], ['backup', 'preempted', 200]);
});

test('console lines keep the keepalived-like shape, after keepalived\'s console timestamp', () => {
  const { lines, log } = capture(true);
  log.info('(VI_1) Entering MASTER STATE', { from: 'backup', reason: 'master-down-timer', priority: 100, detail: '192.0.2.11' });
  log.warn('plain');
  log.error('nested', { a: { b: 1 } });
  assert.deepEqual(lines, [
    `${TS}vigil[${process.pid}] info: (VI_1) Entering MASTER STATE from=backup reason=master-down-timer priority=100 detail=192.0.2.11`,
    `${TS}vigil[${process.pid}] warn: plain`,
    `${TS}vigil[${process.pid}] error: nested a={"b":1}`,
  ]);
});

test('debug lines only with detail (-D)', () => {
  const off = capture(true);
  off.log.debug('quiet');
  assert.deepEqual(off.lines, []);
  const on = capture(true, true);
  on.log.debug('loud', { n: 1 });
  assert.deepEqual(on.lines, [`${TS}vigil[${process.pid}] debug: loud n=1`]);
});

test('fields named like secrets are redacted at any depth, in both shapes', () => {
  for (const console of [false, true]) {
    const { lines, log } = capture(console);
    log.warn('request', {
      auth_pass: 'p1', password: 'p2', token: 't1',
      headers: { authorization: 'Bearer t2', Authorization: 'Bearer t3', cookie: 'c' },
      req: { headers: { authorization: 'Bearer t4' } },
      deep: { a: { secret: 's1', b: { secret_access_key: 's2' } } },
      fine: 'visible',
    });
    const line = lines.join('\n');
    for (const s of ['p1', 'p2', 't1', 't2', 't3', 't4', 's1', 's2', '"c"', '=c ']) assert.ok(!line.includes(s), `${s} leaked: ${line}`);
    assert.match(line, /visible/);
    assert.match(line, /\[REDACTED\]/);
  }
});

test('configured secrets are masked wherever they appear, message text included', () => {
  const config = {
    vrrp_instance: { VI_1: { authentication: { auth_type: 'PASS', auth_pass: 'hunter22' } } },
    control: { http: { listen: '127.0.0.1:9650', token: 'tok-abcdef' } },
    plugins: {
      webhook: { targets: [{ url: 'https://example.com/h', secret: 'we"bhook\\key', headers: { Authorization: 'Bearer zzz-123' } }] },
      'aws-vip': { credentials: { access_key_id: 'AKIAEXAMPLE', secret_access_key: 'aws-secret', session_token: 'aws-session' } },
    },
  };
  const secrets = configSecrets(config);
  assert.deepEqual(new Set(secrets), new Set(['hunter22', 'tok-abcdef', 'we"bhook\\key', 'Bearer zzz-123', 'aws-secret', 'aws-session']));
  for (const console of [false, true]) {
    const { lines, log } = capture(console);
    log.setSecrets(secrets);
    log.error('auth hunter22 failed; token tok-abcdef; sig we"bhook\\key; Bearer zzz-123; aws-secret', { detail: 'aws-session', note: 'hunter22!' });
    const line = lines.join('\n');
    for (const s of ['hunter22', 'tok-abcdef', 'bhook', 'zzz-123', 'aws-secret', 'aws-session']) assert.ok(!line.includes(s), `${s} leaked: ${line}`);
    if (!console) assert.doesNotThrow(() => JSON.parse(line), 'still valid JSON');
    // replaced on reload: the old secret is no longer special
    log.setSecrets(['newsecret']);
    log.info('hunter22 newsecret');
    assert.match(lines.at(-1) ?? '', /hunter22 \[REDACTED\]/);
  }
});

test('very short secrets are not masked (they would garble every line)', () => {
  const { lines, log } = capture(true);
  log.setSecrets(['1', 'ab']);
  log.info('priority 1 ab');
  assert.match(lines[0] ?? '', /priority 1 ab$/);
});
