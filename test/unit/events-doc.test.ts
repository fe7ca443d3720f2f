// docs/events.md is generated from the event types (scripts/gen-events-doc.ts): it must be what
// the generator prints for the types as they are, so a new event, a new field or a changed doc
// comment in src/bus/events.ts shows up on the page, or this fails.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { EVENT_TYPES } from '../../src/bus/events.ts';
import { EVENTS_DOC, generateEventsDoc, REGENERATE } from '../../scripts/gen-events-doc.ts';

test('docs/events.md is what scripts/gen-events-doc.ts generates from src/bus/events.ts', () => {
  const expected = generateEventsDoc();
  assert.ok(existsSync(EVENTS_DOC), `docs/events.md is missing: run \`${REGENERATE}\``);
  const actual = readFileSync(EVENTS_DOC, 'utf8');
  if (actual !== expected) {
    const a = actual.split('\n');
    const e = expected.split('\n');
    const at = e.findIndex((line, i) => line !== a[i]);
    assert.fail(`docs/events.md is out of date with src/bus/events.ts: run \`${REGENERATE}\` (first difference at line ${at + 1}: ${JSON.stringify(a[at])} should be ${JSON.stringify(e[at])})`);
  }
});

test('every event type has its section and every field of it a documented row', () => {
  const doc = generateEventsDoc();
  for (const t of EVENT_TYPES) {
    const section = doc.split(`\n### ${t}\n`)[1]?.split('\n### ')[0] ?? '';
    assert.ok(section, `${t} has a section`);
    const rows = section.split('\n').filter((l) => l.startsWith('| `'));
    assert.ok(rows.length > 0, `${t} lists its fields`);
    for (const row of rows) assert.doesNotMatch(row, /\|\s*\|$/, `${t}: a field without its meaning: ${row}`);
  }
  assert.match(doc, /\| `v` \| `1` \| Schema version/);
  assert.match(doc, /\| `shutdown` \| Any -> Initialize\. \|/);
});
