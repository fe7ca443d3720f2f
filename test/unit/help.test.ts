// vigil --help is the manual: every flag main.ts accepts is in it (the internal --engine-child
// excepted), with its short form, and every subcommand.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

const bin = new URL('../../bin/vigil', import.meta.url).pathname;
const source = readFileSync(new URL('../../src/cli/main.ts', import.meta.url), 'utf8');

test('--help documents every option and subcommand', () => {
  const help = execFileSync(bin, ['--help'], { encoding: 'utf8' });
  const options = [...source.matchAll(/^\s+'?([\w-]+)'?: \{ type: '(?:string|boolean)'(?:, short: '(\w)')?/gm)];
  assert.ok(options.length >= 14, `options found in main.ts: ${options.length}`);
  for (const [, long, short] of options) {
    if (long === 'engine-child') continue;
    const flag = short ? `-${short}, --${long}` : `--${long}`;
    assert.ok(help.includes(flag), `${flag} missing from --help`);
  }
  for (const cmd of ['status', 'events', 'reload', 'convert', 'schema']) assert.match(help, new RegExp(`^  vigil ${cmd}\\b`, 'm'));
  for (const section of ['SYNOPSIS', 'OPTIONS', 'SUPERVISION', 'SIGNALS', 'ENVIRONMENT', 'EXIT STATUS']) assert.match(help, new RegExp(`^${section}`, 'm'));
  assert.doesNotMatch(help, /engine-child/);
});
