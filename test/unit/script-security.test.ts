// keepalived's script security on real files: default user, PATH search, realpath and the name
// kept, execute bits, unsafe owners and modes along the path, sticky directories, shell fallback.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, chownSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkScript, defaultScriptUser, invocation, isExecutable, pathProblem, prepareScript, scriptUser, securityViolation } from '../../src/plugins/script-security.ts';
import { lookupUser } from '../../src/plugins/run.ts';
import { needs } from '../lib/require.ts';

const root = { uid: 0, gid: 0 };
const nobody = lookupUser('nobody');

const dir = mkdtempSync(join(tmpdir(), 'vigil-sec-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, body: string, mode: number): string {
  const p = join(dir, name);
  writeFileSync(p, body);
  chmodSync(p, mode);
  return p;
}

const fakeUsers: Record<string, { uid: number; gid: number }> = { keepalived_script: { uid: 990, gid: 990 }, alice: { uid: 1000, gid: 1000 } };
const lookup = (u: string, g?: string): { uid: number; gid: number } | undefined => {
  const ids = fakeUsers[u];
  if (!ids) return undefined;
  if (g === undefined) return ids;
  return g === 'wheel' ? { uid: ids.uid, gid: 10 } : undefined;
};

test('default user: script_user, else keepalived_script, else the daemon (warned) unless enable_script_security', () => {
  assert.deepEqual(defaultScriptUser('alice wheel', false, lookup), { ok: true, who: { user: 'alice', group: 'wheel', uid: 1000, gid: 10 } });
  assert.equal(defaultScriptUser('mallory', false, lookup).ok, false);
  assert.deepEqual(defaultScriptUser(undefined, true, lookup), { ok: true, who: { user: 'keepalived_script', uid: 990, gid: 990 } });
  const none = (): undefined => undefined;
  const daemon = defaultScriptUser(undefined, false, none);
  assert.ok(daemon.ok && daemon.who.user === undefined && daemon.who.uid === (process.geteuid?.() ?? 0) && daemon.warning?.includes('keepalived_script does not exist'));
  const strict = defaultScriptUser(undefined, true, none);
  assert.ok(!strict.ok && strict.error.includes('enable_script_security'));
  // a script's own user wins over the default, and must exist
  assert.deepEqual(scriptUser({ user: 'alice' }, daemon, lookup), { ok: true, who: { user: 'alice', uid: 1000, gid: 1000 } });
  assert.equal(scriptUser({ user: 'mallory' }, daemon, lookup).ok, false);
  assert.equal(scriptUser({}, strict, lookup), strict);
});

test('isExecutable: root needs any x bit, others the bits of their class', () => {
  const st = (mode: number, uid = 0, gid = 0): { mode: number; uid: number; gid: number } => ({ mode, uid, gid });
  assert.equal(isExecutable(st(0o001), 0, 0), true);
  assert.equal(isExecutable(st(0o644), 0, 0), false);
  assert.equal(isExecutable(st(0o700, 1000), 1000, 1000), true);
  assert.equal(isExecutable(st(0o070, 1000, 1000), 1000, 1000), false); // the owner class decides
  assert.equal(isExecutable(st(0o710, 0, 10), 1000, 10), true);
  assert.equal(isExecutable(st(0o701, 0, 10), 1000, 10), false); // the group class decides
  assert.equal(isExecutable(st(0o701, 0, 10), 1000, 20), true);
});

test('a root-owned 0755 script in a root-owned 0700 dir under sticky /tmp is safe', { ...needs('root') }, () => {
  const p = file('ok.sh', '#!/bin/sh\n', 0o755);
  const c = checkScript([p, 'arg'], root, true);
  assert.deepEqual(c, { ok: true, argv: [p, 'arg'], shell: false, insecure: false, warnings: [] });
  assert.equal(pathProblem(p), undefined);
});

test('writable by group or others, or owned by a non-root user: unsafe; disabled under enable_script_security', { ...needs('root', 'user:nobody') }, () => {
  const ww = file('ww.sh', '#!/bin/sh\n', 0o757);
  const gw = file('gw.sh', '#!/bin/sh\n', 0o775); // group root: writable by root's group is fine
  const owned = file('owned.sh', '#!/bin/sh\n', 0o755);
  chownSync(owned, nobody?.uid ?? 65534, 0);
  const gwOther = file('gwother.sh', '#!/bin/sh\n', 0o775);
  chownSync(gwOther, 0, nobody?.gid ?? 65534);

  for (const p of [ww, owned, gwOther]) {
    const lax = checkScript([p], root, false);
    assert.ok(lax.ok && lax.insecure && lax.warnings.some((w) => w.startsWith('unsafe permissions')), `${p}: ${JSON.stringify(lax)}`);
    const strict = checkScript([p], root, true);
    assert.ok(!strict.ok && strict.insecure && strict.error?.includes('disabling'), `${p}: ${JSON.stringify(strict)}`);
  }
  assert.equal(checkScript([gw], root, true).ok, true);
  // run as another user, nothing needs protecting: an unsafe path is not even looked at
  const asNobody = checkScript([ww], nobody ?? root, true);
  assert.ok(asNobody.ok && !asNobody.insecure);
});

test('a writable directory on the path is unsafe; a sticky one is not', { ...needs('root') }, () => {
  const open = join(dir, 'open');
  mkdirSync(open);
  chmodSync(open, 0o777);
  const p = join(open, 's.sh');
  writeFileSync(p, '#!/bin/sh\n');
  chmodSync(p, 0o755);
  assert.match(pathProblem(p)?.message ?? '', new RegExp(`${open} is writable by non-root`));
  assert.equal(checkScript([p], root, true).ok, false);
  chmodSync(open, 0o1777);
  assert.equal(pathProblem(p), undefined);
  assert.equal(checkScript([p], root, true).ok, true);
});

test('not found, not executable, or not a file: disabled whatever the security setting', () => {
  const missing = checkScript([join(dir, 'missing.sh')], root, false);
  assert.ok(!missing.ok && missing.error?.includes('cannot be accessed'));
  const noX = file('nox.sh', '#!/bin/sh\n', 0o644);
  const r = checkScript([noX], root, false);
  assert.ok(!r.ok && r.error?.includes('not executable'));
  assert.equal(checkScript([dir], root, false).ok, false);
  assert.equal(checkScript([], root, false).ok, false);
});

test('a bare name is found in PATH (with a warning); a missing one is disabled', () => {
  const bin = join(dir, 'bin');
  mkdirSync(bin, { recursive: true });
  const p = join(bin, 'mycheck');
  writeFileSync(p, '#!/bin/sh\n');
  chmodSync(p, 0o755);
  const found = checkScript(['mycheck', 'x'], root, false, `/nonexistent:${bin}`);
  assert.ok(found.ok);
  assert.deepEqual(found.argv, [p, 'x']);
  assert.ok(found.warnings.some((w) => w.includes('resolved by path search')));
  const notFound = checkScript(['no-such-check'], root, false, bin);
  assert.ok(!notFound.ok && notFound.error?.includes('cannot find script no-such-check in path'));
});

test('symlinks: the resolved directory is used, the name given is kept, the target is checked too', { ...needs('root') }, () => {
  const target = file('real-target.sh', '#!/bin/sh\n', 0o755);
  const link = join(dir, 'link-dir');
  mkdirSync(link, { recursive: true });
  const alias = join(link, 'alias.sh');
  symlinkSync(target, alias);
  // the alias name is not present in the target's directory: the real path runs
  const c = checkScript([alias], root, true);
  assert.ok(c.ok);
  assert.equal(c.argv[0], target);
  // a same-named link in the target's directory keeps its name (programs may look at argv[0])
  const named = join(dir, 'busy');
  symlinkSync(target, named);
  const viaOther = join(link, 'busy');
  symlinkSync(named, viaOther);
  const d = checkScript([viaOther], root, true);
  assert.ok(d.ok);
  assert.equal(d.argv[0], named);
  // an unsafe target behind a safe-looking name is caught
  chmodSync(target, 0o777);
  assert.equal(checkScript([viaOther], root, true).ok, false);
  chmodSync(target, 0o755);
});

test('no #! and no ELF header: run by /bin/sh; a </path test goes to the shell unchecked', () => {
  const plain = file('plain.sh', 'exit 0\n', 0o755);
  const c = checkScript([plain, "it's"], root, false);
  assert.ok(c.ok && c.shell && c.warnings.some((w) => w.includes('#!')));
  const p = prepareScript(`${plain} "it's"`, {}, { ok: true, who: root }, false);
  assert.ok(p.ok);
  assert.deepEqual(invocation(p, ['X'], 1000), { argv: [`'${plain}' 'it'\\''s' 'X'`], opts: { timeoutMs: 1000, shell: true } });
  const test = checkScript(['</dev/null'], root, true);
  assert.deepEqual(test, { ok: true, argv: ['</dev/null'], shell: true, insecure: false, warnings: [] });
  assert.equal(checkScript(['/bin/true'], root, false).shell, false); // ELF
});

test('prepareScript: parse errors and unknown users refuse the script; the user goes to ctx.run', () => {
  const ok = file('prep.sh', '#!/bin/sh\n', 0o755);
  assert.equal(prepareScript(`${ok} "unterminated`, {}, { ok: true, who: root }, false).ok, false);
  assert.equal(prepareScript('   ', {}, { ok: true, who: root }, false).ok, false);
  const bad = prepareScript(ok, { user: 'mallory' }, { ok: true, who: root }, false, lookup);
  assert.ok(!bad.ok && bad.error.includes('mallory'));
  const p = prepareScript(`${ok} a`, {}, { ok: true, who: { user: 'alice', group: 'wheel', uid: 1000, gid: 10 } }, false, lookup);
  assert.ok(p.ok);
  assert.deepEqual(invocation(p, ['B'], 500), { argv: [ok, 'a', 'B'], opts: { timeoutMs: 500, user: 'alice', group: 'wheel' } });
});

test('SECURITY VIOLATION when scripts run without enable_script_security', () => {
  const good = { ok: true, argv: ['/x'], shell: false, insecure: false, warnings: [] };
  assert.equal(securityViolation([good], true), undefined);
  assert.equal(securityViolation([], false), undefined);
  assert.equal(securityViolation([good], false), 'SECURITY VIOLATION - scripts are being executed but enable_script_security is not set.');
  assert.match(securityViolation([good, { ...good, insecure: true }], false) ?? '', /There are insecure scripts\.$/);
});
