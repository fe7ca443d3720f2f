// The command runner plugins use: no shell unless asked, a result instead of exceptions, and a
// timeout or abort that kills the command's whole process group (a shell script's children
// included), so a hung script cannot hold its caller past the timeout.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { lookupUser, runCommand } from '../../src/plugins/run.ts';
import { needs } from '../lib/require.ts';

function script(body: (dir: string) => string): { path: string; dir: string } {
  const dir = mkdtempSync(join(tmpdir(), 'vigil-run-'));
  const path = join(dir, 's.sh');
  writeFileSync(path, `#!/bin/sh\n${body(dir)}\n`);
  chmodSync(path, 0o755);
  return { path, dir };
}

/** Running, not merely a zombie waiting for whoever reaps orphans here. */
const alive = (pid: number) => {
  try {
    return !/^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, 'utf8'));
  } catch {
    return false;
  }
};

test('arguments reach the program as given, with no shell in between', async () => {
  const r = await runCommand(['/bin/echo', 'a b', '$HOME', '; rm -rf /']);
  assert.equal(r.ok, true);
  assert.equal(r.stdout, 'a b $HOME ; rm -rf /');
  const sh = await runCommand(['echo', '$((1+2))'], { shell: true });
  assert.equal(sh.stdout, '3');
});

test('failures are results: exit code, not found', async () => {
  const r = await runCommand(['/bin/sh', '-c', 'echo oops >&2; exit 3']);
  assert.deepEqual([r.ok, r.exitCode, r.stderr, r.timedOut], [false, 3, 'oops', false]);
  const nf = await runCommand(['/nonexistent/program']);
  assert.equal(nf.ok, false);
  assert.equal(nf.failedToStart, true);
  const nu = await runCommand(['/bin/true'], { user: 'no-such-user-vigil' });
  assert.equal(nu.failedToStart, true);
  assert.match(nu.stderr, /unknown user/);
});

test('a timeout kills the whole process group, children included, and returns at once', async () => {
  const { path, dir } = script((d) => `sleep 30 &\necho $! > ${d}/child\nwait`);
  try {
    const t0 = performance.now();
    const r = await runCommand([path], { timeoutMs: 300 });
    const took = performance.now() - t0;
    assert.equal(r.timedOut, true);
    assert.equal(r.ok, false);
    assert.ok(took < 2500, `returned after ${took.toFixed(0)} ms, not after the child's 30 s`);
    const child = Number(readFileSync(join(dir, 'child'), 'utf8'));
    await new Promise((res) => setTimeout(res, 100));
    assert.equal(alive(child), false, 'the background child was killed with its group');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('aborting kills the command', async () => {
  const ac = new AbortController();
  setTimeout(() => ac.abort(), 200);
  const r = await runCommand(['/bin/sleep', '30'], { signal: ac.signal, timeoutMs: 60_000 });
  assert.equal(r.ok, false);
  assert.equal(r.signal, 'SIGTERM');
});

test('runs as another user', { ...needs('root', 'user:nobody') }, async () => {
  const ids = lookupUser('nobody');
  const r = await runCommand(['/usr/bin/id', '-u'], { user: 'nobody' });
  assert.equal(r.stdout, String(ids?.uid));
});
