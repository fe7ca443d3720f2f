// Configuration: keepalived.conf grammar, the Debian samples, a table of bad configs with the
// exact line each error must carry, YAML positions, round trips, plugin sections and the CLI.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import { formatDiagnostic, type Diagnostic } from '../../src/config/diagnostics.ts';
import { detectFormat, loadConfigFile, loadConfigText, type LoadOptions } from '../../src/config/load.ts';
import { PluginSectionRegistry } from '../../src/config/plugin-sections.ts';
import { inventoryCheck } from '../../src/plugins/inventory.ts';
import { builtinNames } from '../../src/plugins/loader.ts';
import { configSchema } from '../../src/config/schema.ts';
import { toYaml } from '../../src/config/yaml.ts';
import { builtinSections } from '../../src/plugins/sections.ts';

const dir = mkdtempSync(join(tmpdir(), 'vigil-config-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;

/** The host as these tests see it: eth0 with 192.0.2.1, so results do not depend on the box. */
const host: LoadOptions = { interfaces: new Map([['eth0', ['192.0.2.1', 'fe80::1']]]), configId: 'node1', plugins: builtinSections() };

function write(text: string, name = `c${n++}.conf`): string {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
}

function load(text: string, opts: LoadOptions = host) {
  const file = write(text);
  return { file, ...loadConfigFile(file, opts) };
}

const lines = (ds: Diagnostic[]) => ds.map(formatDiagnostic);

const MINIMAL = `vrrp_instance VI_1 {
    interface eth0
    virtual_router_id 51
    virtual_ipaddress {
        192.0.2.100/24
    }
}
`;

describe('keepalived.conf grammar', () => {
  test('a minimal instance gets keepalived defaults', () => {
    const r = load(MINIMAL);
    assert.deepEqual(r.diagnostics, []);
    const vi = r.config?.vrrp_instance.VI_1;
    assert.equal(vi?.priority, 100);
    assert.equal(vi?.advert_int, 1);
    assert.equal(vi?.state, 'BACKUP');
    assert.equal(vi?.nopreempt, false);
    assert.deepEqual(vi?.virtual_ipaddress, [{ address: '192.0.2.100/24' }]);
    assert.equal(r.config?.global_defs.vrrp_version, 2);
  });

  test('comments (# and !), quotes, braces on their own line, multi-word values', () => {
    const r = load(`! a comment
global_defs   # trailing comment
{
   router_id "my router" ! another
}
vrrp_instance VI_1 { # brace on the line
    interface eth0
    virtual_router_id 51
    notify_master "/usr/local/bin/notify.sh  MASTER # not a comment"
    notify_backup /usr/local/bin/notify.sh nobody nogroup
    virtual_ipaddress {
        192.0.2.100/24 dev eth0 scope global label eth0:1 brd 192.0.2.255
    }
}
`);
    assert.deepEqual(r.diagnostics, []);
    assert.equal(r.config?.global_defs.router_id, 'my router');
    const vi = r.config?.vrrp_instance.VI_1;
    assert.equal(vi?.notify_master, '/usr/local/bin/notify.sh  MASTER # not a comment');
    // keepalived: the first word is the command line, the words after it user and group
    assert.deepEqual(vi?.notify_backup, { script: '/usr/local/bin/notify.sh', user: 'nobody', group: 'nogroup' });
    assert.deepEqual(vi?.virtual_ipaddress[0], {
      address: '192.0.2.100/24',
      dev: 'eth0',
      scope: 'global',
      label: 'eth0:1',
      brd: '192.0.2.255',
    });
  });

  test("IPv6 VIPs skip DAD unless '-nodad' asks for it, as in keepalived", () => {
    const r = load(`vrrp_instance VI_1 {
    interface eth0
    virtual_router_id 51
    version 3
    virtual_ipaddress {
        2001:db8::100/64 -nodad
        2001:db8::101/64 dev eth0
    }
}
`);
    assert.deepEqual(r.diagnostics, []);
    assert.deepEqual(r.config?.vrrp_instance.VI_1?.virtual_ipaddress, [
      { address: '2001:db8::100/64', dad: true },
      { address: '2001:db8::101/64', dev: 'eth0' },
    ]);
  });

  test('include with a glob, relative to the including file, in sorted order', () => {
    const sub = join(dir, `inc${n++}`);
    mkdirSync(sub);
    writeFileSync(join(sub, 'b.conf'), MINIMAL.replace('VI_1', 'VI_B').replace('51', '52'));
    writeFileSync(join(sub, 'a.conf'), MINIMAL.replace('VI_1', 'VI_A').replace('51', '53'));
    writeFileSync(join(sub, 'skip.txt'), 'garbage {');
    const main = join(sub, 'main.conf');
    writeFileSync(main, 'include *.conf.d\ninclude [ab].conf\n');
    const r = loadConfigFile(main, host);
    assert.deepEqual(lines(r.diagnostics), [`${main}:1:1: include: warning: no file matches *.conf.d`]);
    assert.deepEqual(Object.keys(r.config?.vrrp_instance ?? {}), ['VI_A', 'VI_B']);
  });

  test('errors inside an included file name that file and line', () => {
    const inc = write('vrrp_instance VI_9 {\n    interface eth0\n    virtual_router_id 300\n}\n', `inc${n++}.conf`);
    const r = load(`include ${inc}\n`);
    assert.deepEqual(lines(r.diagnostics), [`${inc}:3:5: vrrp_instance.VI_9.virtual_router_id: must be 1..255`]);
  });

  test('$VAR definitions and substitution, also ${VAR} and multi-word values', () => {
    const r = load(`$IFACE=eth0
$VIPS=192.0.2.100/24 dev eth0
vrrp_instance VI_1 {
    interface $IFACE
    virtual_router_id 51
    virtual_ipaddress {
        $VIPS
        198.51.100.1/\${PFX}
    }
}
`);
    // an undefined variable is left as written (a warning), which makes that VIP invalid:
    // skipped with a warning, as keepalived skips it; the rest loads
    assert.deepEqual(
      r.diagnostics.map((d) => `${d.line}:${d.severity}:${d.field}`),
      ['8:warning:$PFX', '8:warning:vrrp_instance.VI_1.virtual_ipaddress'],
    );
    assert.deepEqual(r.config?.vrrp_instance.VI_1?.virtual_ipaddress, [{ address: '192.0.2.100/24', dev: 'eth0' }]);
    const vi = load(`$IFACE=eth0\n$PFX=32\nvrrp_instance VI_1 {\n interface \${IFACE}\n virtual_router_id 51\n virtual_ipaddress {\n  198.51.100.1/$PFX\n }\n}\n`);
    assert.deepEqual(vi.diagnostics, []);
    assert.equal(vi.config?.vrrp_instance.VI_1?.interface, 'eth0');
    assert.equal(vi.config?.vrrp_instance.VI_1?.virtual_ipaddress[0]?.address, '198.51.100.1/32');
  });

  test('@id lines apply only to their config id; @^id lines to every other', () => {
    const text = `vrrp_instance VI_1 {
    interface eth0
    virtual_router_id 51
@node1    priority 150
@node2    priority 50
@^node1   advert_int 3
    virtual_ipaddress {
        192.0.2.100/24
    }
}
`;
    const one = load(text, { ...host, configId: 'node1' });
    assert.equal(one.config?.vrrp_instance.VI_1?.priority, 150);
    assert.equal(one.config?.vrrp_instance.VI_1?.advert_int, 1);
    const two = load(text, { ...host, configId: 'node2' });
    assert.equal(two.config?.vrrp_instance.VI_1?.priority, 50);
    assert.equal(two.config?.vrrp_instance.VI_1?.advert_int, 3);
  });

  test('format detection by content, not by extension', () => {
    assert.equal(detectFormat('# c\nglobal_defs:\n  router_id: x\n'), 'yaml');
    assert.equal(detectFormat('! c\nglobal_defs {\n}\n'), 'keepalived');
    assert.equal(detectFormat('vrrp_instance VI_1 {\n}\n'), 'keepalived');
  });
});

describe('bad configs: each problem with its exact place', () => {
  const table: Array<[string, string, string[]]> = [
    [
      'VRID out of range',
      MINIMAL.replace('virtual_router_id 51', 'virtual_router_id 300'),
      ['F:3:5: vrrp_instance.VI_1.virtual_router_id: must be 1..255'],
    ],
    [
      'unknown keyword in an instance',
      MINIMAL.replace('    interface eth0\n', '    interface eth0\n    interfcae eth1\n'),
      ["F:3:5: vrrp_instance.VI_1.interfcae: unknown keyword 'interfcae'"],
    ],
    [
      'duplicate VRID on one interface',
      MINIMAL + MINIMAL.replace('VI_1', 'VI_2').replace('192.0.2.100', '192.0.2.101'),
      ['F:10:5: vrrp_instance.VI_2.virtual_router_id: VRID 51 is already used by VI_1 on eth0'],
    ],
    [
      'track_script naming no vrrp_script',
      MINIMAL.replace('    virtual_ipaddress {', '    track_script {\n        chk_missing\n    }\n    virtual_ipaddress {'),
      ["F:5:9: vrrp_instance.VI_1.track_script.0: track_script 'chk_missing' names no vrrp_script"],
    ],
    [
      'a VIP that is not an address is skipped with a warning',
      MINIMAL.replace('        192.0.2.100/24\n', '        192.0.2.100/24\n        192.0.2.300\n'),
      ["F:6:9: vrrp_instance.VI_1.virtual_ipaddress: warning: '192.0.2.300' is not an IP address; skipped, as keepalived skips it"],
    ],
    [
      'a sync group across families',
      MINIMAL +
        MINIMAL.replace('VI_1', 'VI_6').replace('51', '52').replace('192.0.2.100/24', '2001:db8::100/64') +
        'vrrp_sync_group G1 {\n    group {\n        VI_1\n        VI_6\n    }\n}\n',
      ['F:16:5: vrrp_sync_group.G1.group: a sync group cannot mix IPv4 and IPv6 instances'],
    ],
    [
      'unicast_src_ip of the wrong family',
      MINIMAL.replace('    interface eth0\n', '    interface eth0\n    unicast_src_ip 2001:db8::1\n'),
      ['F:3:5: vrrp_instance.VI_1.unicast_src_ip: 2001:db8::1 is not an IPv4 address like the instance\'s'],
    ],
    [
      'a fractional advert_int with VRRPv2',
      MINIMAL.replace('    interface eth0\n', '    interface eth0\n    advert_int 0.5\n'),
      ['F:3:5: vrrp_instance.VI_1.advert_int: VRRPv2 carries whole seconds; 0.5 s cannot be sent (use version 3)'],
    ],
    [
      'an advert_int finer than centiseconds with VRRPv3',
      MINIMAL.replace('    interface eth0\n', '    interface eth0\n    version 3\n    advert_int 0.125\n'),
      ['F:4:5: vrrp_instance.VI_1.advert_int: VRRPv3 carries centiseconds; 0.125 s is not a multiple of 0.01 s'],
    ],
    [
      'an interface this host does not have is only a warning',
      MINIMAL.replace('interface eth0', 'interface eth7'),
      ['F:2:5: vrrp_instance.VI_1.interface: warning: interface eth7 does not exist on this host; the instance waits in FAULT until it appears'],
    ],
    [
      'priority 255 without owning an address',
      MINIMAL.replace('    interface eth0\n', '    interface eth0\n    priority 255\n'),
      ['F:3:5: vrrp_instance.VI_1.priority: warning: priority 255 is for the address owner, but no virtual address is an address of eth0 here; it runs at 255 all the same, as in keepalived 2.2.7: Master at once, preempting every other router, tracking weights ignored'],
    ],
    [
      'a number that is not one',
      MINIMAL.replace('    interface eth0\n', '    interface eth0\n    priority high\n'),
      ["F:3:5: vrrp_instance.VI_1.priority: expected an integer, got 'high'"],
    ],
    [
      // every stage runs (issue 14): what parsed is checked too
      'an unclosed block',
      'vrrp_instance VI_1 {\n    interface eth0\n',
      ["F:1:20: syntax: '{' is never closed", 'F:1:1: vrrp_instance.VI_1.virtual_router_id: required: must be 1..255 (only an instance elected on etcd goes without)'],
    ],
    ['a stray closing brace', '}\n', ["F:1:1: syntax: '}' without a matching '{'"]],
    ['an unknown top-level keyword', 'vrrp_instanse VI_1 {\n}\n', ["F:1:1: vrrp_instanse: unknown keyword 'vrrp_instanse'"]],
    [
      'an unknown keyword inside virtual_server is an error at its line (lvs-config.test.ts has the rest)',
      MINIMAL + 'virtual_server 192.0.2.100 80 {\n    lb_algo rr\n    nat_mask 255.255.255.0\n}\n',
      ["F:10:5: virtual_server.0.nat_mask: unknown keyword 'nat_mask'", 'F:8:1: virtual_server.0: warning: Virtual server has no real servers - ignoring'],
    ],
    [
      'IPv6 with VRRPv2',
      MINIMAL.replace('192.0.2.100/24', '2001:db8::100/64').replace('    interface eth0\n', '    interface eth0\n    version 2\n'),
      ['F:3:5: vrrp_instance.VI_1.version: VRRP version 2 does not support IPv6; use version 3'],
    ],
  ];
  for (const [what, text, expected] of table) {
    test(what, () => {
      const r = load(text);
      assert.deepEqual(lines(r.diagnostics), expected.map((e) => e.replace(/^F:/, `${r.file}:`)));
      const fatal = expected.some((e) => !e.includes(': warning: '));
      assert.equal(r.config === null, fatal, fatal ? 'errors reject the config' : 'warnings keep it');
    });
  }
});

describe('YAML', () => {
  test('a schema error points at the line and column of the YAML node', () => {
    const file = write(
      'vrrp_instance:\n  VI_1:\n    interface: eth0\n    virtual_router_id: 0\n    virtual_ipaddress:\n      - address: 192.0.2.100/24\n',
      `c${n++}.yaml`,
    );
    const r = loadConfigFile(file, host);
    assert.equal(r.format, 'yaml');
    assert.deepEqual(lines(r.diagnostics), [`${file}:4:24: vrrp_instance.VI_1.virtual_router_id: must be 1..255`]);
  });

  test('a missing required field points at its parent; unknown fields pass through zod untouched', () => {
    const r = loadConfigText('vrrp_instance:\n  VI_1:\n    virtual_router_id: 5\n', 'x.yaml', host);
    assert.deepEqual(lines(r.diagnostics), ['x.yaml:3:5: vrrp_instance.VI_1.interface: Invalid input: expected string, received undefined']);
  });

  test('YAML syntax errors carry their line', () => {
    const r = loadConfigText('vrrp_instance:\n  VI_1: [\n', 'x.yaml', host);
    assert.equal(r.config, null);
    assert.match(formatDiagnostic(r.diagnostics[0] as Diagnostic), /^x\.yaml:\d+:\d+: yaml: /);
  });
});

describe('plugin sections are validated by the plugin schema', () => {
  const registry = new PluginSectionRegistry();
  registry.register({ name: 'webhook', schema: z.object({ url: z.url(), timeout_ms: z.number().int().default(2000) }) });
  const base = 'vrrp_instance:\n  VI_1:\n    interface: eth0\n    virtual_router_id: 5\n    virtual_ipaddress: [{ address: 192.0.2.100 }]\n';

  test('a valid section passes, and stays as written: the plugin parses it with its defaults', () => {
    const r = loadConfigText(base + 'plugins:\n  webhook:\n    url: http://127.0.0.1:9/hook\n', 'p.yaml', { ...host, plugins: registry });
    assert.deepEqual(r.diagnostics, []);
    assert.deepEqual(r.config?.plugins.webhook, { url: 'http://127.0.0.1:9/hook' });
    assert.deepEqual(registry.get('webhook')?.schema?.parse(r.config?.plugins.webhook), { url: 'http://127.0.0.1:9/hook', timeout_ms: 2000 });
  });

  test('an invalid section is an error at its place; a section naming no plugin an error (the inventory check)', () => {
    const withInventory = new PluginSectionRegistry();
    withInventory.register({ name: 'webhook', schema: registry.get('webhook')!.schema!, builtin: true });
    withInventory.addCheck(inventoryCheck(builtinNames()));
    const r = loadConfigText(base + 'plugins:\n  webhook:\n    url: 42\n  nosuch: {}\n', 'p.yaml', { ...host, plugins: withInventory });
    const said = lines(r.diagnostics);
    assert.equal(said.length, 2, said.join('\n'));
    assert.equal(said[0], 'p.yaml:8:10: plugins.webhook.url: Invalid input: expected string, received number');
    assert.match(said[1]!, /^p\.yaml:9:11: plugins\.nosuch: no plugin nosuch: not a built-in \(.*webhook.*\) and no nosuch\.ts\|\.mts\|\.js\|\.mjs or nosuch\/index\.\* and no plugins_dir/);
    assert.equal(r.config, null);
  });
});

const SAMPLES = '/usr/share/doc/keepalived/samples';

describe("Debian keepalived's sample configs", () => {
  const samples = existsSync(SAMPLES) ? readdirSync(SAMPLES).filter((f) => f.startsWith('keepalived.conf')) : [];

  test('the samples are installed (scripts/install-test-deps.sh installs keepalived)', () => {
    assert.ok(samples.length >= 20, `found ${samples.length} samples in ${SAMPLES}`);
  });

  for (const name of samples) {
    test(`${name} loads, and keepalived.conf -> typed -> YAML -> typed is the identity`, () => {
      const file = join(SAMPLES, name);
      const r = loadConfigFile(file, { configId: 'high' });
      const errors = r.diagnostics.filter((d) => d.severity === 'error');
      assert.deepEqual(lines(errors), []);
      assert.ok(r.config);
      for (const d of r.diagnostics) assert.match(d.file, /keepalived\.conf/, 'every warning names its file');
      const again = loadConfigText(toYaml(r.config), 'roundtrip.yaml', { configId: 'high' });
      assert.deepEqual(again.diagnostics.filter((d) => d.severity === 'error'), []);
      assert.deepEqual(again.config, r.config);
    });
  }

  test('virtual_server sections are mapped (lvs-config.test.ts checks them in detail)', () => {
    const r = loadConfigFile(join(SAMPLES, 'keepalived.conf.sample'));
    assert.ok(!r.diagnostics.some((d) => d.field === 'virtual_server' && /not support/.test(d.message)));
    assert.equal(r.config?.virtual_server[0]?.ip, '10.10.10.2');
    assert.equal(r.config?.virtual_server[0]?.real_server[0]?.http_get[0]?.url[0]?.path, '/testurl3/test.jsp');
    assert.ok(Object.keys(r.config?.vrrp_instance ?? {}).length > 0, 'the VRRP part still maps');
  });
});

describe('the vigil command line', () => {
  const bin = new URL('../../bin/vigil', import.meta.url).pathname;
  const example = new URL('../../config/keepalived.conf', import.meta.url).pathname;

  test('vigil -t accepts the example configs and exits 0', () => {
    for (const f of ['keepalived.conf', 'example.yaml']) {
      const r = spawnSync(bin, ['-t', '-f', new URL(`../../config/${f}`, import.meta.url).pathname], { encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
      // a first run is clean: what -t finds is what the daemon would log (scripts included)
      assert.match(r.stderr, /valid .* configuration \(0 errors, 0 warnings\)/, r.stderr);
    }
  });

  test("vigil -t reports a script the daemon would disable, with the daemon's words, at its line", () => {
    const conf = write(MINIMAL.replace('    interface eth0\n', '    interface eth0\n    notify_master "/nonexistent/notify.sh master"\n'));
    const r = spawnSync(bin, ['-t', '-f', conf], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.ok(r.stderr.includes(`${conf}:3:5: vrrp_instance.VI_1.notify_master: warning: script /nonexistent/notify.sh cannot be accessed - ENOENT - disabling`), r.stderr);
  });

  test('vigil -t prints every problem as file:line:col: field: message and exits 1', () => {
    const bad = write(MINIMAL.replace('virtual_router_id 51', 'virtual_router_id 300').replace('    interface eth0\n', '    interface eth0\n    priority 0\n'));
    const r = spawnSync(bin, ['-t', '-f', bad], { encoding: 'utf8' });
    assert.equal(r.status, 1);
    assert.ok(r.stderr.includes(`${bad}:3:5: vrrp_instance.VI_1.priority: must be 1..255`), r.stderr);
    assert.ok(r.stderr.includes(`${bad}:4:5: vrrp_instance.VI_1.virtual_router_id: must be 1..255`), r.stderr);
  });

  test('vigil convert prints YAML that loads to the same config', () => {
    const yaml = execFileSync(bin, ['convert', example], { encoding: 'utf8' });
    const fromYaml = loadConfigText(yaml, 'converted.yaml');
    const fromConf = loadConfigFile(example);
    assert.ok(fromConf.config);
    assert.deepEqual(fromYaml.config, fromConf.config);
  });

  test('vigil schema prints a JSON Schema that knows the instance fields', () => {
    const schema = JSON.parse(execFileSync(bin, ['schema'], { encoding: 'utf8' })) as {
      properties: { vrrp_instance: { additionalProperties: { properties: Record<string, unknown>; required: string[] } } };
    };
    const inst = schema.properties.vrrp_instance.additionalProperties;
    assert.ok('virtual_router_id' in inst.properties && 'advert_int' in inst.properties && 'election' in inst.properties);
    // virtual_router_id is required for VRRP only (an instance elected on etcd has none): the
    // config check asks for it, the JSON Schema cannot say "unless election.etcd"
    assert.deepEqual(inst.required.sort(), ['interface']);
  });

  test('the schema module is the source of the types (a parse gives typed defaults)', () => {
    const c = configSchema.parse({});
    assert.equal(c.global_defs.vrrp_mcast_group4, '224.0.0.18');
    assert.deepEqual(c.vrrp_instance, {});
  });
});
