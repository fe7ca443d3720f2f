// Pid files written by root never write through a planted symbolic or hard link, nor into a
// file someone else owns; a fresh or stale one of ours is (re)written. Real files under /tmp;
// needs root (the foreign file is chowned to nobody).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chownSync, linkSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { writePidFile } from '../../src/daemon/pid-file.ts';

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
