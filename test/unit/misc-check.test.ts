// MISC_CHECK against real scripts: exit statuses with and without misc_dynamic, the timeout that
// kills the whole process group, the script user, script security, an abort.
import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { MiscCheck } from '../../src/lvs/checks.ts';
import { miscProbe } from '../../src/lvs/misc-check.ts';

let dir = '';
before(() => {
  assert.equal(process.getuid?.(), 0, 'these tests run scripts as other users: run them as root');
  dir = mkdtempSync(join(tmpdir(), 'vigil-misc-'));
  chmodSync(dir, 0o755);
});
after(() => rmSync(dir, { recursive: true, force: true }));

let n = 0;
function script(body: string): string {
  const p = join(dir, `s${n++}.sh`);
  writeFileSync(p, `#!/bin/sh\n${body}\n`);
  chmodSync(p, 0o755);
  return p;
}

const misc = (command: string, more: Partial<MiscCheck> = {}): MiscCheck => ({
  kind: 'misc', name: `MISC_CHECK ${command}`, command, dynamic: false, scriptSecurity: false,
  timeoutMs: 3000, retry: 0, delayBeforeRetryMs: 1000, delayLoopMs: 1000, warmupMs: 0, alpha: false, ...more,
});

test('without misc_dynamic: 0 passes, anything else fails with its status', async () => {
  assert.deepEqual(pick(await miscProbe(misc(script('exit 0')))), { ok: true });
  assert.deepEqual(pick(await miscProbe(misc(script('exit 1')))), { ok: false, error: 'exit status 1' });
  assert.deepEqual(pick(await miscProbe(misc(script('exit 7')))), { ok: false, error: 'exit status 7' });
});

test('with misc_dynamic: 0 passes with the configured weight, 1 fails, 2..255 pass asking for status - 2', async () => {
  const dyn = { dynamic: true };
  assert.deepEqual(pick(await miscProbe(misc(script('exit 0'), dyn))), { ok: true });
  assert.deepEqual(pick(await miscProbe(misc(script('exit 1'), dyn))), { ok: false, error: 'exit status 1' });
  assert.deepEqual(pick(await miscProbe(misc(script('exit 2'), dyn))), { ok: true, weight: 0 });
  assert.deepEqual(pick(await miscProbe(misc(script('exit 12'), dyn))), { ok: true, weight: 10 });
  assert.deepEqual(pick(await miscProbe(misc(script('exit 255'), dyn))), { ok: true, weight: 253 });
});

test('arguments on the line reach the script; no shell unless the line is one', async () => {
  const out = join(dir, 'args.txt');
  const s = script(`echo "$#:$1:$2" > '${out}'`);
  assert.equal((await miscProbe(misc(`${s} 'two words' x`))).ok, true);
  assert.equal(readFileSync(out, 'utf8').trim(), '2:two words:x');
});

test('a script that outlives misc_timeout fails, and its whole process group dies with it', async () => {
  const pidFile = join(dir, 'grandchild.pid');
  const s = script(`sleep 60 & echo $! > '${pidFile}'; wait`);
  const started = performance.now();
  const r = await miscProbe(misc(s, { timeoutMs: 500 }));
  assert.deepEqual(pick(r), { ok: false, error: 'timed out after 500 ms' });
  assert.ok(performance.now() - started < 5000);
  const pid = Number(readFileSync(pidFile, 'utf8'));
  await new Promise((res) => setTimeout(res, 300));
  assert.equal(existsSync(`/proc/${pid}`) && !readFileSync(`/proc/${pid}/stat`, 'utf8').includes(') Z '), false, 'the grandchild is gone');
});

test('a script that traps SIGTERM gets keepalived\'s 2 s before SIGKILL, and then dies with its group', async () => {
  const termFile = join(dir, 'term.txt');
  const pidFile = join(dir, 'trapper.pid');
  // the trap notes the TERM and carries on: only SIGKILL ends it
  const s = script(`echo $$ > '${pidFile}'; trap 'echo term >> "${termFile}"' TERM; while :; do sleep 0.1; done`);
  const started = performance.now();
  const r = await miscProbe(misc(s, { timeoutMs: 300 }));
  const took = performance.now() - started;
  assert.deepEqual(pick(r), { ok: false, error: 'timed out after 300 ms' });
  assert.match(readFileSync(termFile, 'utf8'), /term/, 'SIGTERM came first');
  // timers never fire early: 300 ms + 2 s is a floor, not a race
  assert.ok(took >= 2250, `SIGKILL came ${Math.round(took)} ms after the start, before the 2 s grace`);
  assert.ok(took < 10_000, `it took ${Math.round(took)} ms`);
  const pid = Number(readFileSync(pidFile, 'utf8'));
  assert.equal(existsSync(`/proc/${pid}`) && !readFileSync(`/proc/${pid}/stat`, 'utf8').includes(') Z '), false, 'the script is gone');
});

test('the script runs as its user; script security refuses an unsafe script; a missing one fails with the reason', async () => {
  const out = join(dir, 'uid.txt');
  writeFileSync(out, '');
  chmodSync(out, 0o666);
  const s = script(`id -u > '${out}'`);
  assert.equal((await miscProbe(misc(s, { user: 'nobody' }))).ok, true);
  assert.equal(readFileSync(out, 'utf8').trim(), execFileSync('id', ['-u', 'nobody'], { encoding: 'utf8' }).trim());
  const unsafe = script('exit 0');
  chmodSync(unsafe, 0o777);
  const refused = await miscProbe(misc(unsafe, { scriptSecurity: true }));
  assert.equal(refused.ok, false);
  assert.match(refused.ok ? '' : refused.error, /cannot run/);
  const missing = await miscProbe(misc(join(dir, 'nope.sh')));
  assert.match(missing.ok ? '' : missing.error, /cannot run/);
});

test('an abort ends a running script at once', async () => {
  const abort = new AbortController();
  setTimeout(() => abort.abort(), 200);
  const started = performance.now();
  const r = await miscProbe(misc(script('sleep 30'), { timeoutMs: 60_000 }), abort.signal);
  assert.deepEqual(pick(r), { ok: false, error: 'aborted' });
  assert.ok(performance.now() - started < 5000);
});

function pick(r: { ok: boolean; weight?: number; error?: string }): Record<string, unknown> {
  return { ok: r.ok, ...(r.weight !== undefined ? { weight: r.weight } : {}), ...(r.error !== undefined ? { error: r.error } : {}) };
}
