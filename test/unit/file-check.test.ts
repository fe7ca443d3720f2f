// FILE_CHECK against a real file: in-place writes, a file replaced by rename, deletion, weight 0,
// reverse, and the floor that takes a real server down; only changes of the verdict are reported.
import { strict as assert } from 'node:assert';
import { mkdtempSync, renameSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import type { FileCheck } from '../../src/lvs/checks.ts';
import { fileVerdict, watchFileCheck, type FileVerdict } from '../../src/lvs/file-check.ts';

const fileCheck = (path: string, weight: number, reverse = false): FileCheck => ({ kind: 'file', name: 'FILE_CHECK chk', trackFile: 'chk', path, weight, reverse });

test('the verdict of a value: weight 0 is up only at 0; otherwise a share, down at -2^31 or below', () => {
  const c = (w: number, r = false) => fileCheck('/x', w, r);
  assert.deepEqual(fileVerdict(c(0), 0), { up: true, share: 0 });
  assert.deepEqual(fileVerdict(c(0), 3), { up: false, share: 0 });
  assert.deepEqual(fileVerdict(c(2), 5), { up: true, share: 10 });
  assert.deepEqual(fileVerdict(c(2, true), 5), { up: true, share: -10 });
  assert.deepEqual(fileVerdict(c(1, true), 0), { up: true, share: 0 });
  assert.deepEqual(fileVerdict(c(1), -(2 ** 31)), { up: false, share: 0 });
  assert.deepEqual(fileVerdict(c(-1), 2 ** 31), { up: false, share: 0 }, 'a negative weight reaches the floor too');
  assert.deepEqual(fileVerdict(c(1), 2 ** 31), { up: true, share: 2 ** 31 - 1 }, 'held in an int: at most INT_MAX');
  // weight 0 with reverse: the other way round (track_file.c update_track_file_status)
  assert.deepEqual(fileVerdict(c(0, true), 0), { up: false, share: 0 });
  assert.deepEqual(fileVerdict(c(0, true), 7), { up: true, share: 0 });
});

test('writes, a replace by rename and a delete are seen; each change of the verdict is reported once', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'vigil-filecheck-'));
  const path = join(dir, 'weight');
  writeFileSync(path, '3\n');
  const seen: FileVerdict[] = [];
  const w = watchFileCheck(fileCheck(path, 2), (v) => seen.push(v));
  const until = async (n: number) => {
    for (let i = 0; i < 100 && seen.length < n; i++) await new Promise((r) => setTimeout(r, 20));
    assert.equal(seen.length, n, JSON.stringify(seen));
  };
  try {
    assert.deepEqual(w.current(), { up: true, share: 6 });
    writeFileSync(path, '5\n');
    await until(1);
    assert.deepEqual({ up: seen[0]?.up, share: seen[0]?.share }, { up: true, share: 10 });
    assert.match(seen[0]?.reason ?? '', /FILE_CHECK chk: .*value 5 x weight 2 = 10/);
    writeFileSync(path, '5\n'); // same value: nothing
    const tmp = join(dir, 'weight.tmp');
    writeFileSync(tmp, '0x10');
    renameSync(tmp, path);
    await until(2);
    assert.equal(seen[1]?.share, 32);
    unlinkSync(path);
    await until(3);
    assert.deepEqual({ up: seen[2]?.up, share: seen[2]?.share }, { up: true, share: 0 });
  } finally {
    w.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('weight 0: a non-zero value takes it down, 0 brings it back', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'vigil-filecheck-'));
  const path = join(dir, 'down');
  const seen: boolean[] = [];
  const w = watchFileCheck(fileCheck(path, 0), (v) => seen.push(v.up));
  try {
    assert.deepEqual(w.current(), { up: true, share: 0 }, 'a missing file reads 0');
    writeFileSync(path, '1');
    for (let i = 0; i < 100 && seen.length < 1; i++) await new Promise((r) => setTimeout(r, 20));
    writeFileSync(path, '0');
    for (let i = 0; i < 100 && seen.length < 2; i++) await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual(seen, [false, true]);
  } finally {
    w.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('reverse on a real file: the share is negated, and a large value takes the server down and back', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'vigil-filecheck-'));
  const path = join(dir, 'load');
  writeFileSync(path, '4');
  const seen: FileVerdict[] = [];
  const w = watchFileCheck(fileCheck(path, 3, true), (v) => seen.push(v));
  const until = async (n: number) => {
    for (let i = 0; i < 100 && seen.length < n; i++) await new Promise((r) => setTimeout(r, 20));
    assert.equal(seen.length, n, JSON.stringify(seen));
  };
  try {
    assert.deepEqual(w.current(), { up: true, share: -12 });
    // 3 x 715827883 = 2147483649 >= 2^31: negated, at or below the floor
    writeFileSync(path, '715827883');
    await until(1);
    assert.deepEqual({ up: seen[0]?.up, share: seen[0]?.share }, { up: false, share: 0 });
    assert.match(seen[0]?.reason ?? '', /reversed.*, down$/);
    assert.deepEqual(w.current(), { up: false, share: 0 });
    writeFileSync(path, '-2');
    await until(2);
    assert.deepEqual({ up: seen[1]?.up, share: seen[1]?.share }, { up: true, share: 6 });
  } finally {
    w.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('stop() ends the watch: later writes are not reported', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'vigil-filecheck-'));
  const path = join(dir, 'v');
  const seen: FileVerdict[] = [];
  const w = watchFileCheck(fileCheck(path, 1), (v) => seen.push(v));
  try {
    w.stop();
    writeFileSync(path, '9');
    await new Promise((r) => setTimeout(r, 300));
    assert.deepEqual(seen, []);
    assert.deepEqual(w.current(), { up: true, share: 0 });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
