// A keepalived script line (`script "/usr/bin/check 'a b'"`, `notify "/etc/notify.sh x"`) split
// into argv the way keepalived 2.2 does it (lib/parser.c, alloc_strvec_quoted_escaped), so a line
// copied from keepalived.conf runs with the very same arguments. keepalived then execs argv
// directly: there is no shell, so `|`, `;`, `$VAR`, `>` are plain characters in an argument.
//
// The rules, which differ from a POSIX shell's in ways users' configs rely on:
// - words are separated by runs of space, \t, \f, \n, \r, \v outside quotes;
// - "..." and '...' quote, and may start or end mid-word (a"b c"d is one word, `ab cd`);
//   an empty pair ('' or "") is an empty argument;
// - a backslash escapes inside single quotes too (unlike sh): \n \t \r \a \b \f \v \E (ESC),
//   \xHH... (every following hex digit), \0 to \777 (up to three octal digits), \cX (X & 0x1f);
//   any other escaped character is itself (\" \' \\ \  \$);
// - an unterminated quote or a trailing lone backslash makes the whole line invalid (keepalived
//   then ignores the script);
// - the value of \x and octal escapes is kept to one byte (keepalived stores a C char), and a
//   NUL byte ends the word (C strings). A byte 0x80..0xff becomes that Unicode code point here,
//   since Node passes arguments as UTF-8: the one place vigil cannot be byte-exact.

export type CommandLine = { ok: true; argv: string[] } | { ok: false; error: string };

const WHITE = ' \t\f\n\r\v';
const SIMPLE_ESCAPES: Record<string, string> = { a: '\x07', b: '\b', E: '\x1b', f: '\f', n: '\n', r: '\r', t: '\t', v: '\v' };

const isHex = (c: string | undefined): c is string => c !== undefined && /^[0-9a-fA-F]$/.test(c);
const isOctal = (c: string | undefined): c is string => c !== undefined && c >= '0' && c <= '7';

export function splitCommandLine(line: string): CommandLine {
  const argv: string[] = [];
  let i = 0;
  while (i < line.length) {
    while (i < line.length && WHITE.includes(line[i] as string)) i++;
    if (i >= line.length) break;
    let word = '';
    let quote: '"' | "'" | '' = '';
    for (;;) {
      const c = line[i];
      if (c === undefined) {
        if (quote) return { ok: false, error: `missing terminating ${quote} in '${line}'` };
        break;
      }
      if (c === '\\') {
        const e = unescape(line, i + 1);
        if (!e) return { ok: false, error: `missing escaped character at the end of '${line}'` };
        word += e.char;
        i = e.next;
        continue;
      }
      if (quote) {
        if (c === quote) quote = '';
        else word += c;
        i++;
        continue;
      }
      if (c === '"' || c === "'") {
        quote = c;
        i++;
        continue;
      }
      if (WHITE.includes(c)) break;
      word += c;
      i++;
    }
    const nul = word.indexOf('\0');
    argv.push(nul >= 0 ? word.slice(0, nul) : word);
  }
  return { ok: true, argv };
}

/** The escape starting at `at` (just after the backslash): its character and where to go on. */
function unescape(line: string, at: number): { char: string; next: number } | undefined {
  const c = line[at];
  if (c === undefined) return undefined;
  if (c === 'x' && isHex(line[at + 1])) {
    let v = 0;
    let j = at + 1;
    while (isHex(line[j])) v = ((v << 4) | parseInt(line[j++] as string, 16)) & 0xff;
    return { char: String.fromCharCode(v), next: j };
  }
  if (c === 'c' && line[at + 1] !== undefined) {
    return { char: String.fromCharCode((line.charCodeAt(at + 1) & 0x1f) & 0xff), next: at + 2 };
  }
  if (isOctal(c)) {
    let v = 0;
    let j = at;
    while (j < at + 3 && isOctal(line[j])) v = (v << 3) + Number(line[j++]);
    return { char: String.fromCharCode(v & 0xff), next: j };
  }
  return { char: SIMPLE_ESCAPES[c] ?? c, next: at + 1 };
}

/** argv as one /bin/sh command line, every word single-quoted: for the few scripts keepalived
 * hands to system() rather than exec (a file without #! or ELF header, a `</path` test). Like
 * keepalived, a first word starting with < or > stays unquoted, so a redirection-only test such
 * as `</dev/tcp/127.0.0.1/80` works; unlike keepalived, a ' inside a word is quoted safely. */
export function shellQuote(argv: readonly string[]): string {
  return argv
    .map((a, i) => (i === 0 && (a.startsWith('<') || a.startsWith('>')) ? a : `'${a.replaceAll("'", `'\\''`)}'`))
    .join(' ');
}
