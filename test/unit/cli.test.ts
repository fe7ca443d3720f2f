import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
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

test('a usage error prints one line and where the manual is, exit 2', () => {
  for (const [args, first] of [
    [['--bogus'], "vigil: Unknown option '--bogus'"],
    [['frobnicate'], "vigil: unknown command 'frobnicate'"],
  ] as const) {
    const r = spawnSync(bin, [...args], { encoding: 'utf8' });
    assert.equal(r.status, 2);
    assert.equal(r.stderr, `${first}\nsee vigil --help\n`);
  }
});

test('vigil -t on a file that cannot be read says so, not "invalid YAML"', () => {
  const r = spawnSync(bin, ['-t', '-f', '/nonexistent/vigil-test.conf'], { encoding: 'utf8' });
  assert.equal(r.status, 1);
  assert.match(r.stderr, /ENOENT/);
  assert.match(r.stderr, /^\/nonexistent\/vigil-test\.conf: the configuration file cannot be read; nothing was checked$/m);
  assert.doesNotMatch(r.stderr, /YAML/);
});
