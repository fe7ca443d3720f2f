// keepalived's script line splitting (lib/parser.c alloc_strvec_quoted_escaped), case by case.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { shellQuote, splitCommandLine } from '../../src/plugins/command-line.ts';

const argv = (line: string): string[] => {
  const r = splitCommandLine(line);
  assert.ok(r.ok, `expected '${line}' to parse: ${r.ok ? '' : r.error}`);
  return r.argv;
};

test('words split on any run of keepalived white space', () => {
  assert.deepEqual(argv('/usr/bin/check   a\tb\f\vc\r\nd'), ['/usr/bin/check', 'a', 'b', 'c', 'd']);
  assert.deepEqual(argv('   '), []);
  assert.deepEqual(argv(''), []);
  assert.deepEqual(argv('  /bin/true  '), ['/bin/true']);
});

test('quotes group words, may open and close mid-word, and may be empty', () => {
  assert.deepEqual(argv(`/x "a b" 'c d'`), ['/x', 'a b', 'c d']);
  // the keepalived.conf(5) example: 'abcd" efg h jkl "mnop' is one string
  assert.deepEqual(argv('abcd" efg h jkl "mnop'), ['abcd efg h jkl mnop']);
  assert.deepEqual(argv(`/x "" '' z`), ['/x', '', '', 'z']);
  assert.deepEqual(argv(`/x "it's" 'say "hi"'`), ['/x', "it's", 'say "hi"']);
});

test('no shell: metacharacters are plain argument text', () => {
  assert.deepEqual(argv('/bin/echo $HOME | wc > /tmp/x; rm -rf / &'), ['/bin/echo', '$HOME', '|', 'wc', '>', '/tmp/x;', 'rm', '-rf', '/', '&']);
});

test('backslash escapes work inside single and double quotes alike (unlike sh)', () => {
  assert.deepEqual(argv(String.raw`/x a\ b 'c\nd' "e\tf" \"g\' \\h`), ['/x', 'a b', 'c\nd', 'e\tf', `"g'`, '\\h']);
  assert.deepEqual(argv(String.raw`\a\b\E\f\n\r\t\v`), ['\x07\b\x1b\f\n\r\t\v']);
  assert.deepEqual(argv(String.raw`\q\$\ \#`), ['q$ #']);
});

test('hex, octal and control escapes, one byte wide', () => {
  assert.deepEqual(argv(String.raw`\x41\x6a`), ['Aj']);
  // every following hex digit is consumed, the value kept to one byte: \x414 is 0x14
  assert.deepEqual(argv(String.raw`\x414`), ['\x14']);
  // \x without a hex digit is a plain x
  assert.deepEqual(argv(String.raw`\xg`), ['xg']);
  // up to three octal digits: \1018 is 'A' then '8'; \777 is 0xff
  assert.deepEqual(argv(String.raw`\1018 \7 \777`), ['A8', '\x07', '\xff']);
  // \cX is X & 0x1f; a \c with nothing after it is a plain c
  assert.deepEqual(argv(String.raw`\cA\c[\c`), ['\x01\x1bc']);
});

test('a NUL byte ends the word, as C strings do', () => {
  assert.deepEqual(argv(String.raw`ab\0cd ef\x00gh x`), ['ab', 'ef', 'x']);
});

test('unterminated quotes and a trailing backslash make the line invalid', () => {
  for (const bad of [`/x "abc`, `/x 'abc`, `/x abc\\`, `"a'`]) {
    const r = splitCommandLine(bad);
    assert.equal(r.ok, false, bad);
  }
  const r = splitCommandLine(`/x "abc`);
  assert.ok(!r.ok && r.error.includes('missing terminating "'));
});

test('shellQuote round-trips through a real /bin/sh, and leaves a leading redirection alone', () => {
  const words = ['/bin/printf', '%s|', 'a b', "it's", '$HOME', '`id`', ''];
  const out = execFileSync('/bin/sh', ['-c', shellQuote(words)], { encoding: 'utf8' });
  assert.equal(out, `a b|it's|$HOME|\`id\`||`);
  assert.equal(shellQuote(['</etc/hostname']), '</etc/hostname');
  assert.equal(shellQuote(['/x', '<y']), `'/x' '<y'`);
});
