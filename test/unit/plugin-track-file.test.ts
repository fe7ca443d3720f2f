// track-file against real files in a temp directory: values read on write, on replace-by-rename
// and on delete (0), keepalived's weight arithmetic and FAULT rules, init_file, and the
// derivation of the plugin's config from keepalived-style config (weights, sync groups, owners).
import assert from 'node:assert/strict';
import { mkdtempSync, renameSync, rmSync, unlinkSync, writeFileSync, readFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, test } from 'node:test';
import plugin from '../../plugins/track-file/index.ts';
import { configSchema as schema } from '../../plugins/track-file/config.ts';
import { deriveTrackFile as derive } from '../../src/config/plugin-sections/track-file.ts';
import { parseTrackValue, trackStatus } from '../../src/plugins/track-value.ts';
import { configSchema, type ConfigInput } from '../../src/config/schema.ts';
import type { InstanceInfo } from '../../src/plugins/api.ts';
import { startPlugin, type Harness } from '../lib/plugin-harness.ts';

let h: Harness | undefined;
let dir: string | undefined;
afterEach(async () => {
  await h?.stop();
  h = undefined;
  if (dir) rmSync(dir, { recursive: true, force: true });
  dir = undefined;
});

function tempDir(): string {
  dir = mkdtempSync(join(tmpdir(), 'vigil-track-file-'));
  return dir;
}

async function waitFor(what: string, cond: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const instances: InstanceInfo[] = [
  { name: 'VI_1', vrid: 51, interface: 'eth0', family: 4, version: 2, priority: 100, virtualAddresses: ['192.0.2.100/24'] },
  { name: 'VI_2', vrid: 52, interface: 'eth0', family: 4, version: 2, priority: 100, virtualAddresses: ['192.0.2.101/24'] },
];

const weight = (key: string) => h?.weights()[key] ?? 0;
const faults = (instance: string) => h?.faultsInForce()[instance] ?? [];

test('parseTrackValue reads like strtol(buf, NULL, 0)', () => {
  assert.deepEqual(parseTrackValue('10\n'), { value: 10 });
  assert.deepEqual(parseTrackValue('  -3 trailing text'), { value: -3 });
  assert.deepEqual(parseTrackValue('+7'), { value: 7 });
  assert.deepEqual(parseTrackValue('0x10'), { value: 16 });
  assert.deepEqual(parseTrackValue('010'), { value: 8 });
  assert.deepEqual(parseTrackValue('08'), { value: 0 });
  assert.deepEqual(parseTrackValue('2147483648'), { value: 2147483648 });
  assert.equal(parseTrackValue('abc').value, 0);
  assert.match(parseTrackValue('abc').note ?? '', /no number/);
  assert.deepEqual(parseTrackValue(''), { value: 0, note: 'empty' });
  assert.equal(parseTrackValue('2147483649').value, undefined);
  assert.equal(parseTrackValue('-2147483649').value, undefined);
  assert.equal(parseTrackValue('99999999999999999999999').value, undefined);
  // only the first 127 bytes count
  assert.deepEqual(parseTrackValue(' '.repeat(126) + '5'), { value: 5 });
  assert.deepEqual(parseTrackValue(' '.repeat(127) + '5').value, 0);
});

test('trackStatus follows keepalived: weight 0 faults on non-zero, weights multiply, <= -254 faults, capped at 253', () => {
  assert.deepEqual(trackStatus(0, 0, false), { fault: false, adjust: 0 });
  assert.deepEqual(trackStatus(3, 0, false), { fault: true, adjust: 0 });
  assert.deepEqual(trackStatus(0, 0, true), { fault: true, adjust: 0 });
  assert.deepEqual(trackStatus(-1, 0, true), { fault: false, adjust: 0 });
  assert.deepEqual(trackStatus(5, 2, false), { fault: false, adjust: 10 });
  assert.deepEqual(trackStatus(5, 2, true), { fault: false, adjust: -10 });
  assert.deepEqual(trackStatus(-5, -3, false), { fault: false, adjust: 15 });
  assert.deepEqual(trackStatus(0, -3, true), { fault: false, adjust: 0 });
  assert.deepEqual(trackStatus(-253, 1, false), { fault: false, adjust: -253 });
  assert.deepEqual(trackStatus(-254, 1, false), { fault: true, adjust: 0 });
  assert.deepEqual(trackStatus(300, 1, false), { fault: false, adjust: 253 });
});

test('the derivation: per-instance weight overrides the file weight; nothing tracked and no init_file -> undefined', () => {
  const base: ConfigInput = {
    vrrp_track_file: { f1: { file: '/run/f1', weight: 3, weight_reverse: true }, f2: { file: '/run/f2' } },
    vrrp_instance: {
      VI_1: { interface: 'eth0', virtual_router_id: 1, track_file: [{ name: 'f1' }, { name: 'f2', weight: -2 }, { name: 'f1', weight: 9 }] },
      VI_2: { interface: 'eth0', virtual_router_id: 2, track_file: [{ name: 'f1', weight: 4 }, { name: 'nope' }] },
    },
  };
  const derived = derive(configSchema.parse(base));
  assert.deepEqual(schema.parse(derived), {
    files: { f1: { path: '/run/f1' }, f2: { path: '/run/f2' } },
    tracks: [
      { instance: 'VI_1', file: 'f1', weight: 3, reverse: true },
      { instance: 'VI_1', file: 'f2', weight: -2, reverse: false },
      { instance: 'VI_2', file: 'f1', weight: 4, reverse: false },
    ],
  });
  assert.equal(derive(configSchema.parse({ vrrp_track_file: { f1: { file: '/x' } }, vrrp_instance: {} })), undefined);
  assert.deepEqual(derive(configSchema.parse({ vrrp_track_file: { f1: { file: '/x', init_file: true } } })), {
    files: { f1: { path: '/x', init: { value: 0 } } },
    tracks: [],
  });
});

test('the derivation: sync group members and address owners cannot float: weight 1 -> 0, other weights dropped', () => {
  const cfg = configSchema.parse({
    vrrp_track_file: { f1: { file: '/run/f1' }, f5: { file: '/run/f5', weight: 5 } },
    vrrp_instance: {
      VI_1: { interface: 'eth0', virtual_router_id: 1, track_file: [{ name: 'f1' }, { name: 'f5' }] },
      VI_2: { interface: 'eth0', virtual_router_id: 2, track_file: [{ name: 'f1' }] },
      OWNER: { interface: 'eth0', virtual_router_id: 3, priority: 255, track_file: [{ name: 'f1', weight: 0, reverse: true }, { name: 'f5' }] },
      FREE: { interface: 'eth0', virtual_router_id: 4, track_file: [{ name: 'f5' }] },
    },
    vrrp_sync_group: { G1: { group: ['VI_1', 'VI_2'] } },
  });
  assert.deepEqual(derive(cfg)?.tracks, [
    { instance: 'VI_1', file: 'f1', weight: 0, reverse: false },
    { instance: 'VI_2', file: 'f1', weight: 0, reverse: false },
    { instance: 'OWNER', file: 'f1', weight: 0, reverse: true },
    { instance: 'FREE', file: 'f5', weight: 5, reverse: false },
  ]);
});

test('a weighted file adjusts on write, on replace by rename, and counts as 0 once deleted', async () => {
  const d = tempDir();
  const path = join(d, 'prio');
  writeFileSync(path, '5\n');
  h = await startPlugin(plugin, { files: { prio: { path } }, tracks: [{ instance: 'VI_1', file: 'prio', weight: 2 }, { instance: 'VI_2', file: 'prio', weight: 3, reverse: true }] }, instances);
  // the initial value is read at setup
  assert.equal(weight('VI_1/track_file:prio'), 10);
  assert.equal(weight('VI_2/track_file:prio'), -15);

  writeFileSync(path, '-4\n');
  await waitFor('-4 read', () => weight('VI_1/track_file:prio') === -8);
  assert.equal(weight('VI_2/track_file:prio'), 12);

  // atomic replace: write a temp file and rename it over the tracked one
  writeFileSync(join(d, 'prio.tmp'), '7');
  renameSync(join(d, 'prio.tmp'), path);
  await waitFor('7 read after rename', () => weight('VI_1/track_file:prio') === 14);
  assert.equal(weight('VI_2/track_file:prio'), -21);

  unlinkSync(path);
  await waitFor('deleted file counts as 0', () => weight('VI_1/track_file:prio') === 0);
  assert.equal(weight('VI_2/track_file:prio'), 0);
  assert.ok(h.recorded.logs.some((l) => l.level === 'warn' && /missing - value 0/.test(l.msg)));

  writeFileSync(path, '1');
  await waitFor('re-created file read', () => weight('VI_1/track_file:prio') === 2);
  assert.deepEqual(h.faultsInForce(), {});
  assert.deepEqual(h.recorded.errors, []);
});

test('weight 0: a non-zero value holds the instance in FAULT, zero releases it; reverse inverts', async () => {
  const d = tempDir();
  const path = join(d, 'down');
  writeFileSync(path, '0');
  h = await startPlugin(plugin, { files: { down: { path } }, tracks: [{ instance: 'VI_1', file: 'down', weight: 0 }, { instance: 'VI_2', file: 'down', weight: 0, reverse: true }] }, instances);
  assert.deepEqual(faults('VI_1'), []);
  assert.deepEqual(faults('VI_2'), ['track_file:down']);

  writeFileSync(path, '1\n');
  await waitFor('VI_1 in fault', () => faults('VI_1').length === 1);
  assert.deepEqual(faults('VI_1'), ['track_file:down']);
  assert.deepEqual(faults('VI_2'), []);

  writeFileSync(path, '0\n');
  await waitFor('VI_1 out of fault', () => faults('VI_1').length === 0);
  assert.deepEqual(faults('VI_2'), ['track_file:down']);
  // weight 0 never adjusts the priority
  assert.deepEqual(h.recorded.adjustments, []);
});

test('a weighted result of -254 or less is FAULT; non-numeric reads as 0; an out-of-range number is ignored', async () => {
  const d = tempDir();
  const path = join(d, 'v');
  writeFileSync(path, '100');
  h = await startPlugin(plugin, { files: { v: { path } }, tracks: [{ instance: 'VI_1', file: 'v', weight: -3 }] }, instances);
  assert.deepEqual(faults('VI_1'), ['track_file:v']);
  assert.equal(weight('VI_1/track_file:v'), 0);

  writeFileSync(path, '10');
  await waitFor('fault cleared', () => faults('VI_1').length === 0);
  assert.equal(weight('VI_1/track_file:v'), -30);

  writeFileSync(path, 'not a number');
  await waitFor('non-numeric = 0', () => weight('VI_1/track_file:v') === 0);
  assert.ok(h.recorded.logs.some((l) => /no number in "not a number" - value 0/.test(l.msg)));

  writeFileSync(path, '2');
  await waitFor('2 read', () => weight('VI_1/track_file:v') === -6);
  writeFileSync(path, '99999999999');
  await waitFor('invalid number logged', () => h!.recorded.logs.some((l) => /invalid number 99999999999 - ignoring/.test(l.msg)));
  // the previous value stays
  assert.equal(weight('VI_1/track_file:v'), -6);
  assert.deepEqual(faults('VI_1'), []);
});

test('init_file creates a missing file with its value and leaves an existing one alone unless overwrite', async () => {
  const d = tempDir();
  const created = join(d, 'new');
  const kept = join(d, 'kept');
  const over = join(d, 'over');
  writeFileSync(kept, '9\n');
  writeFileSync(over, '9\n');
  h = await startPlugin(
    plugin,
    {
      files: { new: { path: created, init: { value: 4 } }, kept: { path: kept, init: { value: 4 } }, over: { path: over, init: { value: -2, overwrite: true } } },
      tracks: [
        { instance: 'VI_1', file: 'new', weight: 1 },
        { instance: 'VI_2', file: 'kept', weight: 1 },
        { instance: 'VI_2', file: 'over', weight: 1 },
      ],
    },
    instances,
  );
  assert.equal(readFileSync(created, 'utf8'), '4\n');
  assert.equal(readFileSync(kept, 'utf8'), '9\n');
  assert.equal(readFileSync(over, 'utf8'), '-2\n');
  assert.equal(weight('VI_1/track_file:new'), 4);
  assert.equal(weight('VI_2/track_file:kept'), 9);
  assert.equal(weight('VI_2/track_file:over'), -2);
});

test('a file in a directory that does not exist is ignored with an error, as keepalived does', async () => {
  const d = tempDir();
  const path = join(d, 'no-such-dir', 'f');
  h = await startPlugin(plugin, { files: { f: { path } }, tracks: [{ instance: 'VI_1', file: 'f', weight: 0, reverse: true }] }, instances);
  assert.ok(h.recorded.logs.some((l) => l.level === 'error' && /does not exist - ignoring/.test(l.msg)));
  assert.deepEqual(h.faultsInForce(), {});
  assert.equal(existsSync(path), false);
});
