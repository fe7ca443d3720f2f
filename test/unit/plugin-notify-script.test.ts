// notify-script with real scripts in a temp dir: keepalived's argument order, instance and group
// notifies, STOP at shutdown, strict per-instance order with a slow script, timeouts, script
// security, script_user, and the latency from event to script start (printed).
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { configSchema } from '../../src/config/schema.ts';
import type { EventBody } from '../../src/bus/events.ts';
import plugin from '../../plugins/notify-script/index.ts';
import { fromVigilConfig } from '../../plugins/notify-script/config.ts';
import { lookupUser } from '../../src/plugins/run.ts';
import { startPlugin, transition } from '../lib/plugin-harness.ts';

const dir = mkdtempSync(join(tmpdir(), 'vigil-notify-'));
after(() => rmSync(dir, { recursive: true, force: true }));

let n = 0;
/** A script file (root-owned, 0755: secure) with `body` after a shebang. */
function script(body: string, mode = 0o755): string {
  const p = join(dir, `s${++n}.sh`);
  writeFileSync(p, `#!/bin/sh\n${body}\n`);
  chmodSync(p, mode);
  return p;
}
const lines = (file: string): string[] => (existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter(Boolean) : []);

/** Appends its label and every argument, `|`-separated, to `out`. */
const recorder = (out: string): string => script(`printf '%s|' "$@" >> '${out}'; echo >> '${out}'`);

const shutdown = (instance: string, priority = 100): EventBody => ({ ...transition(instance, 'master', 'initialize', priority), reason: 'shutdown' } as EventBody);

test('specific script first, then the generic one with INSTANCE name STATE priority appended', async () => {
  const out = join(dir, 'order.log');
  const rec = recorder(out);
  const h = await startPlugin(plugin, {
    instances: {
      VI_1: {
        master: { line: `${rec} spec-master` },
        backup: { line: `'${rec}' "spec backup"` },
        fault: { line: `${rec} spec-fault` },
        stop: { line: `${rec} spec-stop` },
        notify: { line: `${rec} generic 'two words'` },
      },
    },
  });
  try {
    h.emit(transition('VI_1', 'initialize', 'backup', 100));
    h.emit(transition('VI_1', 'backup', 'master', 110));
    h.emit(transition('VI_1', 'master', 'fault', 90));
    // initialize without shutdown (e.g. a restart of the instance) is no keepalived state
    h.emit(transition('VI_1', 'fault', 'initialize', 90));
    h.emit(shutdown('VI_1', 100));
    await h.idle();
    assert.deepEqual(lines(out), [
      'spec backup|',
      'generic|two words|INSTANCE|VI_1|BACKUP|100|',
      'spec-master|',
      'generic|two words|INSTANCE|VI_1|MASTER|110|',
      'spec-fault|',
      'generic|two words|INSTANCE|VI_1|FAULT|90|',
      'spec-stop|',
      'generic|two words|INSTANCE|VI_1|STOP|100|',
    ]);
    assert.deepEqual(h.recorded.errors, []);
  } finally {
    await h.stop();
  }
});

test('sync groups: GROUP name STATE 0; instances without scripts and other instances are left alone', async () => {
  const out = join(dir, 'group.log');
  const rec = recorder(out);
  const h = await startPlugin(plugin, { groups: { G1: { master: { line: `${rec} g-master` }, notify: { line: rec } } } });
  try {
    h.emit({ type: 'group.transition', group: 'G1', from: 'backup', to: 'master', reason: 'member', instance: 'VI_1' });
    h.emit({ type: 'group.transition', group: 'G2', from: 'backup', to: 'master', reason: 'member' });
    h.emit(transition('VI_1', 'backup', 'master'));
    h.emit({ type: 'group.transition', group: 'G1', from: 'master', to: 'initialize', reason: 'shutdown' });
    await h.idle();
    assert.deepEqual(lines(out), ['g-master|', 'GROUP|G1|MASTER|0|', 'GROUP|G1|STOP|0|']);
  } finally {
    await h.stop();
  }
});

test('a slow script holds the next transition of its instance back, not other instances', async () => {
  const out = join(dir, 'slow.log');
  // each run logs its start and end with a nanosecond wall-clock stamp
  const slow = script(`echo "start $1 $(date +%s%N)" >> '${out}'; sleep 0.6; echo "end $1 $(date +%s%N)" >> '${out}'`);
  const fast = script(`echo "start $1 $(date +%s%N)" >> '${out}'; echo "end $1 $(date +%s%N)" >> '${out}'`);
  const h = await startPlugin(plugin, {
    instances: { VI_1: { master: { line: `${slow} VI_1-master` }, backup: { line: `${fast} VI_1-backup` } }, VI_2: { master: { line: `${fast} VI_2-master` } } },
  });
  try {
    h.emit(transition('VI_1', 'backup', 'master'));
    h.emit(transition('VI_1', 'master', 'backup'));
    h.emit(transition('VI_2', 'backup', 'master'));
    await h.idle();
    const ev = lines(out).map((l) => {
      const [what, who, ns] = l.split(' ');
      return { what, who, t: Number(BigInt(ns ?? '0') / 1000n) / 1000 };
    });
    const at = (what: string, who: string): number => {
      const e = ev.find((x) => x.what === what && x.who === who);
      assert.ok(e, `${what} ${who} missing in ${JSON.stringify(ev)}`);
      return e.t;
    };
    assert.ok(at('start', 'VI_1-backup') >= at('end', 'VI_1-master'), 'VI_1 backup started before master finished');
    // VI_2 is another ordering key: it ran while VI_1's slow script was still sleeping
    assert.ok(at('start', 'VI_2-master') < at('end', 'VI_1-master'), 'VI_2 waited for VI_1');
    console.log(`slow script: VI_1 backup started ${(at('start', 'VI_1-backup') - at('end', 'VI_1-master')).toFixed(1)} ms after VI_1 master ended; VI_2 started ${(at('start', 'VI_2-master') - at('start', 'VI_1-master')).toFixed(1)} ms after VI_1 master started`);
  } finally {
    await h.stop();
  }
});

test('latency from event emission to script start (printed)', async () => {
  const out = join(dir, 'latency.log');
  const stamp = script(`date +%s%N >> '${out}'`);
  const h = await startPlugin(plugin, { instances: { VI_1: { master: { line: stamp } } } });
  try {
    const samples: number[] = [];
    for (let i = 0; i < 30; i++) {
      const before = lines(out).length;
      const emittedMs = performance.timeOrigin + performance.now();
      h.emit(transition('VI_1', 'backup', 'master'));
      await h.idle();
      const started = lines(out)[before];
      assert.ok(started, 'the script ran');
      samples.push(Number(BigInt(started) / 1000n) / 1000 - emittedMs);
    }
    samples.sort((a, b) => a - b);
    const pct = (p: number): string => (samples[Math.min(samples.length - 1, Math.floor(p * samples.length))] as number).toFixed(2);
    console.log(`notify latency, event emitted -> script running (30 runs): median ${pct(0.5)} ms, p90 ${pct(0.9)} ms, max ${pct(1)} ms`);
    // generous: only catches a script that did not start promptly at all
    assert.ok((samples[Math.floor(samples.length / 2)] as number) < 2000);
  } finally {
    await h.stop();
  }
});

test('a script that overruns the timeout is killed and the next one still runs', async () => {
  const out = join(dir, 'timeout.log');
  const hang = script(`echo hang >> '${out}'; exec sleep 30`);
  const rec = recorder(out);
  const h = await startPlugin(plugin, { timeout: 0.3, instances: { VI_1: { master: { line: hang }, backup: { line: `${rec} after` } } } });
  try {
    const t0 = performance.now();
    h.emit(transition('VI_1', 'backup', 'master'));
    h.emit(transition('VI_1', 'master', 'backup'));
    await h.idle();
    const took = performance.now() - t0;
    assert.deepEqual(lines(out), ['hang', 'after|']);
    assert.ok(took < 10_000, `took ${took} ms`);
    assert.ok(h.recorded.logs.some((l) => l.level === 'error' && l.msg.includes('timeout')), JSON.stringify(h.recorded.logs));
  } finally {
    await h.stop();
  }
});

test('output goes to the log; a failing script is reported', async () => {
  const s = script(`echo "to stdout $1"; echo "to stderr" >&2; exit 3`);
  const h = await startPlugin(plugin, { instances: { VI_1: { fault: { line: `${s} x` } } } });
  try {
    h.emit(transition('VI_1', 'backup', 'fault'));
    await h.idle();
    const logs = h.recorded.logs.map((l) => `${l.level} ${l.msg}`);
    assert.ok(logs.includes('info notify_fault for VI_1: to stdout x'), logs.join('\n'));
    assert.ok(logs.includes('warn notify_fault for VI_1: to stderr'), logs.join('\n'));
    assert.ok(logs.some((l) => l.startsWith('warn notify_fault for VI_1: exit status 3')), logs.join('\n'));
  } finally {
    await h.stop();
  }
});

test('script security: a world-writable script is refused under enable_script_security, only warned about without', async () => {
  const out = join(dir, 'insecure.log');
  const unsafe = script(`echo ran >> '${out}'`, 0o777);
  // under enable_script_security there is no fallback to root: the user must be named
  const noUser = await startPlugin(plugin, { enable_script_security: true, instances: { VI_1: { master: { line: unsafe } } } });
  await noUser.stop();
  assert.ok(noUser.recorded.logs.some((l) => l.level === 'error' && l.msg.includes('keepalived_script does not exist')), JSON.stringify(noUser.recorded.logs));
  const strict = await startPlugin(plugin, { script_user: 'root', enable_script_security: true, instances: { VI_1: { master: { line: unsafe } } } });
  try {
    strict.emit(transition('VI_1', 'backup', 'master'));
    await strict.idle();
    assert.deepEqual(lines(out), []);
    assert.ok(strict.recorded.logs.some((l) => l.level === 'error' && l.msg.includes('notify_master of instance VI_1') && l.msg.includes('unsafe permissions')), JSON.stringify(strict.recorded.logs));
  } finally {
    await strict.stop();
  }
  const lax = await startPlugin(plugin, { instances: { VI_1: { master: { line: unsafe } } } });
  try {
    lax.emit(transition('VI_1', 'backup', 'master'));
    await lax.idle();
    assert.deepEqual(lines(out), ['ran']);
    assert.ok(lax.recorded.logs.some((l) => l.level === 'warn' && l.msg.includes('unsafe permissions')));
    assert.ok(lax.recorded.logs.some((l) => l.level === 'warn' && l.msg.startsWith('SECURITY VIOLATION') && l.msg.includes('insecure scripts')));
  } finally {
    await lax.stop();
  }
});

test('a missing script is disabled at start and reported, never run', async () => {
  const h = await startPlugin(plugin, { instances: { VI_1: { master: { line: join(dir, 'nope.sh') } } } });
  try {
    assert.ok(h.recorded.logs.some((l) => l.level === 'error' && l.msg.includes('nope.sh') && l.msg.includes('disabled')), JSON.stringify(h.recorded.logs));
    h.emit(transition('VI_1', 'backup', 'master'));
    await h.idle();
    assert.deepEqual(h.recorded.errors, []);
  } finally {
    await h.stop();
  }
});

test('script_user and a per-script user: the script runs as that user', { skip: process.getuid?.() !== 0 || !lookupUser('nobody') ? 'needs root and user nobody' : false }, async () => {
  const nobody = lookupUser('nobody');
  assert.ok(nobody);
  const shared = mkdtempSync(join(tmpdir(), 'vigil-notify-user-'));
  try {
    chmodSync(shared, 0o777); // the output dir, writable by nobody
    chmodSync(dir, 0o755); // the scripts' dir, readable by nobody (still root-owned and safe)
    const out = join(shared, 'ids.log');
    const ids = script(`echo "$1 $(id -u) $(id -g)" >> '${out}'`);
    const h = await startPlugin(plugin, {
      script_user: 'nobody',
      instances: { VI_1: { master: { line: `${ids} default` }, backup: { line: `${ids} own`, user: 'root' } } },
    });
    try {
      h.emit(transition('VI_1', 'backup', 'master'));
      h.emit(transition('VI_1', 'master', 'backup'));
      await h.idle();
      assert.deepEqual(lines(out), [`default ${nobody.uid} ${nobody.gid}`, 'own 0 0']);
    } finally {
      await h.stop();
    }
  } finally {
    chmodSync(dir, 0o700);
    rmSync(shared, { recursive: true, force: true });
  }
});

test('fromVigilConfig: scripts from instances and sync groups; nothing configured, no plugin', () => {
  const plain = { VI_1: { interface: 'eth0', virtual_router_id: 51 } };
  assert.equal(fromVigilConfig(configSchema.parse({ vrrp_instance: plain, vrrp_sync_group: { G1: { group: ['VI_1'] } } })), undefined);
  const config = configSchema.parse({
    vrrp_instance: { ...plain, VI_2: { interface: 'eth0', virtual_router_id: 52, notify_master: '/bin/m', notify: '/bin/n "a b"' } },
    global_defs: { script_user: 'nobody', enable_script_security: true },
    vrrp_sync_group: { G1: { group: ['VI_2'], notify_fault: '/bin/f' } },
    plugins: { 'notify-script': { timeout: 5 } },
  });
  assert.deepEqual(fromVigilConfig(config), {
    timeout: 5,
    script_user: 'nobody',
    enable_script_security: true,
    instances: { VI_2: { master: { line: '/bin/m' }, notify: { line: '/bin/n "a b"' } } },
    groups: { G1: { fault: { line: '/bin/f' } } },
  });
});
