// Issue 13: a user plugin's invalid config, at run time, is said once, at its place in the config
// file (`cfg.yaml:7:13: plugins.file-prio.weight: ...`), with one `plugin NAME:` prefix (it used
// to be `plugin file-prio: plugin file-prio: invalid config: weight: ...`), in the log and in
// plugin.failed; and a user plugin whose definePlugin name is not its file's name waits for a fix.
import { strict as assert } from 'node:assert';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { EventOf } from '../../src/bus/events.ts';
import { PositionMap } from '../../src/config/diagnostics.ts';
import type { PluginSpec } from '../../src/plugins/host.ts';
import { sectionPlaces } from '../../src/plugins/loader.ts';
import { rig, until } from '../lib/host-rig.ts';

let dir: string;

const FILE_PRIO = `import { definePlugin } from 'vigil/plugin';
import { z } from 'zod';
export default definePlugin({
  apiVersion: 1,
  name: 'file-prio',
  configSchema: z.object({ weight: z.number().int().max(0), rules: z.array(z.object({ path: z.string() })).default([]) }),
  setup(ctx) { ctx.adjustPriority('VI_1', 'file', ctx.config.weight); },
});
`;

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'vigil-config-place-'));
  writeFileSync(join(dir, 'file-prio.ts'), FILE_PRIO);
  writeFileSync(join(dir, 'renamed.ts'), FILE_PRIO);
});
after(() => rmSync(dir, { recursive: true, force: true }));

/** Where a reader put plugins.file-prio's fields. */
function positions(): PositionMap {
  const m = new PositionMap({ file: 'cfg.yaml', line: 1, col: 1 });
  m.set(['plugins'], { file: 'cfg.yaml', line: 5, col: 1 });
  m.set(['plugins', 'file-prio'], { file: 'cfg.yaml', line: 7, col: 5 });
  m.set(['plugins', 'file-prio', 'weight'], { file: 'cfg.yaml', line: 7, col: 13 });
  m.set(['plugins', 'file-prio', 'rules'], { file: 'cfg.yaml', line: 8, col: 5 });
  return m;
}

const spec = (id: string, where = true): PluginSpec => ({ id, entry: join(dir, `${id}.ts`), config: undefined, origin: 'user', ...(where ? { where: sectionPlaces(positions(), id) } : {}) });
const failed = (r: ReturnType<typeof rig>) => r.events.filter((e): e is EventOf<'plugin.failed'> => e.type === 'plugin.failed');

describe('a user plugin with an invalid config section', () => {
  test('is reported once at each field\'s file:line:col, one prefix, and waits for a fix', async () => {
    const r = rig();
    try {
      r.host.apply([spec('file-prio')], [], { 'file-prio': { weight: 5, rules: [{ path: 1 }] } });
      await r.host.ready();
      await until('failed', () => failed(r).length === 1);
      const expected =
        'invalid config: cfg.yaml:7:13: plugins.file-prio.weight: Too big: expected number to be <=0; ' +
        'cfg.yaml:8:5: plugins.file-prio.rules.0.path: Invalid input: expected string, received number';
      const errors = r.lines.filter((l) => l.startsWith('error: '));
      assert.deepEqual(errors, [`error: plugin file-prio: ${expected}`]);
      assert.deepEqual(
        failed(r).map((e) => [e.cause, e.error, e.restartInMs]),
        [['setup', expected, -1]],
      );
      assert.equal(r.host.status()[0]?.state, 'waiting-for-fix');
      assert.deepEqual(r.adjustments, [], 'its setup never ran');
      // fixed by a reload: it runs
      r.host.apply([spec('file-prio')], [], { 'file-prio': { weight: -5 } });
      await until('running', () => r.host.status()[0]?.state === 'running');
      await until('adjusted', () => r.adjustments.length === 1);
      assert.deepEqual(r.adjustments, [['file-prio', 'VI_1', 'file', -5]]);
    } finally {
      await r.host.stop();
    }
  });

  test('without the config file\'s places (a spec made in code) the field is still named once', async () => {
    const r = rig();
    try {
      r.host.apply([spec('file-prio', false)], [], { 'file-prio': { weight: 5 } });
      await until('failed', () => failed(r).length === 1);
      assert.equal(failed(r)[0]?.error, 'invalid config: plugins.file-prio.weight: Too big: expected number to be <=0');
    } finally {
      await r.host.stop();
    }
  });
});

test('a user plugin whose name is not its file\'s name waits for a fix, saying both', async () => {
  const r = rig();
  try {
    r.host.apply([spec('renamed')], [], { 'file-prio': { weight: -1 } });
    await until('failed', () => failed(r).length === 1);
    assert.equal(failed(r)[0]?.cause, 'setup');
    assert.match(failed(r)[0]?.error ?? '', /renamed\.ts is named 'file-prio' \(definePlugin name\): a user plugin's name is its file's name, 'renamed'/);
    assert.equal(r.host.status()[0]?.state, 'waiting-for-fix');
  } finally {
    await r.host.stop();
  }
});
