// What the real-config corpus found (issue 14): places where `vigil -t` said less than, or
// other than, keepalived 2.2.7's `keepalived -t`. Each expected message was checked against
// keepalived 2.2.7 (quoted in the comments); where vigil differs on purpose, docs/config.md says
// why.
import { after, describe, test } from 'node:test';
import { spawnSync } from 'node:child_process';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EventBus } from '../../src/bus/bus.ts';
import { formatDiagnostic, type Diagnostic } from '../../src/config/diagnostics.ts';
import { loadConfigFile, type LoadOptions } from '../../src/config/load.ts';
import { Engine } from '../../src/daemon/engine.ts';
import type { Logger } from '../../src/daemon/log.ts';
import { needs } from '../lib/require.ts';

const dir = mkdtempSync(join(tmpdir(), 'vigil-parity-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;

/** eth0 (192.0.2.1) and eth1 (no address) exist; nothing else does. */
const host: LoadOptions = { interfaces: new Map([['eth0', ['192.0.2.1']], ['eth1', []]]), configId: 'node1' };

function load(text: string) {
  const file = join(dir, `p${n++}.conf`);
  writeFileSync(file, text);
  const r = loadConfigFile(file, host);
  const lines = r.diagnostics.map((d: Diagnostic) => formatDiagnostic(d).replace(`${file}:`, 'F:'));
  return { ...r, file, lines };
}

const instance = (body: string, name = 'VI_1', vrid = 51) => `vrrp_instance ${name} {
    interface eth0
    virtual_router_id ${vrid}
${body}    virtual_ipaddress {
        192.0.2.100/24
    }
}
`;

describe('vrrp_garp_interval / vrrp_gna_interval', () => {
  // keepalived 2.2.7: "(Line 2) number '0' outside range [0.000001, 4294.967295]" then
  // "(Line 2) vrrp_garp_interval '0' is invalid"; the line is ignored
  test('0 is invalid, as keepalived says; the line is ignored (no delay, the default)', () => {
    const r = load('global_defs {\n    vrrp_garp_interval 0\n    vrrp_gna_interval 0\n}\n' + instance(''));
    assert.deepEqual(r.lines, [
      "F:2:5: global_defs.vrrp_garp_interval: warning: vrrp_garp_interval '0' is invalid (number '0' outside range [0.000001, 4294.967295]); ignored, as keepalived ignores it: no delay between announcements",
      "F:3:5: global_defs.vrrp_gna_interval: warning: vrrp_gna_interval '0' is invalid (number '0' outside range [0.000001, 4294.967295]); ignored, as keepalived ignores it: no delay between announcements",
    ]);
    assert.equal(r.config?.global_defs.vrrp_garp_interval, 0);
  });

  test('above the range and negative are invalid too; a value in range is kept', () => {
    const r = load('global_defs {\n    vrrp_garp_interval 5000\n    vrrp_gna_interval -1\n}\n' + instance(''));
    assert.match(r.lines[0] ?? '', /vrrp_garp_interval '5000' is invalid \(number '5000' outside range/);
    // keepalived: "negative number '-1'"
    assert.match(r.lines[1] ?? '', /vrrp_gna_interval '-1' is invalid \(negative number '-1'\)/);
    assert.ok(r.config, 'warnings keep the config');
    const ok = load('global_defs {\n    vrrp_garp_interval 0.5\n    vrrp_gna_interval 0.000001\n}\n' + instance(''));
    assert.deepEqual(ok.lines, []);
    assert.equal(ok.config?.global_defs.vrrp_garp_interval, 0.5);
    assert.equal(ok.config?.global_defs.vrrp_gna_interval, 0.000001);
  });
});

describe('block keywords written on one line', () => {
  // keepalived 2.2.7: "(Line 4) Block track_interface has extra parameters eth0 ...", then the
  // following lines are tracked interfaces ("tracked interface virtual_ipaddress doesn't exist")
  // and it does not start ("Non-existent interface specified in configuration")
  test('track_interface IF without braces is an error that says how to write it', () => {
    const r = load(instance('    track_interface eth1\n'));
    assert.deepEqual(r.lines, [
      `F:4:5: vrrp_instance.VI_1.track_interface: track_interface takes a { } block: write 'track_interface { eth1 }'. keepalived 2.2.7 reports "Block track_interface has extra parameters eth1 ..." and reads the lines after it as the block, up to the next '}'`,
    ]);
    assert.equal(r.config, null);
  });

  test('the same for track_script, virtual_ipaddress, unicast_peer and a sync group list', () => {
    const r = load(
      'vrrp_script chk {\n    script /bin/true\n}\n' +
        'vrrp_instance VI_1 {\n    interface eth0\n    virtual_router_id 51\n    track_script chk\n    unicast_peer 192.0.2.2\n    virtual_ipaddress 192.0.2.100\n}\n' +
        'vrrp_sync_group G {\n    group VI_1\n}\n',
    );
    const errors = r.diagnostics.filter((d) => d.severity === 'error').map((d) => `${d.line} ${d.field}`);
    assert.deepEqual(errors, ['7 vrrp_instance.VI_1.track_script', '8 vrrp_instance.VI_1.unicast_peer', '9 vrrp_instance.VI_1.virtual_ipaddress', '12 vrrp_sync_group.G.group']);
  });

  // keepalived 2.2.7 with `track_interface eth1` and `{` on the next line: only the
  // "extra parameters" message; the block is read
  test('words before a block on the next line are ignored with keepalived message', () => {
    const r = load(instance('    track_interface eth9\n    {\n        eth1 weight 5\n    }\n'));
    assert.deepEqual(r.lines, ['F:4:5: vrrp_instance.VI_1.track_interface: warning: Block track_interface has extra parameters eth9 ...; ignored, as keepalived ignores them']);
    assert.deepEqual(r.config?.vrrp_instance.VI_1?.track_interface, [{ name: 'eth1', weight: 5 }]);
  });

  test('two track_interface blocks add up, as in keepalived (the second no longer replaces the first)', () => {
    const r = load(instance('    track_interface {\n        eth1\n    }\n    track_interface {\n        eth2\n    }\n'));
    assert.deepEqual(r.lines, [
      // keepalived 2.2.7: "(VI_1) tracked interface eth2 doesn't exist", for the second block's entry
      `F:8:9: vrrp_instance.VI_1.track_interface.1: warning: tracked interface eth2 does not exist on this host; it counts as down until it appears (keepalived 2.2.7: "(VI_1) tracked interface eth2 doesn't exist", and without dynamic_interfaces it does not start)`,
    ]);
    assert.deepEqual(r.config?.vrrp_instance.VI_1?.track_interface.map((t) => t.name), ['eth1', 'eth2']);
  });
});

describe('vrrp_sync_group members outside group { }', () => {
  const two = instance('') + instance('', 'VI_2', 52).replace('192.0.2.100', '192.0.2.101');
  // keepalived 2.2.7: "(Line 2) Unknown keyword 'VI_1'", "(Line 3) Unknown keyword 'VI_2'",
  // "Sync group G1 has no virtual router(s). removing"; it runs without the group
  test('a bare member is reported and ignored; with no group { } the group is removed, as keepalived does, and said', () => {
    const r = load('vrrp_sync_group G1 {\n    VI_1\n    VI_2\n}\n' + two);
    assert.deepEqual(r.lines, [
      "F:2:5: vrrp_sync_group.G1.VI_1: warning: unknown keyword 'VI_1': members belong in group { ... }; ignored, as keepalived 2.2.7 ignores it (with no group { } block the sync group is removed: its instances do not move together)",
      "F:3:5: vrrp_sync_group.G1.VI_2: warning: unknown keyword 'VI_2': members belong in group { ... }; ignored, as keepalived 2.2.7 ignores it (with no group { } block the sync group is removed: its instances do not move together)",
      "F:1:1: vrrp_sync_group.G1: warning: Sync group G1 has no virtual router(s). removing (keepalived's words): its instances run on their own",
    ]);
    assert.deepEqual(r.config?.vrrp_sync_group, {});
  });

  test('a bare member next to a group { } list is ignored; the group keeps its list', () => {
    const r = load('vrrp_sync_group G1 {\n    group {\n        VI_1\n        VI_2\n    }\n    VI_3\n}\n' + two);
    assert.deepEqual(r.lines, ["F:6:5: vrrp_sync_group.G1.VI_3: warning: unknown keyword 'VI_3': members belong in group { ... }; ignored, as keepalived 2.2.7 ignores it"]);
    assert.deepEqual(r.config?.vrrp_sync_group.G1?.group, ['VI_1', 'VI_2']);
  });

  // keepalived 2.2.7: "(Line 5) Group list already specified for sync group G1"
  test('a second group { } is ignored (keepalived keeps the first)', () => {
    const r = load('vrrp_sync_group G1 {\n    group {\n        VI_1\n        VI_2\n    }\n    group {\n        VI_3\n    }\n}\n' + two);
    assert.deepEqual(r.lines, ['F:6:5: vrrp_sync_group.G1.group: warning: Group list already specified for sync group G1; this one is ignored, as keepalived 2.2.7 ignores it (list every member in one group { })']);
    assert.deepEqual(r.config?.vrrp_sync_group.G1?.group, ['VI_1', 'VI_2']);
  });
});

describe('interfaces that do not exist', () => {
  test('a tracked interface missing on this host is a warning, in instances and sync groups; the config loads', () => {
    const r = load(instance('    track_interface {\n        eth1\n        wan7 weight -10\n    }\n') + 'vrrp_sync_group G {\n    group {\n        VI_1\n    }\n    track_interface {\n        wan8\n    }\n}\n');
    assert.ok(r.config);
    assert.deepEqual(
      r.diagnostics.filter((d) => /does not exist/.test(d.message)).map((d) => `${d.line}:${d.col} ${d.field} ${d.severity}`),
      ['6:9 vrrp_instance.VI_1.track_interface.1 warning', '17:9 vrrp_sync_group.G.track_interface.0 warning'],
    );
  });

  // keepalived 2.2.7: "(VI_1) Ignoring track_interface eth0 since own interface"
  test("tracking the instance's own interface is said, in keepalived's words", () => {
    const r = load(instance('    track_interface {\n        eth0\n    }\n'));
    assert.deepEqual(r.lines, ["F:5:9: vrrp_instance.VI_1.track_interface.0: warning: Ignoring track_interface eth0 since own interface (keepalived's words; it is tracked as the instance's interface)"]);
  });
});

describe('priority 255', () => {
  test('without owning an address: the warning says it runs at 255 (keepalived 2.2.7 adverts carry 255)', () => {
    const r = load(instance('    priority 255\n'));
    assert.deepEqual(r.lines, [
      'F:4:5: vrrp_instance.VI_1.priority: warning: priority 255 is for the address owner, but no virtual address is an address of eth0 here; it runs at 255 all the same, as in keepalived 2.2.7: Master at once, preempting every other router, tracking weights ignored',
    ]);
  });

  test("weighted trackers of an owner are reported in keepalived's words", () => {
    const r = load(
      'vrrp_script chk {\n    script /bin/true\n    weight -20\n}\n' +
        'vrrp_script plain {\n    script /bin/true\n}\n' +
        'vrrp_track_file tf {\n    file /tmp/x\n}\n' +
        'vrrp_track_file tf5 {\n    file /tmp/y\n    weight 5\n}\n' +
        instance('    priority 255\n    track_interface {\n        eth1 weight 10\n    }\n    track_script {\n        chk\n        plain\n    }\n    track_file {\n        tf\n        tf5\n    }\n').replace('192.0.2.100/24', '192.0.2.1/24'),
    );
    assert.deepEqual(
      r.diagnostics.filter((d) => d.message.startsWith('(VI_1)')).map((d) => d.message),
      [
        // each checked with keepalived 2.2.7 -t
        '(VI_1) ignoring eth1 tracked interface due to address owner',
        '(VI_1) ignoring tracked script chk with weights due to address_owner',
        '(VI_1) ignoring weight from tracked file tf due to address_owner. specify weight 0 (a non-zero value holds it in FAULT)',
        '(VI_1) ignoring tracked file tf5 with weight 5 due to address_owner',
      ],
    );
  });

  test('the engine never moves an owner off 255, whatever the trackers say; others stay in 1..254', async () => {
    const r = load(instance('    priority 255\n') + instance('    priority 100\n', 'VI_2', 52).replace('192.0.2.100', '192.0.2.101'));
    assert.ok(r.config);
    const quiet: Logger = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined } as unknown as Logger;
    const bus = new EventBus();
    const seen: string[] = [];
    bus.subscribe((e) => {
      if (e.type === 'instance.priority') seen.push(`${e.instance} ${e.previous}->${e.effective}`);
    }, ['instance.priority']);
    const engine = new Engine(r.config, quiet, bus);
    try {
      engine.adjust('track-script', 'VI_1', 'chk', -50);
      engine.adjust('track-interface', 'VI_1', 'eth1', 30);
      engine.adjust('track-script', 'VI_2', 'chk', 200);
      assert.equal(engine.trackers('VI_1').effective, 255);
      assert.equal(engine.trackers('VI_2').effective, 254);
      assert.deepEqual(seen, ['VI_2 100->254']);
    } finally {
      await engine.stop();
    }
  });
});

describe('keywords keepalived accepts', () => {
  test("vrrp_skip_check_adv_addr, skip_check_adv_addr and an instance's debug: accepted, no effect, with the reason", () => {
    const r = load('global_defs {\n    vrrp_skip_check_adv_addr\n}\n' + instance('    debug 2\n    skip_check_adv_addr\n'));
    assert.ok(r.config);
    assert.deepEqual(r.lines, [
      "F:2:5: global_defs.vrrp_skip_check_adv_addr: warning: 'vrrp_skip_check_adv_addr' accepted, no effect: vigil never drops an advert whose address list differs from its own (it counts them: vigil status), so there is no check to skip",
      'F:7:5: vrrp_instance.VI_1.debug: warning: \'debug\' accepted, no effect: keepalived 2.2.7 documents it as "Debug level, not implemented yet"',
      "F:8:5: vrrp_instance.VI_1.skip_check_adv_addr: warning: 'skip_check_adv_addr' accepted, no effect: vigil never drops an advert whose address list differs from its own (it counts them: vigil status), so there is no check to skip",
    ]);
  });

  // keepalived 2.2.7: "(Line 3) Unknown keyword 'debug'" in global_defs
  test('debug in global_defs is unknown to keepalived 2.2.7 too', () => {
    const r = load('global_defs {\n    debug\n}\n' + instance(''));
    assert.deepEqual(r.lines, ["F:2:5: global_defs.debug: unknown keyword 'debug'"]);
  });
});

describe('the health checkers, against keepalived -t itself', () => {
  // every checker with the values keepalived 2.2.7 comments on; keepalived's line-level message
  // and vigil's counterpart must name the same line (messages keepalived gives when a block
  // ends carry the closing brace's line there, the block's first line in vigil)
  const conf = `track_file tf1 {
    file /run/vigil-parity-tf1
}
SSL {
    ca /etc/ssl/ca.pem
}
virtual_server 192.0.2.100 80 {
    protocol TCP
    lb_algo rr
    lb_kind NAT
    real_server 192.0.2.10 80 {
        HTTP_GET {
            url {
                path /
                status_code 200 600
                digest 123
            }
            url {
                digest 0123456789abcdef0123456789abcdef
            }
            http_protocol 2.0
            nb_get_retry 2
        }
        SSL_GET {
            url {
                path /
                digest 0123456789abcdef0123456789abcdeg
            }
            enable_sni
        }
        DNS_CHECK {
            type FOO
            name a..b
        }
        UDP_CHECK {
            payload 12zz
            min_reply_length 100
            max_reply_length 10
        }
        UDP_CHECK {
            max_reply_length 70000
        }
        FILE_CHECK {
            weight 3
        }
        FILE_CHECK {
            track_file tf1
            weight 2 sideways
        }
        MISC_CHECK {
            misc_timeout 3
        }
        MISC_CHECK {
            misc_path /bin/true
            misc_timeout abc
            connect_timeout 3
        }
        SMTP_CHECK {
            helo_name
            host {
                connect_ip 192.0.2.20
            }
        }
        PING_CHECK {
        }
        TCP_CHECK {
            nb_get_retry 3
        }
    }
}
`;
  // [keepalived's message, vigil's, same line?]
  const pairs: Array<[RegExp, RegExp, boolean]> = [
    [/Invalid HTTP_GET status code '600'/, /Invalid HTTP_GET status code '600'/, true],
    [/digest '123' character length should be 32 rather than 3/, /digest '123' character length should be 32 rather than 3/, true],
    [/HTTP\/SSL_GET checker url has no path - ignoring/, /HTTP\/SSL_GET checker url has no path - ignoring/, false],
    [/Invalid http_protocol version 2.0/, /Invalid http_protocol version 2.0/, true],
    [/nb_get_retry is deprecated - please use 'retry'$/, /nb_get_retry is deprecated - please use 'retry'; taken as retry/, true],
    [/Unable to interpret hex digit in '0123456789abcdef0123456789abcdeg' at offset 30\/31/, /Unable to interpret hex digit in '0123456789abcdef0123456789abcdeg' at offset 30\/31/, true],
    [/Unknown DNS check type FOO - ignoring/, /Unknown DNS check type FOO - ignoring/, true],
    [/DNS_CHECK name 'a..b' has empty label - ignoring/, /DNS_CHECK name 'a..b' has empty label - ignoring/, true],
    [/Invalid hex string for UDP_CHECK payload/, /Invalid hex string for UDP_CHECK payload/, true],
    [/UDP_CHECK min_reply length 100 > max_reply_length 10 - will always fail/, /UDP_CHECK min_reply length 100 > max_reply_length 10 - will always fail/, false],
    [/UDP_CHECK max length 70000 not valid - must be between 0 & 65535/, /UDP_CHECK max length 70000 not valid - must be between 0 & 65535/, true],
    [/FILE_CHECK has no track_file specified - ignoring/, /FILE_CHECK has no track_file specified - ignoring/, false],
    [/unknown track file weight option sideways - ignoring/, /unknown track file weight option sideways - ignoring/, true],
    [/No script path has been specified for MISC_CHECKER - skipping/, /No script path has been specified for MISC_CHECKER - skipping/, false],
    [/Invalid misc_timeout value 'abc'/, /Invalid misc_timeout value 'abc'/, true],
    [/Unknown keyword 'connect_timeout'/, /unknown keyword 'connect_timeout'/, true],
    [/SMTP_CHECK helo name missing/, /SMTP_CHECK helo name missing/, true],
    [/Unknown keyword 'nb_get_retry'/, /does not accept it in TCP_CHECK: Unknown keyword/, true],
  ];

  test('keepalived 2.2.7 and vigil say the same about each checker, on the same line', { ...needs('/usr/sbin/keepalived') }, () => {
    const r = load(conf);
    const keepalived = spawnSync('/usr/sbin/keepalived', ['-t', '-l', '-D', '-f', r.file], { encoding: 'utf8' });
    const theirs = `${keepalived.stdout}\n${keepalived.stderr}`.split('\n').flatMap((l) => {
      const m = /\(.*: Line (\d+)\) (.*)$/.exec(l);
      // the number reader's own line before a keyword's message adds nothing
      return m && !/^(number '.*' outside range|invalid number|negative number)/.test(m[2] as string) ? [{ line: Number(m[1]), message: m[2] as string }] : [];
    });
    assert.equal(theirs.length, pairs.length, `keepalived said:\n${theirs.map((t) => `${t.line}: ${t.message}`).join('\n')}`);
    for (const [k, v, sameLine] of pairs) {
      const t = theirs.find((x) => k.test(x.message));
      assert.ok(t, `keepalived no longer says ${String(k)}`);
      const ours = r.diagnostics.find((d) => v.test(d.message));
      assert.ok(ours, `vigil does not say ${String(v)}`);
      if (sameLine) assert.equal(ours.line, t.line, `${t.message}: keepalived's line ${t.line}, vigil's ${ours.line}`);
    }
    // what vigil adds: keepalived logs the deprecated SMTP host block only when it runs
    assert.ok(r.diagnostics.some((d) => /SMTP_CHECK host block is deprecated/.test(d.message)));
    assert.deepEqual(
      r.diagnostics.filter((d) => d.severity === 'error').map((d) => d.message),
      ["unknown keyword 'connect_timeout'"],
    );
  });
});
