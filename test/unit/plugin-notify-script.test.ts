// notify-script with real scripts in a temp dir: keepalived's argument order, instance and group
// notifies, STOP at shutdown, strict per-instance order with a slow script, timeouts, script
// security, script_user, and the latency from event to script start (printed).
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { configSchema, type Config } from '../../src/config/schema.ts';
import type { EventBody } from '../../src/bus/events.ts';
import plugin from '../../plugins/notify-script/index.ts';
import { deriveNotifyScript } from '../../src/config/plugin-sections/notify-script.ts';

const derive = (config: Config) => deriveNotifyScript(config, config.plugins['notify-script']);
import { lookupUser } from '../../src/plugins/run.ts';
import { startPlugin, transition } from '../lib/plugin-harness.ts';
import { needs } from '../lib/require.ts';

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

test('script_user and a per-script user: the script runs as that user', { ...needs('root', 'user:nobody') }, async () => {
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

test('the derivation: scripts from instances and sync groups; nothing configured, no plugin', () => {
  const plain = { VI_1: { interface: 'eth0', virtual_router_id: 51 } };
  assert.equal(derive(configSchema.parse({ vrrp_instance: plain, vrrp_sync_group: { G1: { group: ['VI_1'] } } })), undefined);
  const config = configSchema.parse({
    vrrp_instance: { ...plain, VI_2: { interface: 'eth0', virtual_router_id: 52, notify_master: '/bin/m', notify: '/bin/n "a b"' } },
    global_defs: { script_user: 'nobody', enable_script_security: true },
    vrrp_sync_group: { G1: { group: ['VI_2'], notify_fault: '/bin/f' } },
    plugins: { 'notify-script': { timeout: 5 } },
  });
  assert.deepEqual(derive(config), {
    timeout: 5,
    script_user: 'nobody',
    enable_script_security: true,
    instances: { VI_2: { master: { line: '/bin/m' }, notify: { line: '/bin/n "a b"' } } },
    groups: { G1: { fault: { line: '/bin/f' } } },
  });
});

// ---- the load balancer's scripts (keepalived's checker: quorum_up / quorum_down, notify_up / notify_down)

const VS = '[192.0.2.100]:tcp:80';
const RS1 = '[198.51.100.10]:tcp:8080';
const RS2 = '[198.51.100.11]:tcp:8080';
const rsUp = (rs: string, vs = VS): EventBody => ({ type: 'realserver.up', virtualServer: vs, realServer: rs, weight: 1, reason: 'TCP_CHECK 198.51.100.10:8080: connected' });
const rsDown = (rs: string, vs = VS, reason = 'TCP_CHECK 198.51.100.10:8080: connection refused', inhibited = false): EventBody => ({
  type: 'realserver.down',
  virtualServer: vs,
  realServer: rs,
  reason,
  inhibited,
});
const quorum = (up: boolean, vs = VS): EventBody => ({ type: 'virtualserver.quorum', virtualServer: vs, up, weight: up ? 2 : 0, quorum: 1, hysteresis: 0, sorryServer: false });

/** Appends `label argc [args] uid` to `out`: what keepalived passes (nothing) and who runs it. */
const argvRecorder = (out: string): string => script(`echo "$# [$*] $(id -u)" >> '${out}'`);

test('LVS: quorum_up / quorum_down and notify_up / notify_down run as written, no arguments added, in event order', async () => {
  const out = join(dir, 'lvs.log');
  const rec = argvRecorder(out);
  const h = await startPlugin(plugin, {
    virtual_servers: {
      [VS]: {
        quorum_up: { line: `${rec} quorum-up` },
        quorum_down: { line: `${rec} quorum-down 'two words'` },
        real_servers: {
          [RS1]: { notify_up: { line: `${rec} rs1-up` }, notify_down: { line: `${rec} rs1-down` } },
          [RS2]: { notify_down: { line: `${rec} rs2-down` } },
        },
      },
      'FWM 5': { quorum_up: { line: `${rec} fwm-up` } },
    },
  });
  try {
    h.emit(quorum(true));
    h.emit(rsDown(RS1));
    h.emit(rsDown(RS2, VS, 'TCP_CHECK 198.51.100.11:8080: timeout', true)); // inhibited: down too
    h.emit(quorum(false));
    h.emit(rsUp(RS2)); // no notify_up configured for it
    h.emit(rsUp(RS1));
    h.emit(quorum(true));
    h.emit(quorum(true, 'FWM 5'));
    // names without scripts, and other virtual servers, run nothing
    h.emit(rsDown(RS1, '[192.0.2.200]:tcp:80'));
    h.emit(quorum(false, 'FWM 5'));
    await h.idle();
    const uid = process.getuid?.() ?? 0;
    // FWM 5 is another ordering key: its script may run at any point between the others
    assert.deepEqual(
      lines(out).filter((l) => !l.includes('fwm')),
      [`1 [quorum-up] ${uid}`, `1 [rs1-down] ${uid}`, `1 [rs2-down] ${uid}`, `2 [quorum-down two words] ${uid}`, `1 [rs1-up] ${uid}`, `1 [quorum-up] ${uid}`],
    );
    assert.deepEqual(
      lines(out).filter((l) => l.includes('fwm')),
      [`1 [fwm-up] ${uid}`],
    );
    assert.deepEqual(h.recorded.errors, []);
  } finally {
    await h.stop();
  }
});

test('LVS: notify_up / notify_down see the checker\'s reason in VIGIL_REASON (and the names and state)', async () => {
  const out = join(dir, 'lvs-env.log');
  const rec = script(`echo "$VIGIL_STATE|$VIGIL_VIRTUAL_SERVER|$VIGIL_REAL_SERVER|$VIGIL_REASON" >> '${out}'`);
  const h = await startPlugin(plugin, { virtual_servers: { [VS]: { real_servers: { [RS1]: { notify_up: { line: rec }, notify_down: { line: rec } } } } } });
  try {
    h.emit(rsDown(RS1, VS, 'HTTP_GET 198.51.100.10:8080: status 503 not in 200-299'));
    h.emit(rsUp(RS1));
    await h.idle();
    assert.deepEqual(lines(out), [
      `DOWN|${VS}|${RS1}|HTTP_GET 198.51.100.10:8080: status 503 not in 200-299`,
      `UP|${VS}|${RS1}|TCP_CHECK 198.51.100.10:8080: connected`,
    ]);
  } finally {
    await h.stop();
  }
});

test('LVS: one virtual server\'s scripts run one after another; another virtual server does not wait', async () => {
  const out = join(dir, 'lvs-slow.log');
  const slow = script(`echo "start $1 $(date +%s%N)" >> '${out}'; sleep 0.5; echo "end $1 $(date +%s%N)" >> '${out}'`);
  const fast = script(`echo "start $1 $(date +%s%N)" >> '${out}'; echo "end $1 $(date +%s%N)" >> '${out}'`);
  const h = await startPlugin(plugin, {
    virtual_servers: {
      [VS]: { quorum_down: { line: `${fast} vs-quorum-down` }, real_servers: { [RS1]: { notify_down: { line: `${slow} rs1-down` } } } },
      'FWM 5': { quorum_down: { line: `${fast} fwm-quorum-down` } },
    },
  });
  try {
    h.emit(rsDown(RS1));
    h.emit(quorum(false));
    h.emit(quorum(false, 'FWM 5'));
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
    assert.ok(at('start', 'vs-quorum-down') >= at('end', 'rs1-down'), 'quorum_down started before notify_down finished');
    assert.ok(at('start', 'fwm-quorum-down') < at('end', 'rs1-down'), 'FWM 5 waited for another virtual server');
  } finally {
    await h.stop();
  }
});

test('LVS: the plugin timeout kills a hung script; at an omega shutdown stop_timeout applies', async () => {
  const out = join(dir, 'lvs-timeout.log');
  const hang = script(`echo "hang $1" >> '${out}'; exec sleep 30`);
  const rec = argvRecorder(out);
  const h = await startPlugin(plugin, {
    timeout: 0.4,
    stop_timeout: 0.2,
    virtual_servers: { [VS]: { quorum_down: { line: `${hang} quorum-down` }, real_servers: { [RS1]: { notify_down: { line: `${hang} rs1-down` }, notify_up: { line: `${rec} rs1-up` } } } } },
  });
  try {
    h.emit(rsDown(RS1));
    h.emit(rsUp(RS1));
    await h.idle();
    h.emit(rsDown(RS1, VS, 'shutdown'));
    h.emit(quorum(false));
    await h.idle();
    const uid = process.getuid?.() ?? 0;
    assert.deepEqual(lines(out), ['hang rs1-down', `1 [rs1-up] ${uid}`, 'hang rs1-down', 'hang quorum-down']);
    const kills = h.recorded.logs.filter((l) => l.level === 'error' && l.msg.includes('timeout')).map((l) => l.msg);
    assert.deepEqual(kills, [
      `notify_down for ${RS1} in VS ${VS}: killed after 0.4 s (timeout)`,
      `notify_down for ${RS1} in VS ${VS}: killed after 0.2 s (timeout)`,
      `quorum_down for VS ${VS}: killed after 0.2 s (timeout)`,
    ]);
  } finally {
    await h.stop();
  }
});

test('LVS script security: an unsafe script is refused under enable_script_security and never run; the others still run', async () => {
  const out = join(dir, 'lvs-insecure.log');
  const unsafe = script(`echo ran >> '${out}'`, 0o777);
  const rec = argvRecorder(out);
  const h = await startPlugin(plugin, {
    script_user: 'root',
    enable_script_security: true,
    virtual_servers: { [VS]: { quorum_up: { line: unsafe }, real_servers: { [RS1]: { notify_down: { line: `${unsafe} down` }, notify_up: { line: `${rec} up` } } } } },
  });
  try {
    const errs = h.recorded.logs.filter((l) => l.level === 'error').map((l) => l.msg);
    assert.ok(errs.some((m) => m.startsWith(`quorum_up of virtual server ${VS} (`) && m.includes('unsafe permissions')), JSON.stringify(errs));
    assert.ok(errs.some((m) => m.startsWith(`notify_down of real server ${RS1} in virtual server ${VS} (`) && m.includes('unsafe permissions')), JSON.stringify(errs));
    h.emit(quorum(true));
    h.emit(rsDown(RS1));
    h.emit(rsUp(RS1));
    await h.idle();
    assert.deepEqual(lines(out), ['1 [up] 0']);
  } finally {
    await h.stop();
  }
});

test('LVS users: the script\'s own user, else script_user', { ...needs('root', 'user:nobody') }, async () => {
  const nobody = lookupUser('nobody');
  assert.ok(nobody);
  const shared = mkdtempSync(join(tmpdir(), 'vigil-notify-lvs-user-'));
  try {
    chmodSync(shared, 0o777);
    chmodSync(dir, 0o755);
    const out = join(shared, 'ids.log');
    const rec = argvRecorder(out);
    const h = await startPlugin(plugin, {
      script_user: 'nobody',
      virtual_servers: { [VS]: { quorum_up: { line: `${rec} default` }, real_servers: { [RS1]: { notify_up: { line: `${rec} own`, user: 'root' } } } } },
    });
    try {
      h.emit(quorum(true));
      h.emit(rsUp(RS1));
      await h.idle();
      assert.deepEqual(lines(out), [`1 [default] ${nobody.uid}`, '1 [own] 0']);
    } finally {
      await h.stop();
    }
  } finally {
    chmodSync(dir, 0o700);
    rmSync(shared, { recursive: true, force: true });
  }
});

test('the derivation: virtual servers\' scripts by keepalived\'s names; LVS scripts alone start the plugin', () => {
  const config = configSchema.parse({
    global_defs: { script_user: 'nobody' },
    virtual_server: [
      {
        ip: '192.0.2.100',
        port: 80,
        protocol: 'TCP',
        quorum_up: '/bin/qu "a b"',
        quorum_down: { script: '/bin/qd', user: 'root' },
        real_server: [
          { ip: '198.51.100.10', port: 8080, notify_up: '/bin/up', notify_down: { script: '/bin/down', user: 'nobody', group: 'nogroup' } },
          { ip: '198.51.100.11', port: 8080 },
        ],
      },
      { fwmark: 5, real_server: [{ ip: '198.51.100.12', notify_down: '/bin/fd' }] },
      // no scripts: left out
      { ip: '192.0.2.101', port: 443, protocol: 'TCP', real_server: [{ ip: '198.51.100.13', port: 443 }] },
    ],
  });
  assert.deepEqual(derive(config), {
    script_user: 'nobody',
    enable_script_security: false,
    instances: {},
    groups: {},
    virtual_servers: {
      '[192.0.2.100]:tcp:80': {
        quorum_up: { line: '/bin/qu "a b"' },
        quorum_down: { line: '/bin/qd', user: 'root' },
        real_servers: { '[198.51.100.10]:tcp:8080': { notify_up: { line: '/bin/up' }, notify_down: { line: '/bin/down', user: 'nobody', group: 'nogroup' } } },
      },
      'FWM 5': { real_servers: { '[198.51.100.12]:none:0': { notify_down: { line: '/bin/fd' } } } },
    },
  });
  // a virtual server without scripts starts nothing
  assert.equal(derive(configSchema.parse({ virtual_server: [{ ip: '192.0.2.101', port: 443, protocol: 'TCP', real_server: [{ ip: '198.51.100.13', port: 443 }] }] })), undefined);
});
