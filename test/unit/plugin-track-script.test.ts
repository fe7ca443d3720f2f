// track-script: keepalived's rise/fall counting (pure), then real scripts on real timers: weights
// (+, -, reverse, per-instance override), weight 0 faults, init_fail, timeouts, no self-overlap,
// refused scripts, the run user, and the derivation's keepalived rules.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { configSchema, type Config } from '../../src/config/schema.ts';
import { lookupUser } from '../../src/plugins/run.ts';
import plugin from '../../plugins/track-script/index.ts';
import { deriveTrackScript } from '../../src/config/plugin-sections/track-script.ts';

const derive = (config: Config) => deriveTrackScript(config, config.plugins['track-script']);
import { effect, initialState, step, type ScriptState } from '../../plugins/track-script/state.ts';
import { startPlugin, type Harness } from '../lib/plugin-harness.ts';
import { needs } from '../lib/require.ts';

const dir = mkdtempSync(join(tmpdir(), 'vigil-track-'));
after(() => rmSync(dir, { recursive: true, force: true }));

let n = 0;
function script(body: string, mode = 0o755): string {
  const p = join(dir, `c${++n}.sh`);
  writeFileSync(p, `#!/bin/sh\n${body}\n`);
  chmodSync(p, mode);
  return p;
}
const lines = (file: string): string[] => (existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter(Boolean) : []);

/** A check whose exit status is whatever the file `health` holds; each run logs that status. */
function healthCheck(tag: string, initial: number): { line: string; set: (code: number) => void; runs: () => string[] } {
  const health = join(dir, `${tag}.health`);
  const log = join(dir, `${tag}.runs`);
  writeFileSync(health, String(initial));
  const line = script(`code=$(cat '${health}'); echo "$code" >> '${log}'; exit "$code"`);
  return { line, set: (code) => writeFileSync(health, String(code)), runs: () => lines(log) };
}

async function waitFor(what: string, cond: () => boolean, ms = 10_000): Promise<void> {
  const end = performance.now() + ms;
  while (!cond()) {
    if (performance.now() > end) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const weightOf = (h: Harness, key: string): number | undefined => h.weights()[key];

test('rise and fall count like keepalived', () => {
  const run = (s: ScriptState, results: boolean[], rise: number, fall: number): Array<string> => {
    const out: string[] = [];
    for (const ok of results) {
      const r = step(s, ok, rise, fall);
      s = r.state;
      out.push(`${s.status}${r.changed ? '!' : ''}`);
    }
    return out;
  };
  // before the first result one run decides, whatever rise and fall are
  assert.deepEqual(run(initialState(3, false), [true], 3, 3), ['ok!']);
  assert.deepEqual(run(initialState(3, false), [false], 3, 3), ['fail!']);
  // healthy: fall=3 failures in a row turn it failed; a success in between resets the count
  assert.deepEqual(run(initialState(2, false), [true, false, false, true, false, false, false], 2, 3), ['ok!', 'ok', 'ok', 'ok', 'ok', 'ok', 'fail!']);
  // failed: rise=2 successes in a row turn it healthy; a failure in between resets the count
  assert.deepEqual(run({ result: 0, status: 'fail' }, [true, false, true, true], 2, 1), ['fail', 'fail', 'fail', 'ok!']);
  // init_fail starts failed and needs the full rise
  assert.deepEqual(initialState(2, true), { result: 0, status: 'fail' });
  assert.deepEqual(run(initialState(2, true), [true, true], 2, 1), ['fail', 'ok!']);
  // rise 1, fall 1 flips on every change
  assert.deepEqual(run(initialState(1, false), [true, false, true, true, false], 1, 1), ['ok!', 'fail!', 'ok!', 'ok', 'fail!']);
});

test('what a status means for a tracker: weights, reverse, weight 0', () => {
  assert.deepEqual(effect('ok', { weight: 10, reverse: false }), { adjust: 10, fault: false });
  assert.deepEqual(effect('fail', { weight: 10, reverse: false }), { adjust: 0, fault: false });
  assert.deepEqual(effect('ok', { weight: -20, reverse: false }), { adjust: 0, fault: false });
  assert.deepEqual(effect('fail', { weight: -20, reverse: false }), { adjust: -20, fault: false });
  assert.deepEqual(effect('ok', { weight: 10, reverse: true }), { adjust: -10, fault: false });
  assert.deepEqual(effect('fail', { weight: -20, reverse: true }), { adjust: 20, fault: false });
  assert.deepEqual(effect('fail', { weight: 0, reverse: false }), { adjust: 0, fault: true });
  assert.deepEqual(effect('ok', { weight: 0, reverse: false }), { adjust: 0, fault: false });
  assert.deepEqual(effect('ok', { weight: 0, reverse: true }), { adjust: 0, fault: true });
  assert.deepEqual(effect('init', { weight: 0, reverse: true }), { adjust: 0, fault: false });
  assert.deepEqual(effect('init', { weight: -5, reverse: false }), { adjust: 0, fault: false });
});

test('positive weight added while healthy, dropped after `fall` failures, back after `rise` successes', async () => {
  const c = healthCheck('pos', 0);
  const h = await startPlugin(plugin, { scripts: { chk: { line: c.line, interval: 0.1, rise: 2, fall: 3, tracked_by: [{ instance: 'VI_1', weight: 10, reverse: false }] } } });
  try {
    assert.equal(weightOf(h, 'VI_1/chk'), 0, 'initial state reported at once: nothing before the first result');
    await waitFor('weight 10', () => weightOf(h, 'VI_1/chk') === 10);
    // the runs logged at the moment the plugin reports the drop: exactly `fall`, or one more whose
    // run had just started (the run log is written at a run's start)
    let failuresAtDrop = -1;
    const push = h.recorded.adjustments.push.bind(h.recorded.adjustments);
    h.recorded.adjustments.push = (...items) => {
      if (items.some((a) => a.weight === 0)) failuresAtDrop = c.runs().slice(before).filter((r) => r === '1').length;
      return push(...items);
    };
    const before = c.runs().length;
    c.set(1);
    await waitFor('weight 0', () => weightOf(h, 'VI_1/chk') === 0);
    assert.ok(failuresAtDrop === 3 || failuresAtDrop === 4, `dropped after ${failuresAtDrop} failures`);
    c.set(0);
    await waitFor('weight 10 again', () => weightOf(h, 'VI_1/chk') === 10);
    assert.deepEqual(
      h.recorded.adjustments.map((a) => a.weight),
      [0, 10, 0, 10],
    );
    assert.deepEqual(h.recorded.faults, []);
  } finally {
    await h.stop();
  }
});

test('negative weight subtracted while failing; reverse flips it; one script, several instances', async () => {
  const c = healthCheck('neg', 1);
  const h = await startPlugin(plugin, {
    scripts: {
      chk: {
        line: c.line,
        interval: 0.1,
        tracked_by: [
          { instance: 'VI_1', weight: -20, reverse: false },
          { instance: 'VI_2', weight: 15, reverse: true },
        ],
      },
    },
  });
  try {
    await waitFor('failing weights', () => weightOf(h, 'VI_1/chk') === -20);
    assert.equal(weightOf(h, 'VI_2/chk'), 0);
    c.set(0);
    await waitFor('healthy weights', () => weightOf(h, 'VI_2/chk') === -15);
    assert.equal(weightOf(h, 'VI_1/chk'), 0);
  } finally {
    await h.stop();
  }
});

test('weight 0: failure puts the instance in FAULT, recovery releases it', async () => {
  const c = healthCheck('zero', 1);
  const h = await startPlugin(plugin, { scripts: { chk: { line: c.line, interval: 0.1, tracked_by: [{ instance: 'VI_1', weight: 0, reverse: false }] } } });
  try {
    await waitFor('fault', () => h.faultsInForce().VI_1?.includes('chk') === true);
    c.set(0);
    await waitFor('fault cleared', () => h.faultsInForce().VI_1?.length === 0);
    assert.deepEqual(h.recorded.adjustments, []);
  } finally {
    await h.stop();
  }
});

test('init_fail with weight 0 holds the instance in FAULT from setup on, before any run finished', async () => {
  const log = join(dir, 'initfail.runs');
  const slow = script(`sleep 0.5; echo ok >> '${log}'`);
  const h = await startPlugin(plugin, { scripts: { chk: { line: slow, interval: 0.2, timeout: 3, init_fail: true, tracked_by: [{ instance: 'VI_1', weight: 0, reverse: false }] } } });
  try {
    assert.deepEqual(h.faultsInForce(), { VI_1: ['chk'] });
    assert.deepEqual(lines(log), []);
    await waitFor('fault cleared by a success', () => h.faultsInForce().VI_1?.length === 0);
    assert.ok(lines(log).length >= 1);
  } finally {
    await h.stop();
  }
});

test('a run over its timeout is killed and counts as a failure', async () => {
  const hang = script('exec sleep 30');
  const h = await startPlugin(plugin, { scripts: { chk: { line: hang, interval: 0.5, timeout: 0.3, tracked_by: [{ instance: 'VI_1', weight: 0, reverse: false }] } } });
  try {
    const t0 = performance.now();
    await waitFor('fault', () => h.faultsInForce().VI_1?.includes('chk') === true);
    console.log(`timeout 0.3 s: FAULT ${(performance.now() - t0).toFixed(0)} ms after start`);
    assert.ok(h.recorded.logs.some((l) => l.msg === 'VRRP_Script(chk) timed_out'), JSON.stringify(h.recorded.logs));
  } finally {
    await h.stop();
  }
});

test('a script never overlaps itself; a tick that finds it running is skipped', async () => {
  const log = join(dir, 'overlap.runs');
  const slow = script(`echo start >> '${log}'; sleep 0.35; echo end >> '${log}'`);
  const h = await startPlugin(plugin, { scripts: { chk: { line: slow, interval: 0.1, timeout: 5, tracked_by: [{ instance: 'VI_1', weight: 5, reverse: false }] } } });
  try {
    await waitFor('three runs', () => lines(log).filter((l) => l === 'end').length >= 3);
  } finally {
    await h.stop();
  }
  const seq = lines(log);
  for (let i = 1; i < seq.length; i++) assert.notEqual(seq[i], seq[i - 1], `two ${seq[i]}s in a row: ${seq.join(',')}`);
  assert.ok(h.recorded.logs.some((l) => l.msg.includes('already running') && l.msg.includes('skipping run')));
});

test('a refused script is not tracked (keepalived), or held failed with refused: fail', async () => {
  const unsafe = script('exit 0', 0o777);
  const cfg = { script_user: 'root', enable_script_security: true, scripts: { chk: { line: unsafe, tracked_by: [{ instance: 'VI_1', weight: 0, reverse: false }] } } };
  const h = await startPlugin(plugin, cfg);
  try {
    assert.ok(h.recorded.logs.some((l) => l.level === 'error' && l.msg.includes('vrrp_script chk') && l.msg.includes('unsafe permissions') && l.msg.includes('not tracked')), JSON.stringify(h.recorded.logs));
    assert.deepEqual(h.faultsInForce(), { VI_1: [] });
  } finally {
    await h.stop();
  }
  const f = await startPlugin(plugin, { ...cfg, refused: 'fail' });
  try {
    assert.deepEqual(f.faultsInForce(), { VI_1: ['chk'] });
  } finally {
    await f.stop();
  }
});

test('a script with a user runs as that user', { ...needs('root', 'user:nobody') }, async () => {
  const nobody = lookupUser('nobody');
  assert.ok(nobody);
  // exits 0 only when run as nobody
  const check = script(`[ "$(id -u)" = "${nobody.uid}" ]`);
  chmodSync(dir, 0o755);
  const h = await startPlugin(plugin, { scripts: { chk: { line: check, interval: 0.1, user: 'nobody', tracked_by: [{ instance: 'VI_1', weight: 7, reverse: false }] } } });
  try {
    await waitFor('weight 7', () => weightOf(h, 'VI_1/chk') === 7);
  } finally {
    await h.stop();
    chmodSync(dir, 0o700);
  }
});

test('the derivation: per-instance overrides, sync groups, address owners, keepalived notes', () => {
  const inst = (vrid: number, extra: object = {}): object => ({ interface: 'eth0', virtual_router_id: vrid, ...extra });
  assert.equal(derive(configSchema.parse({ vrrp_instance: { VI_1: inst(1) }, vrrp_script: { unused: { script: '/bin/true' } } })), undefined);
  const config = configSchema.parse({
    global_defs: { script_user: 'nobody' },
    vrrp_script: {
      web: { script: '/usr/bin/check web', interval: 2, weight: -10, rise: 2, fall: 3, user: 'www', init_fail: true },
      db: { script: '/bin/db', weight: 5, weight_reverse: true, timeout: 0 },
      grp: { script: '/bin/grp', weight: 30 },
    },
    vrrp_instance: {
      VI_1: inst(1, { track_script: [{ name: 'web' }, { name: 'db', weight: 254, reverse: false }, { name: 'web', weight: 1 }] }),
      VI_2: inst(2, { track_script: [{ name: 'web', weight: 20 }, { name: 'db', weight: 0 }] }),
      VI_3: inst(3),
      VI_OWN: inst(4, { priority: 255, track_script: [{ name: 'db' }] }),
    },
    vrrp_sync_group: {
      G1: { group: ['VI_2', 'VI_3'], track_script: [{ name: 'grp' }, { name: 'db', weight: 8 }] },
    },
  });
  assert.deepEqual(derive(config), {
    script_user: 'nobody',
    enable_script_security: false,
    scripts: {
      web: { line: '/usr/bin/check web', interval: 2, rise: 2, fall: 3, user: 'www', init_fail: true, tracked_by: [{ instance: 'VI_1', weight: -10, reverse: false }] },
      db: {
        line: '/bin/db',
        interval: 1,
        timeout: 1,
        rise: 1,
        fall: 1,
        init_fail: false,
        tracked_by: [
          { instance: 'VI_1', weight: 253, reverse: false },
          // VI_2's own weight 0 entry stays; VI_3 gets the group's weight
          { instance: 'VI_2', weight: 0, reverse: true },
          { instance: 'VI_3', weight: 8, reverse: true },
        ],
      },
      grp: {
        line: '/bin/grp',
        interval: 1,
        rise: 1,
        fall: 1,
        init_fail: false,
        tracked_by: [
          { instance: 'VI_2', weight: 30, reverse: false },
          { instance: 'VI_3', weight: 30, reverse: false },
        ],
      },
    },
    notes: [
      '(VI_1) duplicate track_script web - ignoring',
      '(VI_1) track script db: weight cannot be 254, using 253',
      '(VI_2) ignoring tracked script web with weights due to SYNC group',
      '(VI_OWN) ignoring tracked script db with weights due to address owner',
      "(VI_2) track_script db is configured on VRRP instance and sync group; the instance's weight 0 stays",
    ],
  });
});

test('the derivation: a sync group with an address owner clears the weights of its scripts', () => {
  const config = configSchema.parse({
    vrrp_script: { chk: { script: '/bin/chk', weight: 10 } },
    vrrp_instance: { A: { interface: 'eth0', virtual_router_id: 1, priority: 255 }, B: { interface: 'eth0', virtual_router_id: 2 } },
    vrrp_sync_group: { G: { group: ['A', 'B'], track_script: [{ name: 'chk' }] } },
  });
  const d = derive(config);
  assert.deepEqual(d?.scripts.chk?.tracked_by, [
    { instance: 'A', weight: 0, reverse: false },
    { instance: 'B', weight: 0, reverse: false },
  ]);
  assert.deepEqual(d?.notes, ["(G) Cannot have weighted track script 'chk' with member having priority 255 - clearing weight"]);
});
