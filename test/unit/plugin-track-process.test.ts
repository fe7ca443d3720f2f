// track-process: keepalived's matching rules on plain data, its config from keepalived.conf
// (vrrp_track_process and track_process), and the plugin counting real processes: copies of
// sleep under a name of this test's own, started and killed by PID.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, test } from 'node:test';
import plugin from '../../plugins/track-process/index.ts';
import { configSchema as schema } from '../../plugins/track-process/config.ts';
import { deriveTrackProcess as derive } from '../../src/config/plugin-sections/track-process.ts';
import { matches, quorumMet, readProcesses, type ProcessSpec } from '../../plugins/track-process/match.ts';
import { loadConfigText } from '../../src/config/load.ts';
import { startPlugin, type Harness } from '../lib/plugin-harness.ts';

let h: Harness | undefined;
let dir: string | undefined;
const children: ChildProcess[] = [];
afterEach(async () => {
  await h?.stop();
  h = undefined;
  for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  if (dir) rmSync(dir, { recursive: true, force: true });
  dir = undefined;
});

const proc = (name: string, argv: string[] = []) => ({ pid: 1, name, argv });
const spec = (s: Partial<ProcessSpec> & { process: string }): ProcessSpec => ({ full_command: false, ...s });

test('matching: the process name exactly, or the command line when parameters are involved', () => {
  // by name (comm): exact, not a pattern, and only the 15 characters the kernel keeps
  assert.ok(matches(spec({ process: 'haproxy' }), proc('haproxy', ['/usr/sbin/haproxy', '-f', 'x'])));
  assert.ok(!matches(spec({ process: 'ssh' }), proc('sshd')));
  assert.ok(matches(spec({ process: 'a-very-long-process-name' }), proc('a-very-long-pro')));
  // parameters: exact by default
  const withArgs = (params: string[], param_match?: ProcessSpec['param_match']) => spec({ process: '/usr/sbin/haproxy', params, param_match });
  const p = proc('haproxy', ['/usr/sbin/haproxy', '-f', '/etc/haproxy.cfg', '-D']);
  assert.ok(matches(withArgs(['-f', '/etc/haproxy.cfg', '-D']), p));
  assert.ok(!matches(withArgs(['-f', '/etc/haproxy.cfg']), p));
  // partial: the first n parameters exactly, more may follow
  assert.ok(matches(withArgs(['-f', '/etc/haproxy.cfg'], 'partial'), p));
  assert.ok(!matches(withArgs(['-f', '/etc/hap'], 'partial'), p));
  // initial: as partial, and the last configured one may be the start of a longer one
  assert.ok(matches(withArgs(['-f', '/etc/hap'], 'initial'), p));
  assert.ok(!matches(withArgs(['-x', '/etc/hap'], 'initial'), p));
  // param_match without parameters: no parameters at all
  assert.ok(!matches(spec({ process: '/usr/sbin/haproxy', param_match: 'exact' }), p));
  assert.ok(matches(spec({ process: '/usr/sbin/haproxy', param_match: 'exact' }), proc('haproxy', ['/usr/sbin/haproxy'])));
  // full_command alone: argv[0], whatever the parameters
  assert.ok(matches(spec({ process: '/usr/sbin/haproxy', full_command: true }), p));
  assert.ok(!matches(spec({ process: 'haproxy', full_command: true }), p));
  // quorum and quorum_max
  assert.ok(quorumMet(1, 1, undefined));
  assert.ok(!quorumMet(0, 1, undefined));
  assert.ok(!quorumMet(2, 1, 1), 'quorum_max 1: two running is a failure');
  assert.ok(quorumMet(0, 0, 0), 'quorum 0, quorum_max 0: success while none runs');
});

test('readProcesses sees this process, with its command line when asked', () => {
  const me = readProcesses(true).find((p) => p.pid === process.pid);
  assert.ok(me);
  assert.deepEqual(me.argv.slice(-process.argv.length + 1), process.argv.slice(1), "its command line, as node itself saw it");
  assert.deepEqual(readProcesses(false).find((p) => p.pid === process.pid)?.argv, []);
});

test('keepalived.conf: vrrp_track_process and track_process, weights resolved as keepalived does', () => {
  const r = loadConfigText(
    `vrrp_track_process chk_haproxy {
    process "/usr/sbin/haproxy" -f "/etc/haproxy/haproxy.cfg"
    param_match partial
    weight -20
    quorum 2
    quorum_max 4
    delay 1.5
}
vrrp_track_process chk_sshd {
    process sshd
    weight 0 reverse
    fork_delay 0.5
}
vrrp_instance VI_1 {
    interface eth0
    virtual_router_id 51
    priority 100
    virtual_ipaddress {
        192.0.2.100/24
    }
    track_process {
        chk_haproxy
        chk_sshd weight 10
    }
}
`,
    'keepalived.conf',
  );
  assert.deepEqual(r.diagnostics.filter((d) => d.severity === 'error'), []);
  assert.ok(r.config);
  assert.deepEqual(r.config.vrrp_track_process.chk_haproxy, {
    process: '/usr/sbin/haproxy',
    params: ['-f', '/etc/haproxy/haproxy.cfg'],
    param_match: 'partial',
    weight: -20,
    weight_reverse: false,
    quorum: 2,
    quorum_max: 4,
    fork_delay: 1.5,
    terminate_delay: 1.5,
    full_command: false,
  });
  assert.deepEqual(schema.parse(derive(r.config)), {
    checks: {
      chk_haproxy: { process: '/usr/sbin/haproxy', params: ['-f', '/etc/haproxy/haproxy.cfg'], param_match: 'partial', full_command: false, quorum: 2, quorum_max: 4, fork_delay_ms: 1500, terminate_delay_ms: 1500 },
      chk_sshd: { process: 'sshd', full_command: false, quorum: 1, fork_delay_ms: 500, terminate_delay_ms: 0 },
    },
    tracks: [
      { instance: 'VI_1', check: 'chk_haproxy', weight: -20, reverse: false },
      { instance: 'VI_1', check: 'chk_sshd', weight: 10, reverse: false },
    ],
    scan_interval_ms: 500,
  });

  const bad = loadConfigText('vrrp_instance VI_1 {\n interface eth0\n virtual_router_id 51\n track_process {\n  nope\n }\n}\n', 'k.conf');
  assert.ok(bad.diagnostics.some((d) => d.severity === 'error' && /track_process 'nope' names no vrrp_track_process/.test(d.message)));
});

/** Starts a copy of sleep whose process name is `name`. */
function startNamed(name: string): ChildProcess {
  dir ??= mkdtempSync(join(tmpdir(), 'vigil-track-process-'));
  const exe = join(dir, name);
  try {
    copyFileSync('/bin/sleep', exe, 0);
  } catch {
    // already copied
  }
  const c = spawn(exe, ['60'], { stdio: 'ignore' });
  children.push(c);
  return c;
}

async function waitFor(what: string, cond: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

async function stopChild(c: ChildProcess): Promise<void> {
  if (c.exitCode !== null || c.signalCode !== null) return;
  await new Promise((r) => {
    c.once('exit', r);
    c.kill('SIGKILL');
  });
}

test('real processes: quorum gained and lost move the priority; weight 0 holds FAULT', async () => {
  const name = `vgtp${process.pid % 100000}`;
  const a = startNamed(name);
  const config = {
    checks: { svc: { process: name, quorum: 2 } },
    tracks: [
      { instance: 'VI_1', check: 'svc', weight: -20 },
      { instance: 'VI_2', check: 'svc', weight: 0 },
    ],
    scan_interval_ms: 50,
  };
  const instances = [
    { name: 'VI_1', vrid: 51, interface: 'eth0', family: 4 as const, version: 2 as const, priority: 100, virtualAddresses: ['192.0.2.100/24'] },
    { name: 'VI_2', vrid: 52, interface: 'eth0', family: 4 as const, version: 2 as const, priority: 100, virtualAddresses: ['192.0.2.101/24'] },
  ];
  await waitFor('the first sleep', () => readProcesses(false).some((p) => p.name === name));
  h = await startPlugin(plugin, config, instances);
  const weight = () => h?.weights()['VI_1/track_process:svc'] ?? 0;
  const faults = () => h?.faultsInForce().VI_2 ?? [];
  // one of two: quorum not met from the first scan
  assert.equal(weight(), -20);
  assert.deepEqual(faults(), ['track_process:svc']);

  const b = startNamed(name);
  await waitFor('quorum met', () => weight() === 0 && faults().length === 0);
  assert.ok(h.recorded.logs.some((l) => l.msg.includes(`2 process(es) named ${name}, quorum met`)));

  await stopChild(b);
  await waitFor('quorum lost', () => weight() === -20 && faults().length === 1);
  await stopChild(a);
});

test('real processes: a restart within terminate_delay does not count', async () => {
  const name = `vgtd${process.pid % 100000}`;
  const a = startNamed(name);
  await waitFor('the process', () => readProcesses(false).some((p) => p.name === name));
  h = await startPlugin(plugin, { checks: { svc: { process: name, terminate_delay_ms: 1500 } }, tracks: [{ instance: 'VI_1', check: 'svc', weight: 0 }], scan_interval_ms: 50 });
  assert.deepEqual(h.faultsInForce().VI_1 ?? [], []);
  await stopChild(a);
  await new Promise((r) => setTimeout(r, 300)); // several scans see none running
  startNamed(name);
  await new Promise((r) => setTimeout(r, 1800)); // past the delay, with the process back
  assert.deepEqual(h.recorded.faults, [], 'no FAULT for a process that came back within terminate_delay');
  // and a loss that lasts does count, after the delay
  for (const c of children) await stopChild(c);
  await waitFor('FAULT after terminate_delay', () => (h?.faultsInForce().VI_1 ?? []).length === 1, 5000);
});
