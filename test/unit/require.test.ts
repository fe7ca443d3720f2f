// test/lib/require.ts: a test's requirements skip it on a laptop and fail it under CI. The words
// on made-up machines, then node:test itself on a file whose test needs a tool no machine has:
// skipped and exit 0 without CI, failed (body not run, the tool named) and exit 1 with CI=true
// (test/lib/fixtures/needs-a-missing-tool.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { haveOn, isCi, missing, needsOn, onPath, type Machine } from '../lib/require.ts';

const machine = (o: Partial<Machine> = {}): Machine => ({
  ci: false,
  root: true,
  hasUser: () => true,
  hasFile: () => true,
  hasCommand: () => true,
  ...o,
});

test('a machine that has everything: no options, the test runs', () => {
  assert.deepEqual(needsOn(machine(), ['root', 'user:nobody', '/usr/bin/chromium', 'nft']), {});
  assert.deepEqual(needsOn(machine({ ci: true }), ['root', 'nft']), {});
  assert.deepEqual(needsOn(machine({ root: false }), []), {});
});

test('what is missing, in words, in the order asked', () => {
  const m = machine({ root: false, hasUser: (u) => u !== 'nobody', hasFile: (f) => f !== '/usr/lib/x.so', hasCommand: (c) => c !== 'python3' });
  assert.deepEqual(missing(['python3', 'root', 'user:nobody', 'user:root', '/usr/lib/x.so', '/bin/sh', 'ip'], m), ['python3 on PATH', 'root', 'the user nobody', '/usr/lib/x.so']);
});

test('without CI: a skip naming what is missing', () => {
  const o = needsOn(machine({ root: false, hasCommand: (c) => c !== 'tcpdump' }), ['root', 'tcpdump', 'ip']);
  assert.equal(o.signal, undefined);
  assert.equal(o.skip, 'needs root, tcpdump on PATH (CI runs the tests as root after scripts/install-test-deps.sh)');
});

test('under CI: no skip, an aborted signal whose reason names what is missing', () => {
  const o = needsOn(machine({ ci: true, root: false }), ['root', 'nft']);
  assert.equal(o.skip, undefined);
  assert.ok(o.signal?.aborted);
  const reason: unknown = o.signal?.reason;
  assert.ok(reason instanceof Error);
  assert.match(reason.message, /^CI is set and this test needs root: /);
});

test('have: true with everything; without CI false when something is missing; under CI it throws, naming it', () => {
  assert.equal(haveOn(machine(), ['keepalived']), true);
  assert.equal(haveOn(machine({ hasCommand: () => false }), ['keepalived']), false);
  assert.throws(() => haveOn(machine({ ci: true, hasCommand: () => false }), ['keepalived']), /^Error: CI is set and this test needs keepalived on PATH: /);
});

test('CI as the services set it: true and 1 count, false, 0 and unset do not', () => {
  for (const v of ['true', 'TRUE', '1', 'yes']) assert.equal(isCi({ CI: v }), true, v);
  for (const v of [undefined, '', 'false', 'False', '0']) assert.equal(isCi({ CI: v }), false, String(v));
});

test('a command is on PATH when an executable file of that name is in one of its directories', () => {
  const dir = mkdtempSync(join(tmpdir(), 'vigil-require-'));
  try {
    writeFileSync(join(dir, 'tool-x'), '#!/bin/sh\n', { mode: 0o755 });
    writeFileSync(join(dir, 'not-exec'), '', { mode: 0o644 });
    assert.equal(onPath('tool-x', `/nonexistent::${dir}`), true);
    assert.equal(onPath('tool-y', dir), false);
    assert.equal(onPath('tool-x', ''), false);
    // X_OK wants an x bit even for root, as execvp does
    assert.equal(onPath('not-exec', dir), false);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('node:test itself: skipped and exit 0 without CI; failed, body not run, exit 1 with CI=true', () => {
  const file = fileURLToPath(new URL('../lib/fixtures/needs-a-missing-tool.ts', import.meta.url));
  const run = (ci: string | undefined) => {
    const env: NodeJS.ProcessEnv = { ...process.env, CI: ci };
    if (ci === undefined) delete env.CI;
    // this file's runner marks its children as its workers; this child is a runner of its own
    delete env.NODE_TEST_CONTEXT;
    return spawnSync(process.execPath, ['--import', 'tsx', '--test', '--test-reporter=spec', file], { cwd: fileURLToPath(new URL('../..', import.meta.url)), env, encoding: 'utf8' });
  };
  const laptop = run(undefined);
  assert.equal(laptop.status, 0, laptop.stdout + laptop.stderr);
  assert.match(laptop.stdout, /needs a tool .*# needs vigil-no-such-tool on PATH/);
  assert.match(laptop.stdout, /skipped 1/);
  const ci = run('true');
  assert.equal(ci.status, 1, ci.stdout + ci.stderr);
  assert.match(ci.stdout, /✖ needs a tool/);
  assert.match(ci.stdout, /CI is set and this test needs vigil-no-such-tool on PATH/);
  assert.match(ci.stdout, /✔ needs nothing/);
  assert.doesNotMatch(ci.stdout + laptop.stdout, /BODY RAN/);
});
