// The load balancer's configuration: keepalived.conf virtual_server / real_server /
// virtual_server_group / TCP_CHECK mapped onto lvs-schema.ts (lvs-mapping.ts), what `vigil -t`
// says about it and where (lvs-semantic.ts, against keepalived 2.2.7's own -t messages), the
// values keepalived fixes, the YAML form and round trips, and the Debian samples.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { formatDiagnostic, type Diagnostic } from '../../src/config/diagnostics.ts';
import { loadConfigFile, loadConfigText, type LoadOptions } from '../../src/config/load.ts';
import { groupAddress } from '../../src/config/lvs-semantic.ts';
import { toYaml } from '../../src/config/yaml.ts';
import { have } from '../lib/require.ts';

const dir = mkdtempSync(join(tmpdir(), 'vigil-lvs-config-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
const host: LoadOptions = { interfaces: new Map([['eth0', ['192.0.2.1']]]), configId: 'node1' };

function load(text: string, ext = 'conf') {
  const file = join(dir, `c${n++}.${ext}`);
  writeFileSync(file, text);
  return { file, ...loadConfigFile(file, host) };
}
const lines = (ds: Diagnostic[]) => ds.map(formatDiagnostic);
/** A real server's checker lists, all empty (the schema's defaults). */
const NO_CHECKERS = { tcp_check: [], http_get: [], ssl_get: [], misc_check: [], dns_check: [], smtp_check: [], udp_check: [], ping_check: [], file_check: [], plugin_check: [] };

/** A virtual server with every keyword vigil maps. */
const FULL = `virtual_server_group G4 {
    192.0.2.10 80
    192.0.2.20-29 8080
    192.0.2.32-192.0.2.40 0
    192.0.2.64/27
    fwmark 7 inet
}
virtual_server 192.0.2.100 80 {
    delay_loop 10
    lvs_sched sh
    sh-port
    lvs_method NAT
    persistence_timeout
    persistence_granularity 255.255.255.0
    protocol tcp
    sorry_server 192.0.2.200 8080
    sorry_server_inhibit
    alpha
    omega
    quorum 2
    hysteresis 1
    quorum_up "/bin/up arg" nobody
    quorum_down /bin/down nobody nogroup
    ha_suspend
    virtualhost www.example.com
    ip_family inet
    retry 2
    delay_before_retry 1.5
    connect_timeout 3
    warmup 0
    inhibit_on_failure
    weight 2
    real_server 192.0.2.11 8080 {
        weight 3
        inhibit_on_failure no
        notify_up /bin/rs-up
        notify_down "/bin/rs-down x" root root
        alpha yes
        retry 4
        delay_before_retry 2
        connect_timeout 1
        delay_loop 5
        warmup 1
        virtualhost rs.example.com
        TCP_CHECK {
            connect_ip 192.0.2.12
            connect_port 81
            bindto 192.0.2.1
            bind_port 40000
            connect_timeout 0.5
            retry 0
            delay_before_retry 0
            warmup 2
            delay_loop 3
            alpha
        }
        TCP_CHECK {
        }
        HTTP_GET {
            url {
                path /
                status_code 200
            }
        }
    }
    real_server 192.0.2.13 {
        TCP_CHECK {
            connect_port 80
        }
    }
}
virtual_server fwmark 7 {
    lb_algo rr
    lb_kind NAT
    real_server 192.0.2.14 80
}
virtual_server group G4 {
    lb_algo wrr
    lb_kind NAT
    protocol UDP
    real_server 192.0.2.15 53 {
    }
}
`;

describe('keepalived.conf virtual_server mapping', () => {
  test('every keyword lands in its field', () => {
    const r = load(FULL);
    assert.deepEqual(lines(r.diagnostics), []);
    const c = r.config;
    assert.ok(c);
    assert.deepEqual(c.virtual_server_group, {
      G4: [{ address: '192.0.2.10', port: 80 }, { address: '192.0.2.20-29', port: 8080 }, { address: '192.0.2.32-192.0.2.40' }, { address: '192.0.2.64/27' }, { fwmark: 7, family: 'inet' }],
    });
    assert.deepEqual(c.virtual_server[0], {
      ip: '192.0.2.100',
      port: 80,
      delay_loop: 10,
      lb_algo: 'sh',
      sh_port: true,
      lb_kind: 'NAT',
      persistence_timeout: 360,
      persistence_granularity: '255.255.255.0',
      protocol: 'TCP',
      sorry_server: { ip: '192.0.2.200', port: 8080 },
      sorry_server_inhibit: true,
      alpha: true,
      omega: true,
      quorum: 2,
      hysteresis: 1,
      quorum_up: { script: '/bin/up arg', user: 'nobody' },
      quorum_down: { script: '/bin/down', user: 'nobody', group: 'nogroup' },
      ha_suspend: true,
      virtualhost: 'www.example.com',
      ip_family: 'inet',
      retry: 2,
      delay_before_retry: 1.5,
      connect_timeout: 3,
      warmup: 0,
      inhibit_on_failure: true,
      weight: 2,
      snat: false,
      real_server: [
        {
          ip: '192.0.2.11',
          port: 8080,
          weight: 3,
          inhibit_on_failure: false,
          notify_up: '/bin/rs-up',
          notify_down: { script: '/bin/rs-down x', user: 'root', group: 'root' },
          alpha: true,
          retry: 4,
          delay_before_retry: 2,
          connect_timeout: 1,
          delay_loop: 5,
          warmup: 1,
          virtualhost: 'rs.example.com',
          ...NO_CHECKERS,
          tcp_check: [
            { connect_ip: '192.0.2.12', connect_port: 81, bindto: '192.0.2.1', bind_port: 40000, connect_timeout: 0.5, retry: 0, delay_before_retry: 0, warmup: 2, delay_loop: 3, alpha: true },
            {},
          ],
          http_get: [{ url: [{ path: '/', status_code: [200] }] }],
        },
        { ...NO_CHECKERS, ip: '192.0.2.13', tcp_check: [{ connect_port: 80 }] },
      ],
    });
    assert.equal(c.virtual_server[1]?.fwmark, 7);
    assert.deepEqual(c.virtual_server[1]?.real_server, [{ ...NO_CHECKERS, ip: '192.0.2.14', port: 80 }]);
    assert.equal(c.virtual_server[2]?.group, 'G4');
    assert.equal(c.virtual_server[2]?.protocol, 'UDP');
  });

  test('persistence_timeout N, lb_algo / lb_kind synonyms, nb_get_retry taken as retry', () => {
    const r = load(`virtual_server 192.0.2.100 80 {
    lb_algo mh
    lb_kind NAT
    protocol UDP
    persistence_timeout 50
    real_server 192.0.2.11 80 {
        TCP_CHECK {
            nb_get_retry 3
        }
    }
}
`);
    const vs = r.config?.virtual_server[0];
    assert.equal(vs?.persistence_timeout, 50);
    assert.equal(vs?.lb_algo, 'mh');
    assert.equal(vs?.real_server[0]?.tcp_check[0]?.retry, 3);
    assert.deepEqual(lines(r.diagnostics), [
      `${r.file}:8:13: virtual_server.0.real_server.0.tcp_check.0.nb_get_retry: warning: nb_get_retry is deprecated - please use 'retry' (keepalived 2.2.7 does not accept it in TCP_CHECK: Unknown keyword); taken as retry`,
    ]);
  });
});

/** A virtual server that loads clean, to put one problem into. */
const vsWith = (inside: string, head = '192.0.2.100 80', rs = '    real_server 192.0.2.11 80 {\n    }\n') =>
  `virtual_server ${head} {\n    protocol TCP\n    lb_algo rr\n    lb_kind NAT\n${inside}${rs}}\n`;

describe('vigil -t on virtual servers: messages and positions', () => {
  // [what, config, expected lines ('F' is the file)]; keepalived 2.2.7's own -t message in the comment
  const table: Array<[string, string, string[]]> = [
    // Virtual server [IP]:none:80: no protocol set - defaulting to UDP (and wlc, NAT)
    [
      'no protocol, no scheduler, no forwarding method',
      'virtual_server 192.0.2.100 80 {\n    real_server 192.0.2.11 80 {\n    }\n}\n',
      [
        'F:1:1: virtual_server.0.protocol: warning: no protocol set - defaulting to UDP',
        "F:1:1: virtual_server.0.lb_algo: warning: no scheduler set: keepalived's default 'wlc' cannot be expressed in nftables (it picks by the live connection count of each server, and nftables chooses with stateless expressions (numgen, jhash) that cannot read those counts); vigil uses wrr",
        'F:1:1: virtual_server.0.lb_kind: warning: no forwarding method set, setting default NAT',
      ],
    ],
    [
      'a connection-counting scheduler falls back to wrr',
      vsWith('').replace('lb_algo rr', 'lb_algo wlc'),
      ['F:3:5: virtual_server.0.lb_algo: warning: lb_algo wlc (weighted least connections) cannot be expressed in nftables: it picks by the live connection count of each server, and nftables chooses with stateless expressions (numgen, jhash) that cannot read those counts; vigil uses wrr'],
    ],
    // Invalid lvs_scheduler 'foo' - ignoring
    ['an unknown scheduler', vsWith('    lb_algo foo\n'), ["F:5:5: virtual_server.0.lb_algo: warning: Invalid lvs_scheduler 'foo' - ignoring"]],
    // PARSER : unknown [XYZ] routing method for virtual server.
    ['an unknown routing method', vsWith('    lb_kind XYZ\n'), ['F:5:5: virtual_server.0.lb_kind: warning: PARSER : unknown [XYZ] routing method for virtual server; ignored']],
    [
      'lb_kind TUN is refused with the reason',
      vsWith('').replace('lb_kind NAT', 'lb_kind TUN type ipip'),
      ['F:4:5: virtual_server.0.lb_kind: lb_kind TUN is refused: nftables has no encapsulation statement (IPIP, GUE and GRE would need tunnel devices and policy routing, which vigil does not manage); use NAT'],
    ],
    ['protocol SCTP is refused', vsWith('').replace('protocol TCP', 'protocol sctp'), ['F:2:5: virtual_server.0.protocol: protocol SCTP is not supported by the nftables data plane yet (it balances TCP and UDP); refused']],
    ['an unknown protocol', vsWith('    protocol icmp\n'), ['F:5:5: virtual_server.0.protocol: warning: Unknown protocol icmp - ignoring']],
    // Virtual server [IP]:tcp:0: zero port only valid for persistent services - setting
    ['zero port without persistence', vsWith('', '192.0.2.100 0'), ['F:1:28: virtual_server.0.port: warning: zero port only valid for persistent services - setting persistence_timeout 360']],
    ['no port with persistence is fine', vsWith('    persistence_timeout 60\n', '192.0.2.100'), []],
    // Warning - quorum 10 for [IP]:tcp:80 exceeds total weight of real servers 3, reducing quorum to 3
    [
      'quorum above the weight sum, then hysteresis >= quorum',
      vsWith('    quorum 10\n    hysteresis 20\n', undefined, '    real_server 192.0.2.11 80 {\n        weight 3\n    }\n'),
      [
        'F:5:5: virtual_server.0.quorum: warning: Warning - quorum 10 exceeds total weight of real servers 3, reducing quorum to 3',
        'F:6:5: virtual_server.0.hysteresis: warning: hysteresis 20 >= quorum 3; setting hysteresis to 2',
      ],
    ],
    // Virtual server [IP]:tcp:80 has no real servers - ignoring
    ['no real servers', vsWith('', undefined, ''), ['F:1:1: virtual_server.0: warning: Virtual server has no real servers - ignoring']],
    // VS [IP]:tcp:80: real server [IP]:tcp:80 is duplicated - removing second rs
    [
      'a duplicated real server',
      vsWith('    real_server 192.0.2.11 80 {\n    }\n'),
      ['F:7:5: virtual_server.0.real_server.1: warning: real server 192.0.2.11 port 80 is duplicated - removing second rs'],
    ],
    // Address family of virtual server and real server 2001:db8::1 don't match - skipping real server.
    [
      'a real server of the other family',
      vsWith('    real_server 2001:db8::1 80 {\n    }\n'),
      ["F:5:5: virtual_server.0.real_server.0: warning: Address family of virtual server and real server 2001:db8::1 don't match - skipping real server"],
    ],
    [
      'a sorry server of the other family',
      vsWith('    sorry_server 2001:db8::1 80\n'),
      ["F:5:5: virtual_server.0.sorry_server: warning: Address family of virtual server and sorry server 2001:db8::1 don't match - skipping sorry server"],
    ],
    // Virtual server specified family inet6 conflicts with server family
    ['ip_family against the address', vsWith('    ip_family inet6\n'), ['F:5:5: virtual_server.0.ip_family: warning: Virtual server specified family inet6 conflicts with server family; ignored']],
    // Warning: Virtual server FWM 5: protocol specified for fwmark - protocol will be ignored
    // Virtual server FWM 5: cannot use ha_suspend with fwmarks - clearing ha_suspend
    [
      'a fwmark virtual server with protocol and ha_suspend',
      vsWith('    ha_suspend\n', 'fwmark 5'),
      [
        'F:2:5: virtual_server.0.protocol: warning: Virtual server FWM 5: protocol specified for fwmark - protocol will be ignored',
        'F:5:5: virtual_server.0.ha_suspend: warning: Virtual server FWM 5: cannot use ha_suspend with fwmarks - clearing ha_suspend',
      ],
    ],
    // Ignoring sorry_server inhibit used before or without sorry_server
    ['sorry_server_inhibit before sorry_server', vsWith('    sorry_server_inhibit\n    sorry_server 192.0.2.9 80\n'), ['F:5:5: virtual_server.0.sorry_server_inhibit: warning: Ignoring sorry_server inhibit used before or without sorry_server']],
    // sh-port only applies to sh scheduler - ignoring
    ['sh-port without lb_algo sh', vsWith('    sh-port\n'), ['F:5:5: virtual_server.0.sh_port: warning: sh-port only applies to sh scheduler - ignoring (put it after lb_algo sh)']],
    // (name) quorum_up script already specified - ignoring /bin/false
    ['a second quorum_up', vsWith('    quorum_up /bin/true\n    quorum_up /bin/false\n'), ['F:6:5: virtual_server.0.quorum_up: warning: quorum_up script already specified - ignoring /bin/false']],
    // Invalid IPv4 persistence_granularity / netmask is not solid
    [
      'a persistence_granularity that is not a solid netmask',
      vsWith('    persistence_granularity 255.0.255.0\n'),
      ['F:5:5: virtual_server.0.persistence_granularity: warning: IPv4 persistence_granularity netmask is not solid - 255.0.255.0; ignored'],
    ],
    // Unknown keyword 'nat_mask'
    ['a keyword keepalived does not know (gone in 2.x)', vsWith('    nat_mask 255.255.255.0\n'), ["F:5:5: virtual_server.0.nat_mask: unknown keyword 'nat_mask'"]],
    ["lb_kind inside real_server (keepalived: Unknown keyword 'lb_kind')", vsWith('', undefined, '    real_server 192.0.2.11 80 {\n        lb_kind NAT\n    }\n'), ["F:6:9: virtual_server.0.real_server.0.lb_kind: unknown keyword 'lb_kind'"]],
    [
      'keywords vigil does not act on warn with the reason',
      vsWith('    ops\n    persistence_engine sip\n', undefined, '    real_server 192.0.2.11 80 {\n        uthreshold 100\n    }\n'),
      [
        "F:5:5: virtual_server.0.ops: warning: 'ops' is not supported by vigil: one-packet scheduling has no nftables equivalent: conntrack keeps a UDP flow on its first backend; ignored",
        "F:6:5: virtual_server.0.persistence_engine: warning: 'persistence_engine' is not supported by vigil: IPVS persistence engines (sip) have no nftables equivalent; ignored",
        "F:8:9: virtual_server.0.real_server.0.uthreshold: warning: 'uthreshold' is not supported by vigil: connection limits cannot move a connection to another server in nftables (ct count can only cap or drop); nftables chooses a backend with stateless expressions (numgen, jhash) and has no per-server connection counts; ignored",
      ],
    ],
    // Invalid virtual server IP address/port 10.0.0.300/80 - skipping
    ['an invalid virtual server address', vsWith('', '192.0.2.300 80'), ['F:1:16: virtual_server: Invalid virtual server IP address/port 192.0.2.300/80 - skipping (keepalived skips the virtual server; vigil refuses the config)']],
    // Invalid real server ip address/port 10.0.1.300/80 - skipping
    [
      'an invalid real server address',
      vsWith('    real_server 192.0.2.300 80 {\n    }\n'),
      ['F:5:5: virtual_server.0.real_server.0: warning: Invalid real server ip address/port 192.0.2.300/80 - skipping'],
    ],
    ['an invalid sorry server address', vsWith('    sorry_server 192.0.2.300 80\n'), ['F:5:5: virtual_server.0.sorry_server: warning: Invalid sorry server IP address 192.0.2.300 - skipping']],
    // Invalid inhibit_on_failure parameter maybe
    ['a bad inhibit_on_failure value', vsWith('', undefined, '    real_server 192.0.2.11 80 {\n        inhibit_on_failure maybe\n    }\n'), ['F:6:9: virtual_server.0.real_server.0.inhibit_on_failure: warning: Invalid inhibit_on_failure parameter maybe; ignored']],
    [
      'a TCP_CHECK with no port to connect to',
      vsWith('', undefined, '    real_server 192.0.2.11 {\n        TCP_CHECK {\n            connect_timeout 3\n        }\n    }\n'),
      ['F:6:9: virtual_server.0.real_server.0.tcp_check.0: TCP_CHECK of real server 192.0.2.11 has no port to connect to: the real server has no port and the check no connect_port (keepalived 2.2.7 runs it against port 0, where it always fails); set connect_port'],
    ],
    ['retry 0 at virtual server level', vsWith('    retry 0\n'), ['F:5:5: virtual_server.0.retry: retry value invalid - 0']],
    ['quorum 0', vsWith('    quorum 0\n'), ['F:5:5: virtual_server.0.quorum: Quorum 0 must be in [1, 4294967295]']],
    [
      'an undefined group (keepalived -t accepts it)',
      vsWith('', 'group NOPE'),
      [
        "F:1:22: virtual_server.0.group: virtual_server group NOPE: no virtual_server_group NOPE is configured. keepalived 2.2.7 accepts this in -t and drops the virtual server at run time ('Virtual server group NOPE specified but not configured'); vigil is stricter and refuses it",
      ],
    ],
    [
      'group entries keepalived skips, an empty group',
      'virtual_server_group G {\n    10.0.0.5-3 80\n    10.0.0.9-10.0.0.2 80\n    10.0.1.1/24 80\n    10.0.0.1 80\n}\nvirtual_server_group E {\n}\n' + vsWith('', 'group G'),
      [
        'F:2:5: virtual_server_group.G.0: warning: Address range end is not greater than address range start - 10.0.0.5-3 - skipping',
        'F:3:5: virtual_server_group.G.1: warning: Address range end is less than address range start - 10.0.0.9-10.0.0.2 - skipping',
        'F:4:5: virtual_server_group.G.2: warning: Address mask bits not empty - 10.0.1.1/24 - skipping',
        'F:7:1: virtual_server_group.E: warning: virtual server group E has no entries - removing',
      ],
    ],
    [
      'a group with IPv4, IPv6 and a fwmark without family',
      'virtual_server_group G {\n    10.0.0.1 80\n    2001:db8::1 80\n    fwmark 1\n}\n' + vsWith('', 'group G'),
      [
        'F:1:1: virtual_server_group.G: warning: virtual server group G cannot have IPv4, IPv6 and fwmark without family - removing',
        "F:6:22: virtual_server.0.group: virtual_server group G: virtual_server_group G was removed (above). keepalived 2.2.7 accepts this in -t and drops the virtual server at run time ('Virtual server group G specified but not configured'); vigil is stricter and refuses it",
      ],
    ],
    [
      'a virtual server that is no VIP of any instance, with ha_suspend: fine',
      'vrrp_instance VI_1 {\n    interface eth0\n    virtual_router_id 51\n    virtual_ipaddress {\n        192.0.2.50/24\n    }\n}\n' + vsWith('    ha_suspend\n'),
      [],
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
  // every checker: lvs-checkers-config.test.ts
});

describe('values keepalived fixes are in the config', () => {
  test('quorum, hysteresis, zero port persistence, duplicates, fwmark protocol, counting schedulers', () => {
    const r = load(
      vsWith('    quorum 10\n    hysteresis 20\n', undefined, '    real_server 192.0.2.11 80 {\n        weight 3\n    }\n    real_server 192.0.2.11 80 {\n    }\n') +
        vsWith('', '192.0.2.101 0').replace('lb_algo rr', 'lb_algo lblc') +
        vsWith('    ha_suspend\n', 'fwmark 9') +
        vsWith('', '192.0.2.102 80', '') +
        vsWith('    persistence_granularity 255.255.255.0\n', '192.0.2.103 80'),
    );
    const vs = r.config?.virtual_server ?? [];
    assert.equal(vs.length, 4, 'the virtual server with no real servers is gone');
    assert.equal(vs[0]?.quorum, 3);
    assert.equal(vs[0]?.hysteresis, 2);
    assert.equal(vs[0]?.real_server.length, 1);
    assert.equal(vs[1]?.port, undefined, 'port 0 is no port');
    assert.equal(vs[1]?.persistence_timeout, 360);
    assert.equal(vs[1]?.lb_algo, 'wrr');
    assert.equal(vs[2]?.protocol, undefined);
    assert.equal(vs[2]?.ha_suspend, false);
    assert.equal(vs[3]?.ip, '192.0.2.103');
    assert.equal(vs[3]?.persistence_timeout, 360, 'persistence_granularity turns persistence on');
  });

  test('fo stays fo (the balancer keeps the highest-weight live server); unset protocol / lb_algo / lb_kind stay unset', () => {
    const r = load('virtual_server 192.0.2.100 80 {\n    lb_algo fo\n    real_server 192.0.2.11 80 {\n    }\n}\n');
    const vs = r.config?.virtual_server[0];
    assert.equal(vs?.lb_algo, 'fo');
    assert.equal(vs?.protocol, undefined);
    assert.equal(vs?.lb_kind, undefined);
  });

  test('group address forms', () => {
    assert.deepEqual(groupAddress('192.0.2.1'), { family: 4 });
    assert.deepEqual(groupAddress('192.0.2.1-9'), { family: 4 });
    assert.deepEqual(groupAddress('2001:db8::2-ff'), { family: 6 });
    assert.deepEqual(groupAddress('2001:db8::1-2001:db8::1:0'), { family: 6 });
    assert.deepEqual(groupAddress('192.0.2.0/24'), { family: 4 });
    assert.deepEqual(groupAddress('2001:db8::/64'), { family: 6 });
    assert.deepEqual(groupAddress('2001:db8::1/64'), { error: 'Address mask bits not empty - 2001:db8::1/64 - skipping' });
    assert.deepEqual(groupAddress('192.0.2.1-256'), { error: 'Invalid virtual server group IP address 192.0.2.1-256 - skipping' });
    assert.deepEqual(groupAddress('2001:db8::1-192.0.2.1'), { error: 'Invalid virtual server group IP address 2001:db8::1-192.0.2.1 - skipping' });
  });
});

describe('YAML', () => {
  test('keepalived.conf -> typed -> YAML -> typed is the identity, and YAML positions work', () => {
    const r = load(FULL);
    assert.ok(r.config);
    const yaml = toYaml(r.config);
    assert.match(yaml, /^virtual_server:$/m);
    assert.match(yaml, /^virtual_server_group:$/m);
    const again = loadConfigText(yaml, 'roundtrip.yaml', host);
    assert.deepEqual(again.diagnostics.filter((d) => d.severity === 'error'), []);
    assert.deepEqual(again.config, r.config);
  });

  test('the YAML form, checked the same way, with line and column', () => {
    const r = load(
      `virtual_server_group:
  G:
    - { address: 192.0.2.10, port: 80 }
    - { fwmark: 3 }
virtual_server:
  - ip: 192.0.2.100
    port: 80
    protocol: TCP
    lb_algo: rr
    lb_kind: TUN
    real_server:
      - ip: 192.0.2.11
        port: 8080
        tcp_check:
          - connect_timeout: 2
        http_get:
          - url: [{ path: / }]
  - group: G
    lb_algo: sed
    lb_kind: NAT
    sorry_server_inhibit: true
    real_server:
      - { ip: 192.0.2.12 }
`,
      'yaml',
    );
    assert.deepEqual(lines(r.diagnostics), [
      `${r.file}:10:14: virtual_server.0.lb_kind: lb_kind TUN is refused: nftables has no encapsulation statement (IPIP, GUE and GRE would need tunnel devices and policy routing, which vigil does not manage); use NAT`,
      `${r.file}:21:27: virtual_server.1.sorry_server_inhibit: warning: Ignoring sorry_server inhibit used before or without sorry_server`,
      `${r.file}:18:5: virtual_server.1.protocol: warning: no protocol set - defaulting to UDP`,
      `${r.file}:19:14: virtual_server.1.lb_algo: warning: lb_algo sed (shortest expected delay) cannot be expressed in nftables: it picks by the live connection count of each server, and nftables chooses with stateless expressions (numgen, jhash) that cannot read those counts; vigil uses wrr`,
    ]);
  });

  test('a schema error in YAML points at the node', () => {
    const r = load('virtual_server:\n  - ip: 192.0.2.100\n    port: 80\n    lb_algo: fastest\n    real_server: []\n', 'yaml');
    assert.equal(r.config, null);
    assert.match(lines(r.diagnostics)[0] ?? '', /:4:14: virtual_server\.0\.lb_algo: /);
  });
});

describe('the command line', () => {
  const bin = new URL('../../bin/vigil', import.meta.url).pathname;

  test('vigil convert of virtual servers prints YAML that loads to the same config', () => {
    const file = join(dir, 'convert.conf');
    writeFileSync(file, FULL);
    const r = spawnSync(bin, ['convert', file], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const again = loadConfigText(r.stdout, 'converted.yaml', host);
    assert.deepEqual(again.config, loadConfigFile(file, host).config);
  });

  test('vigil schema includes virtual_server and virtual_server_group', () => {
    const r = spawnSync(bin, ['schema'], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const schema = JSON.parse(r.stdout) as { properties: Record<string, { items?: { properties?: Record<string, unknown> } }> };
    assert.ok(schema.properties.virtual_server_group);
    const vs = schema.properties.virtual_server?.items?.properties ?? {};
    for (const k of ['ip', 'fwmark', 'group', 'lb_algo', 'lb_kind', 'real_server', 'sorry_server', 'quorum']) assert.ok(k in vs, k);
  });
});

const SAMPLES = '/usr/share/doc/keepalived/samples';

describe("Debian keepalived's samples with virtual servers", () => {
  const samples = existsSync(SAMPLES) ? readdirSync(SAMPLES).filter((f) => f.startsWith('keepalived.conf') && readFileSync(join(SAMPLES, f), 'utf8').includes('virtual_server')) : [];

  test('the samples are installed', () => {
    assert.ok(samples.length >= 15, `found ${samples.length}`);
  });

  for (const name of samples) {
    test(`${name}: loads with no errors, round-trips, and says what keepalived -t says`, () => {
      const file = join(SAMPLES, name);
      const r = loadConfigFile(file, { configId: 'high' });
      // every sample is NAT over TCP/UDP: nothing vigil refuses
      assert.deepEqual(lines(r.diagnostics.filter((d) => d.severity === 'error')), []);
      assert.ok(r.config && r.config.virtual_server.length > 0);
      const again = loadConfigText(toYaml(r.config), 'roundtrip.yaml', { configId: 'high' });
      assert.deepEqual(again.config, r.config);
      if (!have('keepalived')) return;
      // keepalived's post-parse messages about virtual servers, each with vigil's counterpart
      const kt = spawnSync('keepalived', ['-t', '-f', file], { encoding: 'utf8' });
      const theirs = kt.stderr.split('\n').concat(kt.stdout.split('\n'));
      const pairs: Array<[RegExp, RegExp]> = [
        [/protocol specified for fwmark/, /protocol specified for fwmark/],
        [/no protocol set/, /no protocol set/],
        [/no scheduler set/, /no scheduler set/],
        [/has no real servers/, /has no real servers/],
        [/is duplicated/, /is duplicated/],
        [/exceeds total weight/, /exceeds total weight/],
        [/zero port only valid/, /zero port only valid/],
      ];
      for (const [k, v] of pairs) {
        assert.equal(theirs.some((l) => k.test(l)), r.diagnostics.some((d) => v.test(d.message)), `${String(k)}: keepalived and vigil agree`);
      }
    });
  }
});
