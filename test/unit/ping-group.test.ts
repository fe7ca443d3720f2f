// ping_group_range is widened to take in our group, kept when it already does, and a failure
// to write it is reported, not thrown.
import { strict as assert } from 'node:assert';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { allowPingSockets } from '../../src/lvs/ping-group.ts';

test('the kernel default "1 0" becomes "0 0"; a range that includes us is left alone; errors are words', () => {
  const dir = mkdtempSync(join(tmpdir(), 'vigil-pinggroup-'));
  try {
    const file = join(dir, 'ping_group_range');
    writeFileSync(file, '1\t0\n');
    assert.match(allowPingSockets(file, 0).changed ?? '', /'1 0' -> '0 0'/);
    assert.equal(readFileSync(file, 'utf8'), '0 0');
    writeFileSync(file, '0\t2147483647\n');
    assert.deepEqual(allowPingSockets(file, 0), {});
    writeFileSync(file, '100 200');
    allowPingSockets(file, 1000);
    assert.equal(readFileSync(file, 'utf8'), '100 1000');
    assert.match(allowPingSockets(join(dir, 'missing', 'x'), 0).error ?? '', /ping_group_range/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
