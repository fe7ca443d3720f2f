// Pid files written by root never write through a planted symbolic or hard link, nor into a
// file someone else owns; a fresh or stale one of ours is (re)written. Real files under /tmp;
// needs root (the foreign file is chowned to nobody).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chownSync, linkSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { claimDefaultPidFile, defaultPidFiles, readPidFile, removePidFile, SYSTEM_CONFIGS, writePidFile } from '../../src/daemon/pid-file.ts';
import { controlSocketPath } from '../../src/control/socket.ts';

const NOBODY = Number(execFileSync('id', ['-u', 'nobody'], { encoding: 'utf8' }).trim());

test('a pid file is written only to a regular file of ours with one name', () => {
  assert.equal(process.getuid?.(), 0, 'this test needs root (it chowns a file to nobody)');
  const dir = mkdtempSync('/tmp/vigil-pidfile-');
  try {
    const victim = join(dir, 'shadow');
    writeFileSync(victim, 'secret\n');

    const fresh = join(dir, 'fresh.pid');
    writePidFile(fresh, 1234);
    assert.equal(readFileSync(fresh, 'utf8'), '1234\n');
    writePidFile(fresh, 56); // a stale one of ours: truncated and rewritten
    assert.equal(readFileSync(fresh, 'utf8'), '56\n');

    symlinkSync(victim, join(dir, 'link.pid'));
    assert.throws(() => writePidFile(join(dir, 'link.pid'), 1), /is a symbolic link; refusing/);
    linkSync(victim, join(dir, 'hard.pid'));
    assert.throws(() => writePidFile(join(dir, 'hard.pid'), 1), /has 2 names .*refusing/);
    const foreign = join(dir, 'foreign.pid');
    writeFileSync(foreign, 'x');
    chownSync(foreign, NOBODY, NOBODY);
    assert.throws(() => writePidFile(foreign, 1), new RegExp(`owned by uid ${NOBODY}`));
    assert.equal(readFileSync(victim, 'utf8'), 'secret\n', 'the victim is untouched');
    assert.equal(readFileSync(foreign, 'utf8'), 'x');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('default pid files: /run/vigil.pid and /run/vigil_vrrp.pid for the host\'s config, NAME-HASH in /run/vigil (the control socket\'s stem) for others', () => {
  for (const f of SYSTEM_CONFIGS) assert.deepEqual(defaultPidFiles(f), { pidFile: '/run/vigil.pid', vrrpPidFile: '/run/vigil_vrrp.pid' });
  const other = defaultPidFiles('/nonexistent/lab/r1.yaml');
  const stem = `r1-${createHash('sha256').update('/nonexistent/lab/r1.yaml').digest('hex').slice(0, 8)}`;
  assert.deepEqual(other, { pidFile: `/run/vigil/${stem}.pid`, vrrpPidFile: `/run/vigil/${stem}_vrrp.pid` });
  assert.equal(controlSocketPath({ file: '/nonexistent/lab/r1.yaml' }), `/run/vigil/${stem}.sock`);
  assert.notEqual(defaultPidFiles('/nonexistent/a/r1.yaml').pidFile, defaultPidFiles('/nonexistent/b/r1.yaml').pidFile);
  // the host's daemon: one socket whichever of the two configs it runs, found with no flag
  for (const f of SYSTEM_CONFIGS) assert.equal(controlSocketPath({ file: f }), '/run/vigil/vigil.sock');
  assert.equal(controlSocketPath({ file: SYSTEM_CONFIGS[0] ?? '', pidFile: '/tmp/x/a.pid' }), '/tmp/x/a.sock', '-p still wins');
});

test('a default pid file another live process holds is left alone; a stale one is taken; removal only of our own', () => {
  const dir = mkdtempSync('/tmp/vigil-pidfile-');
  try {
    const path = join(dir, 'vigil.pid');
    const other = spawn('sleep', ['30']);
    try {
      writeFileSync(path, `${other.pid}\n`);
      const claim = claimDefaultPidFile(path);
      assert.equal(claim.ok, false);
      assert.match(claim.ok ? '' : claim.why, new RegExp(`belongs to running process ${other.pid}`));
      assert.equal(readFileSync(path, 'utf8'), `${other.pid}\n`, 'untouched');
      removePidFile(path);
      assert.equal(readFileSync(path, 'utf8'), `${other.pid}\n`, 'not ours: not removed');
    } finally {
      other.kill();
    }
    // a dead process's file (a crash) is ours to take
    const dead = spawnSync('true').pid ?? 999_999;
    writeFileSync(path, `${dead}\n`);
    assert.deepEqual(claimDefaultPidFile(path), { ok: true });
    assert.equal(readPidFile(path), process.pid);
    removePidFile(path);
    assert.equal(readPidFile(path), undefined);
    // a default that cannot be written is a reason, not an exception
    const r = claimDefaultPidFile(join(dir, 'no/such/dir/x.pid'));
    assert.equal(r.ok, false);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
