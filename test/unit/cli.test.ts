import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

const bin = new URL('../../bin/vigil', import.meta.url).pathname;
const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };

test('vigil -v prints the package version', () => {
  const out = execFileSync(bin, ['-v'], { encoding: 'utf8' });
  assert.equal(out.trim(), `vigil ${pkg.version}`);
});

test('vigil --help lists the config-test flag', () => {
  const out = execFileSync(bin, ['--help'], { encoding: 'utf8' });
  assert.match(out, /-t, --config-test/);
});
