// keepalived.conf, first pass: lines to tokens. Handles what keepalived's reader handles before
// it looks at keywords: comments (# and !, outside quotes), double-quoted strings, `include`
// with glob patterns (relative to the including file), `$NAME=value` definitions with `$NAME` /
// `${NAME}` substitution, and `@id` / `@^id` conditional lines (kept when the config id matches,
// or for @^, does not match). Braces are tokens of their own; newlines end statements.

import { readdirSync, readFileSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import type { Diagnostic, Position } from '../diagnostics.ts';

export interface Token extends Position {
  kind: 'word' | 'open' | 'close' | 'eol';
  text: string;
  /** Was the word quoted (so `{` inside quotes is a word, not a brace)? */
  quoted?: boolean;
}

export interface LexOptions {
  /** keepalived's -i config id; defaults to the host name, as keepalived's does. */
  configId: string;
  readFile?: (path: string) => string;
}

const MAX_INCLUDE_DEPTH = 16;

/** Expand a glob with *, ? and [...] in any path segment (Node 20 has no fs.glob). */
export function expandGlob(pattern: string): string[] {
  const abs = resolve(pattern);
  const segments = abs.split('/').filter(Boolean);
  let found = ['/'];
  for (const seg of segments) {
    const next: string[] = [];
    const wild = /[*?[]/.test(seg);
    const re = wild
      ? new RegExp(
          '^' +
            seg.replace(/[.+^${}()|\\]/g, '\\$&').replace(/\*/g, '[^/]*').replace(/\?/g, '[^/]') +
            '$',
        )
      : null;
    for (const dir of found) {
      if (!re) {
        next.push(join(dir, seg));
        continue;
      }
      let names: string[] = [];
      try {
        names = readdirSync(dir);
      } catch {
        continue;
      }
      for (const n of names.sort()) if (!n.startsWith('.') && re.test(n)) next.push(join(dir, n));
    }
    found = next;
  }
  return found;
}

export function lex(file: string, opts: LexOptions): { tokens: Token[]; diagnostics: Diagnostic[] } {
  const tokens: Token[] = [];
  const diagnostics: Diagnostic[] = [];
  const vars = new Map<string, string>();
  const read = opts.readFile ?? ((p: string) => readFileSync(p, 'utf8'));

  const lexFile = (path: string, depth: number, from?: Position) => {
    let text: string;
    try {
      text = read(path);
    } catch (e) {
      const where = from ?? { file: path, line: 1, col: 1 };
      diagnostics.push({ ...where, severity: 'error', field: 'include', message: `cannot read ${path}: ${(e as Error).message}` });
      return;
    }
    const lines = text.split(/\r?\n/);
    lines.forEach((raw, i) => {
      const line = i + 1;
      let body = raw;
      let offset = 0;
      // @id / @^id conditional lines
      const cond = /^\s*@(\^?)(\S+)\s?/.exec(body);
      if (cond) {
        const matches = cond[2] === opts.configId;
        if (cond[1] === '^' ? matches : !matches) return;
        offset = cond[0].length;
        body = body.slice(offset);
      }
      // $NAME=value definitions
      const def = /^\s*\$([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)$/.exec(body);
      if (def?.[1]) {
        vars.set(def[1], def[2]?.trim() ?? '');
        return;
      }
      const words = splitWords(body, { file: path, line, col: offset + 1 }, diagnostics);
      // substitution happens on unquoted words, as keepalived does before parsing
      const expanded: Token[] = [];
      for (const w of words) {
        if (w.kind === 'word' && !w.quoted && w.text.includes('$')) {
          const replaced = w.text.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)/g, (m, a, b) => {
            const name = (a ?? b) as string;
            const v = vars.get(name);
            if (v === undefined) {
              diagnostics.push({ ...w, severity: 'warning', field: `$${name}`, message: 'undefined variable, left as written' });
              return m;
            }
            return v;
          });
          // a variable may hold several words (and braces)
          const sub = splitWords(replaced, w, diagnostics).map((t) => ({ ...t, line: w.line, col: w.col }));
          expanded.push(...sub);
        } else {
          expanded.push(w);
        }
      }
      if (expanded[0]?.kind === 'word' && expanded[0].text === 'include' && !expanded[0].quoted) {
        const pattern = expanded[1]?.text;
        if (!pattern) {
          diagnostics.push({ ...expanded[0], severity: 'error', field: 'include', message: 'include needs a file or pattern' });
          return;
        }
        if (depth >= MAX_INCLUDE_DEPTH) {
          diagnostics.push({ ...expanded[0], severity: 'error', field: 'include', message: `includes nested deeper than ${MAX_INCLUDE_DEPTH}` });
          return;
        }
        const full = isAbsolute(pattern) ? pattern : join(dirname(path), pattern);
        const files = /[*?[]/.test(full) ? expandGlob(full) : [full];
        if (files.length === 0) {
          diagnostics.push({ ...expanded[0], severity: 'warning', field: 'include', message: `no file matches ${pattern}` });
        }
        for (const f of files) lexFile(f, depth + 1, expanded[0]);
        return;
      }
      tokens.push(...expanded);
      tokens.push({ kind: 'eol', text: '', file: path, line, col: raw.length + 1 });
    });
  };

  lexFile(file, 0);
  return { tokens, diagnostics };
}

function splitWords(text: string, at: Position, diagnostics: Diagnostic[]): Token[] {
  const out: Token[] = [];
  let i = 0;
  while (i < text.length) {
    const ch = text[i] as string;
    const col = at.col + i;
    if (ch === ' ' || ch === '\t') {
      i++;
    } else if (ch === '#' || ch === '!') {
      break;
    } else if (ch === '{' || ch === '}') {
      out.push({ kind: ch === '{' ? 'open' : 'close', text: ch, file: at.file, line: at.line, col });
      i++;
    } else if (ch === '"') {
      const end = text.indexOf('"', i + 1);
      if (end < 0) {
        diagnostics.push({ ...at, col, severity: 'error', field: 'syntax', message: 'unterminated quoted string' });
        out.push({ kind: 'word', text: text.slice(i + 1), quoted: true, file: at.file, line: at.line, col });
        break;
      }
      out.push({ kind: 'word', text: text.slice(i + 1, end), quoted: true, file: at.file, line: at.line, col });
      i = end + 1;
    } else {
      let j = i;
      while (j < text.length && !' \t{}"#!'.includes(text[j] as string)) {
        // ${NAME} belongs to the word: its braces are not a block
        if (text[j] === '$' && text[j + 1] === '{' && text.indexOf('}', j) > j) j = text.indexOf('}', j);
        j++;
      }
      out.push({ kind: 'word', text: text.slice(i, j), file: at.file, line: at.line, col });
      i = j;
    }
  }
  return out;
}
