// The overlay (src/config/overlay.ts): vigil-only YAML merged over a keepalived.conf that
// keepalived itself still reads; and `vigil -t` reporting every stage's problems in one run.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { formatDiagnostic, type Diagnostic } from '../../src/config/diagnostics.ts';
import { loadConfigFile, type LoadOptions } from '../../src/config/load.ts';
import { mergeOverlay } from '../../src/config/overlay.ts';
import { needs } from '../lib/require.ts';
import { builtinSections } from '../../src/plugins/sections.ts';

const dir = mkdtempSync(join(tmpdir(), 'vigil-overlay-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
const bin = new URL('../../bin/vigil', import.meta.url).pathname;
const host: LoadOptions = { interfaces: new Map([['eth0', ['192.0.2.1']]]), configId: 'node1', plugins: builtinSections() };

const CONF = `vrrp_instance VI_1 {
    interface eth0
    virtual_router_id 51
    priority 100
    virtual_ipaddress {
        192.0.2.100/24
    }
}
`;

/** A keepalived.conf and, when given, its default overlay next to it. */
function pair(conf: string, overlay?: string): { conf: string; overlay: string } {
  const c = join(dir, `k${n++}.conf`);
  writeFileSync(c, conf);
  if (overlay !== undefined) writeFileSync(c + '.vigil.yaml', overlay, { mode: 0o600 });
  return { conf: c, overlay: c + '.vigil.yaml' };
}

const lines = (ds: Diagnostic[]) => ds.map(formatDiagnostic);

describe('the overlay', () => {
  test('FILE.vigil.yaml next to a keepalived.conf is merged over it: vigil sections added, maps merged, lists replaced', () => {
    const p = pair(
      CONF,
      [
        'control:',
        '  http:',
        '    listen: 127.0.0.1:9651',
        'plugins:',
        '  webhook:',
        '    targets:',
        '      - url: http://127.0.0.1:9/hook',
        'global_defs:',
        '  plugin_user:',
        "    '*': nobody",
        'vrrp_instance:',
        '  VI_1:',
        '    priority: 120',
        '    virtual_ipaddress:',
        '      - address: 192.0.2.101/24',
        '',
      ].join('\n'),
    );
    const r = loadConfigFile(p.conf, host);
    assert.deepEqual(lines(r.diagnostics), []);
    assert.equal(r.overlay, p.overlay);
    const c = r.config;
    assert.ok(c);
    assert.equal(c.control.http?.listen, '127.0.0.1:9651');
    assert.equal((c.plugins.webhook as { targets: Array<{ url: string }> }).targets[0]?.url, 'http://127.0.0.1:9/hook');
    assert.deepEqual(c.global_defs.plugin_user, { '*': 'nobody' });
    // merged: the keepalived.conf fields stay, the overlay's replace
    assert.equal(c.vrrp_instance.VI_1?.interface, 'eth0');
    assert.equal(c.vrrp_instance.VI_1?.virtual_router_id, 51);
    assert.equal(c.vrrp_instance.VI_1?.priority, 120);
    assert.deepEqual(c.vrrp_instance.VI_1?.virtual_ipaddress, [{ address: '192.0.2.101/24' }]);
  });

  test('keepalived reads the keepalived.conf as before (the overlay is not its business)', { ...needs('/usr/sbin/keepalived') }, () => {
    // keepalived -t exits 0 on a file it has nothing to say about (an interface it has: the
    // host's first non-loopback one)
    const ifname = spawnSync('ls', ['/sys/class/net'], { encoding: 'utf8' }).stdout.split('\n').find((i) => i && i !== 'lo') ?? 'eth0';
    const p = pair(CONF.replace('interface eth0', `interface ${ifname}`), 'control:\n  http: {}\n');
    const k = spawnSync('/usr/sbin/keepalived', ['-t', '-f', p.conf], { encoding: 'utf8' });
    assert.equal(k.status, 0, k.stderr);
    assert.equal(k.stderr + k.stdout, '');
  });

  test('merge rule: maps by key, everything else replaces', () => {
    assert.deepEqual(mergeOverlay({ a: { b: 1, c: [1, 2] }, d: 1 }, { a: { c: [3], e: 2 }, f: null }), { a: { b: 1, c: [3], e: 2 }, d: 1, f: null });
  });

  test('every problem points into the file the field came from', () => {
    const p = pair(CONF.replace('virtual_router_id 51', 'virtual_router_id 300'), 'plugins:\n  webhook:\n    targets:\n      - url: 42\ncontrol:\n  http:\n    listen: 127.0.0.1:1\n    tokn: x\n');
    const r = loadConfigFile(p.conf, host);
    assert.equal(r.config, null);
    const got = lines(r.diagnostics).map((l) => l.replace(p.overlay, 'O').replace(p.conf, 'C'));
    assert.ok(got.includes('C:3:5: vrrp_instance.VI_1.virtual_router_id: must be 1..255'), got.join('\n'));
    assert.ok(got.some((l) => /^O:4:14: plugins\.webhook\.targets\.0\.url: /.test(l)), got.join('\n'));
    assert.ok(got.some((l) => /^O:7:5: control\.http: .*tokn/.test(l)), got.join('\n'));
  });

  test('an overlay field that overrides the config points into the overlay', () => {
    const p = pair(CONF, 'vrrp_instance:\n  VI_1:\n    priority: 0\n');
    const r = loadConfigFile(p.conf, host);
    assert.deepEqual(lines(r.diagnostics), [`${p.overlay}:3:15: vrrp_instance.VI_1.priority: must be 1..255`]);
  });

  test('an unknown section is a warning; an overlay that is not a map, or a missing --overlay file, an error', () => {
    const p = pair(CONF, 'contrl:\n  http: {}\n');
    assert.match(lines(loadConfigFile(p.conf, host).diagnostics).join('\n'), /\.vigil\.yaml:2:3: contrl: warning: 'contrl' is not a section of vigil's config/);
    const q = pair(CONF, '- a\n- b\n');
    assert.match(lines(loadConfigFile(q.conf, host).diagnostics).join('\n'), /overlay: the overlay must be a YAML map/);
    const missing = loadConfigFile(pair(CONF).conf, { ...host, overlay: join(dir, 'nosuch.yaml') });
    assert.equal(missing.config, null);
    assert.match(lines(missing.diagnostics).join('\n'), /nosuch\.yaml:1:1: overlay: cannot read the overlay/);
  });

  test('overlay: false ignores the default one; a YAML config gets one only when named', () => {
    const p = pair(CONF, 'vrrp_instance:\n  VI_1:\n    priority: 0\n');
    assert.deepEqual(loadConfigFile(p.conf, { ...host, overlay: false }).diagnostics, []);
    const y = join(dir, 'v.yaml');
    writeFileSync(y, 'vrrp_instance:\n  VI_1:\n    interface: eth0\n    virtual_router_id: 5\n');
    writeFileSync(y + '.vigil.yaml', 'control:\n  http: {}\n');
    assert.equal(loadConfigFile(y, host).config?.control.http, undefined);
    assert.equal(loadConfigFile(y, { ...host, overlay: y + '.vigil.yaml' }).config?.control.http?.listen, '127.0.0.1:9650');
  });

  test('a token in an overlay others can read is warned about, at its place in the overlay', () => {
    const p = pair(CONF, 'control:\n  http:\n    token: s3cret\n');
    spawnSync('chmod', ['644', p.overlay]);
    const r = loadConfigFile(p.conf, host);
    assert.match(lines(r.diagnostics).join('\n'), new RegExp(`${p.overlay}:3:12: control\\.http\\.token: warning: the token is in a file others can read .*chmod 600 ${p.overlay}`));
  });

  test('vigil -t and vigil convert use the overlay (default and --overlay)', () => {
    const p = pair(CONF.replace('interface eth0', 'interface lo'), 'control:\n  http:\n    listen: 127.0.0.1:9652\n');
    const t = spawnSync(bin, ['-t', '-f', p.conf], { encoding: 'utf8' });
    assert.equal(t.status, 0, t.stderr);
    assert.match(t.stderr, new RegExp(`${p.conf} \\+ ${p.overlay}: valid keepalived.conf configuration`));
    const c = spawnSync(bin, ['convert', p.conf], { encoding: 'utf8' });
    assert.equal(c.status, 0, c.stderr);
    assert.match(c.stdout, /listen: 127\.0\.0\.1:9652/);
    const other = join(dir, 'other.yaml');
    writeFileSync(other, 'vrrp_instance:\n  VI_1:\n    virtual_router_id: 0\n', { mode: 0o600 });
    const bad = spawnSync(bin, ['-t', '-f', p.conf, '--overlay', other], { encoding: 'utf8' });
    assert.equal(bad.status, 1);
    assert.ok(bad.stderr.includes(`${other}:3:24: vrrp_instance.VI_1.virtual_router_id: must be 1..255`), bad.stderr);
  });
});

describe('vigil -t reports every stage in one run', () => {
  test('reader, schema, semantic and plugin-section errors together', () => {
    const p = pair(
      `vrrp_instance VI_1 {
    interface eth0
    virtual_router_id 51
    priority 300
    advert_int x
    bogus_keyword
    track_script {
        chk_missing
    }
    virtual_ipaddress {
        192.0.2.100/24
    }
}
vrrp_instance VI_2 {
    virtual_router_id 52
}
vrrp_sync_group G {
    group {
        VI_1
        VI_2
    }
}
`,
      'plugins:\n  webhook:\n    targets:\n      - url: 42\n',
    );
    const r = loadConfigFile(p.conf, host);
    const got = lines(r.diagnostics).map((l) => l.replace(p.overlay, 'O').replace(p.conf, 'C'));
    assert.deepEqual(got, [
      "C:5:5: vrrp_instance.VI_1.advert_int: expected a number, got 'x'",
      "C:6:5: vrrp_instance.VI_1.bogus_keyword: unknown keyword 'bogus_keyword'",
      'C:4:5: vrrp_instance.VI_1.priority: must be 1..255',
      'C:14:1: vrrp_instance.VI_2.interface: Invalid input: expected string, received undefined',
      'O:4:14: plugins.webhook.targets.0.url: Invalid input: expected string, received number',
      "C:8:9: vrrp_instance.VI_1.track_script.0: track_script 'chk_missing' names no vrrp_script",
    ]);
    // VI_1 is checked with priority and advert_int left at their defaults; VI_2 (no interface)
    // is left out for the later stages: "'VI_2' is not a vrrp_instance" would only repeat it
    assert.equal(r.config, null);
  });
});

describe('the daemon', () => {
  test('watches the overlay: a bad one is rejected (the running config stays), a good one applied', { ...needs('root') }, async () => {
    const p = pair(CONF.replace('interface eth0', 'interface vigilnone0'), 'vrrp_instance:\n  VI_1:\n    priority: 110\n');
    const child = spawn(bin, ['-n', '-l', '-G', '--no-supervise', '-f', p.conf, '-p', join(dir, 'd.pid')], { stdio: ['ignore', 'ignore', 'pipe'] });
    let log = '';
    child.stderr.on('data', (b: Buffer) => (log += b.toString()));
    const waitFor = async (re: RegExp, ms = 10_000) => {
      const end = Date.now() + ms;
      while (!re.test(log)) {
        if (Date.now() > end) throw new Error(`timed out waiting for ${re}; log:\n${log}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    };
    try {
      await waitFor(new RegExp(`from ${p.conf} and the overlay ${p.overlay}`));
      await waitFor(/control socket/);
      // the watcher is up a moment after the control socket
      await new Promise((r) => setTimeout(r, 700));
      writeFileSync(p.overlay, 'vrrp_instance:\n  VI_1:\n    priority: 300\n');
      await waitFor(/reload rejected/);
      assert.ok(log.includes(`${p.overlay}:3:15: vrrp_instance.VI_1.priority: must be 1..255`), log);
      writeFileSync(p.overlay, 'vrrp_instance:\n  VI_1:\n    priority: 120\n');
      await waitFor(/config file changed: reloaded; .*VI_1/);
    } finally {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
    }
  });
});
