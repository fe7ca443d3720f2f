// docs/events.md, generated from the types: src/bus/events.ts (each event's interface, its doc
// comment and its fields') and src/vrrp/fsm.ts (the states and transition reasons). The types
// are the reference, the page follows them: test/unit/events-doc.test.ts fails when the page
// differs from what this prints.
//
//   node --import tsx scripts/gen-events-doc.ts            rewrite docs/events.md
//   node --import tsx scripts/gen-events-doc.ts --stdout   print it

import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
export const EVENTS_DOC = join(ROOT, 'docs', 'events.md');
export const REGENERATE = 'node --import tsx scripts/gen-events-doc.ts';

/** A declaration's doc comment, in one paragraph (Markdown as written). */
function docOf(node: ts.Node, sf: ts.SourceFile): string {
  const ranges = ts.getLeadingCommentRanges(sf.text, node.getFullStart()) ?? [];
  return docText(ranges.map((r) => sf.text.slice(r.pos, r.end)).filter((c) => c.startsWith('/**')).at(-1));
}

function docText(comment: string | undefined): string {
  if (comment === undefined) return '';
  return comment
    .replace(/^\/\*\*|\*\/$/g, '')
    .split('\n')
    .map((l) => l.replace(/^\s*\*?\s?/, '').trim())
    .filter(Boolean)
    .join(' ');
}

/** A field's type for the page: a union of string literals spelt out (`'master' | ...`), short
 * aliases and everything else as written. */
function typeText(node: ts.TypeNode, checker: ts.TypeChecker): string {
  const written = node.getText().replace(/\s+/g, ' ');
  if (/^TransitionReason\b/.test(written)) return `[a transition reason](#transition-reasons)${written.includes("'member'") ? ' or `member`' : ''}`;
  const type = checker.getTypeFromTypeNode(node);
  if (type.isUnion() && type.types.every((t) => t.isStringLiteral()) && type.types.length <= 12) {
    return type.types.map((t) => `\`${(t as ts.StringLiteralType).value}\``).join(' \\| ');
  }
  if (type.isStringLiteral()) return `\`${type.value}\``;
  const text = node.getText().replace(/\s+/g, ' ');
  if (text === 'EventType') return 'an event type';
  if (text === 'typeof EVENT_SCHEMA_VERSION') return `\`${String(checker.typeToString(type))}\``;
  return `\`${text}\``.replace(/\|/g, '\\|');
}

interface Field {
  name: string;
  optional: boolean;
  type: string;
  doc: string;
}

/** The fields of an interface, in order, each with its doc comment: a field without one is an
 * error (an event's fields are its contract; each says what it means). */
function fieldsOf(decl: ts.InterfaceDeclaration, sf: ts.SourceFile, checker: ts.TypeChecker): Field[] {
  const out: Field[] = [];
  for (const m of decl.members) {
    if (!ts.isPropertySignature(m) || !m.type) continue;
    const name = m.name.getText(sf);
    if (name === 'type') continue;
    const doc = docOf(m, sf);
    if (!doc) throw new Error(`gen-events-doc: ${decl.name.text}.${name} (src/bus/events.ts) has no doc comment: write one saying what it means`);
    out.push({ name, optional: m.questionToken !== undefined, type: typeText(m.type, checker), doc });
  }
  return out;
}

/** The members of a union of string literals, with each member's doc comment (written before
 * its `|`). */
function literalMembers(alias: ts.TypeAliasDeclaration, sf: ts.SourceFile): Array<{ value: string; doc: string }> {
  if (!ts.isUnionTypeNode(alias.type)) return [];
  let from = alias.type.getFullStart();
  return alias.type.types.flatMap((t) => {
    const before = sf.text.slice(from, t.getStart(sf));
    from = t.getEnd();
    return ts.isLiteralTypeNode(t) && ts.isStringLiteral(t.literal) ? [{ value: t.literal.text, doc: docText(before.match(/\/\*\*[\s\S]*?\*\//g)?.at(-1)) }] : [];
  });
}

const cell = (text: string) => text.replace(/\|/g, '\\|');

export function generateEventsDoc(): string {
  const eventsFile = join(ROOT, 'src', 'bus', 'events.ts');
  const fsmFile = join(ROOT, 'src', 'vrrp', 'fsm.ts');
  const program = ts.createProgram([eventsFile], { target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.NodeNext, moduleResolution: ts.ModuleResolutionKind.NodeNext, allowImportingTsExtensions: true, noEmit: true, strict: true, types: [] });
  const checker = program.getTypeChecker();
  const sf = program.getSourceFile(eventsFile);
  const fsm = program.getSourceFile(fsmFile);
  if (!sf || !fsm) throw new Error('gen-events-doc: cannot read src/bus/events.ts or src/vrrp/fsm.ts');

  const interfaces = new Map<string, ts.InterfaceDeclaration>();
  let order: string[] = [];
  for (const st of sf.statements) {
    if (ts.isInterfaceDeclaration(st)) interfaces.set(st.name.text, st);
    // the documented order is EVENT_TYPES'
    if (ts.isVariableStatement(st)) {
      for (const d of st.declarationList.declarations) {
        if (d.name.getText(sf) === 'EVENT_TYPES' && d.initializer && ts.isArrayLiteralExpression(d.initializer)) {
          order = d.initializer.elements.flatMap((e) => (ts.isStringLiteral(e) ? [e.text] : []));
        }
      }
    }
  }
  const byType = new Map<string, ts.InterfaceDeclaration>();
  for (const decl of interfaces.values()) {
    const typeMember = decl.members.find((m) => ts.isPropertySignature(m) && m.name.getText(sf) === 'type');
    if (typeMember && ts.isPropertySignature(typeMember) && typeMember.type && ts.isLiteralTypeNode(typeMember.type) && ts.isStringLiteral(typeMember.type.literal)) {
      byType.set(typeMember.type.literal.text, decl);
    }
  }
  const missing = order.filter((t) => !byType.has(t));
  const unlisted = [...byType.keys()].filter((t) => !order.includes(t));
  if (missing.length || unlisted.length) throw new Error(`gen-events-doc: EVENT_TYPES and the event interfaces differ (no interface: ${missing.join(', ') || '-'}; not in EVENT_TYPES: ${unlisted.join(', ') || '-'})`);

  const table = (fields: Field[]) => ['| field | type | meaning |', '| --- | --- | --- |', ...fields.map((f) => `| \`${f.name}${f.optional ? '?' : ''}\` | ${f.type} | ${cell(f.doc)} |`)];
  const envelope = interfaces.get('Envelope');
  if (!envelope) throw new Error('gen-events-doc: no Envelope interface');

  const lines: string[] = [
    '# Events',
    '',
    `<!-- Generated from src/bus/events.ts and src/vrrp/fsm.ts by \`${REGENERATE}\`: edit the doc comments there, not this file. -->`,
    '',
    'Every state change of the VRRP engine and of the load balancer goes onto a typed event bus, as one of',
    'the events below: plugins receive them (`ctx.on(type, handler)`, [plugins.md](plugins.md)), webhooks',
    'post them, `vigil events` and the HTTP `/events` stream show them. In TypeScript each one is',
    "`EventOf<'type'>` from `vigil/plugin` (all of them: `VigilEvent`).",
    '',
    `## The envelope (schema version ${String(checker.typeToString(checker.getTypeAtLocation(envelope.members[0]!)))})`,
    '',
    `Every event is a JSON object: the envelope, a \`type\`, and the type's fields. ${docOf(envelope, sf)}`,
    '',
    ...table(fieldsOf(envelope, sf, checker)),
    '',
    '## Event types',
    '',
    '| `type` | what happened |',
    '| --- | --- |',
    ...order.map((t) => `| [\`${t}\`](#${t.replace(/[^a-z0-9_-]/g, '')}) | ${cell(docOf(byType.get(t)!, sf).split(/(?<=\.) /)[0] ?? '')} |`),
  ];
  for (const t of order) {
    const decl = byType.get(t)!;
    lines.push('', `### ${t}`, '', `${docOf(decl, sf)} (\`${decl.name.text}\`)`, '', ...table(fieldsOf(decl, sf, checker)));
  }
  const state = fsm.statements.find((s): s is ts.TypeAliasDeclaration => ts.isTypeAliasDeclaration(s) && s.name.text === 'State');
  const reason = fsm.statements.find((s): s is ts.TypeAliasDeclaration => ts.isTypeAliasDeclaration(s) && s.name.text === 'TransitionReason');
  if (!state || !reason) throw new Error('gen-events-doc: no State or TransitionReason in src/vrrp/fsm.ts');
  lines.push(
    '',
    '## States',
    '',
    `\`from\` and \`to\`: ${literalMembers(state, fsm)
      .map((m) => `\`${m.value}\``)
      .join(', ')}.`,
    '',
    '## Transition reasons',
    '',
    `${docOf(reason, fsm)} A group's \`reason\` is its member's.`,
    '',
    '| `reason` | meaning |',
    '| --- | --- |',
    ...literalMembers(reason, fsm).map((m) => `| \`${m.value}\` | ${cell(m.doc)} |`),
    '',
  );
  return lines.join('\n');
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const text = generateEventsDoc();
  if (process.argv.includes('--stdout')) process.stdout.write(text);
  else if (readFileSync(EVENTS_DOC, { encoding: 'utf8', flag: 'a+' }) !== text) {
    writeFileSync(EVENTS_DOC, text);
    console.log(`wrote ${EVENTS_DOC}`);
  }
}
