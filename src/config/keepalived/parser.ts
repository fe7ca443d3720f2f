// keepalived.conf, second pass: tokens to a tree of statements. A statement is the words of a
// line; a `{` (on the same line or the next) opens its block, `}` closes it.

import type { Diagnostic, Position } from '../diagnostics.ts';
import type { Token } from './lexer.ts';

export interface Statement extends Position {
  keyword: string;
  args: Array<{ text: string; col: number }>;
  block?: Statement[];
}

export function parse(tokens: Token[]): { statements: Statement[]; diagnostics: Diagnostic[] } {
  const diagnostics: Diagnostic[] = [];
  let i = 0;

  const parseBlock = (opener: Token | null): Statement[] => {
    const out: Statement[] = [];
    let words: Token[] = [];
    const flush = () => {
      const [first, ...rest] = words;
      if (first) out.push({ keyword: first.text, args: rest.map((w) => ({ text: w.text, col: w.col })), file: first.file, line: first.line, col: first.col });
      words = [];
    };
    while (i < tokens.length) {
      const t = tokens[i++] as Token;
      if (t.kind === 'word') words.push(t);
      else if (t.kind === 'eol') flush();
      else if (t.kind === 'open') {
        flush();
        const owner = out.at(-1);
        const block = parseBlock(t);
        if (!owner || owner.block) {
          diagnostics.push({ ...t, severity: 'error', field: 'syntax', message: "'{' without a keyword before it" });
        } else owner.block = block;
      } else {
        flush();
        if (!opener) diagnostics.push({ ...t, severity: 'error', field: 'syntax', message: "'}' without a matching '{'" });
        else return out;
      }
    }
    flush();
    if (opener) diagnostics.push({ ...opener, severity: 'error', field: 'syntax', message: "'{' is never closed" });
    return out;
  };

  return { statements: parseBlock(null), diagnostics };
}
