// Every health checker's configuration: keepalived.conf (lvs-mapping.ts) and YAML (lvs-schema.ts)
// to the resolved checks the balancer runs (resolve.ts: keepalived's inheritance and each type's
// defaults), what `vigil -t` says about each and where (keepalived 2.2.7's words, checked with
// `keepalived -t`), and `vigil convert` round trips. Facts: ../shared/docs/LVS.md 4, 5, 10.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { formatDiagnostic, type Diagnostic } from '../../src/config/diagnostics.ts';
import { loadConfigFile, loadConfigText, type LoadOptions } from '../../src/config/load.ts';
import { parseHex } from '../../src/config/lvs-schema.ts';
import { toYaml } from '../../src/config/yaml.ts';
import type { Check } from '../../src/lvs/checks.ts';
import { DEFAULT_UDP_PAYLOAD_HEX, resolveVirtualServers } from '../../src/lvs/resolve.ts';

const dir = mkdtempSync(join(tmpdir(), 'vigil-checkers-config-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
const host: LoadOptions = { interfaces: new Map([['eth0', ['192.0.2.1']]]), configId: 'node1' };

function load(text: string, ext = 'conf') {
  const file = join(dir, `c${n++}.${ext}`);
  writeFileSync(file, text);
  const r = loadConfigFile(file, host);
  const lines = r.diagnostics.map((d: Diagnostic) => formatDiagnostic(d).replace(`${file}:`, 'F:'));
  return { ...r, file, lines };
}

/** The resolved checks of each real server of the first virtual server. */
function checksOf(config: NonNullable<ReturnType<typeof load>['config']>): Check[][] {
  return (resolveVirtualServers(config)[0]?.realServers ?? []).map((rs) => rs.checks);
}

const vs = (body: string, vsExtra = '') => `virtual_server 198.51.100.1 80 {
    protocol TCP
    lb_algo rr
    lb_kind NAT
    delay_loop 10
${vsExtra}    real_server 198.51.100.10 80 {
${body}    }
}
`;

/** One of each checker, with values that show the inheritance. */
const EVERY = `global_defs {
    script_user nobody nogroup
    enable_script_security
}
track_file tf1 {
    file /run/vigil-test/tf1
    weight -3 reverse
}
SSL {
    password secret
    ca /etc/ssl/ca.pem
    certificate /etc/ssl/client.pem
    key /etc/ssl/client.key
}
virtual_server 198.51.100.1 80 {
    protocol TCP
    lb_algo rr
    lb_kind NAT
    delay_loop 10
    virtualhost vs.example.com
    connect_timeout 4
    retry 2
    real_server 198.51.100.10 8080 {
        delay_before_retry 7
        TCP_CHECK {
            connect_port 81
        }
        HTTP_GET {
            url {
                path /health
                digest 0123456789ABCDEF0123456789ABCDEF
                status_code 200 301-302
            }
            url {
                path /other
                virtualhost url.example.com
            }
            http_protocol 1.1
            max_body_size 4096
        }
        SSL_GET {
            url {
                path /
            }
            virtualhost chk.example.com
            enable_sni
            verify_tls
            connect_timeout 2
            retry 0
            alpha
        }
        MISC_CHECK {
            misc_path "/usr/local/bin/probe --fast"
            misc_timeout 3
            misc_dynamic
            warmup 1
        }
        MISC_CHECK {
            misc_path /usr/local/bin/other
            user daemon
        }
        DNS_CHECK {
            connect_port 53
            type aaaa
            name www.example.com.
        }
        SMTP_CHECK {
            connect_ip 198.51.100.11
            connect_port 25
            helo_name mx.example.com
        }
        UDP_CHECK {
            connect_port 5353
            payload 0a 0b0c
            require_reply 0aXx
            min_reply_length 2
            max_reply_length 64
        }
        PING_CHECK {
            delay_loop 3
        }
        FILE_CHECK {
            track_file tf1
        }
        FILE_CHECK {
            track_file tf1
            weight 5
        }
        PLUGIN_CHECK {
            checker redis_ping
            connect_port 6379
            param db 0
            param password_file /etc/vigil/redis.pw
            param ratio 0.5
        }
    }
}
`;

/** The timing every checker of EVERY inherits: delay_loop 10 (VS), retry 2 (VS),
 * delay_before_retry 7 (RS), connect_timeout 4 s (VS), warmup = delay_loop, alpha off. */
const inherited = { timeoutMs: 4000, retry: 2, delayBeforeRetryMs: 7000, delayLoopMs: 10000, warmupMs: 10000, alpha: false };

const EXPECTED: Check[] = [
  { kind: 'tcp', name: 'TCP_CHECK 198.51.100.10:81', ...inherited, host: '198.51.100.10', port: 81 },
  {
    kind: 'http',
    name: 'HTTP_GET 198.51.100.10:8080',
    ...inherited,
    host: '198.51.100.10',
    port: 8080,
    tls: false,
    verifyTls: false,
    caFile: '/etc/ssl/ca.pem',
    certFile: '/etc/ssl/client.pem',
    keyFile: '/etc/ssl/client.key',
    keyPassword: 'secret',
    protocol: '1.1',
    urls: [
      // the virtual server's virtualhost is the Host when nothing nearer sets one
      { path: '/health', digest: '0123456789abcdef0123456789abcdef', statusCodes: [[200, 200], [301, 302]], host: 'vs.example.com' },
      { path: '/other', statusCodes: [[200, 299]], host: 'url.example.com' },
    ],
    maxBodyBytes: 4096,
  },
  {
    kind: 'http',
    name: 'SSL_GET 198.51.100.10:8080',
    ...inherited,
    timeoutMs: 2000,
    retry: 0,
    alpha: true,
    host: '198.51.100.10',
    port: 8080,
    tls: true,
    verifyTls: true,
    caFile: '/etc/ssl/ca.pem',
    certFile: '/etc/ssl/client.pem',
    keyFile: '/etc/ssl/client.key',
    keyPassword: 'secret',
    protocol: '1.0',
    urls: [{ path: '/', statusCodes: [[200, 299]], host: 'chk.example.com', sni: 'chk.example.com' }],
    maxBodyBytes: 1048576,
  },
  // misc_timeout, else the virtual server's delay_loop; the user, else script_user
  { kind: 'misc', name: 'MISC_CHECK /usr/local/bin/probe --fast', ...inherited, timeoutMs: 3000, warmupMs: 1000, command: '/usr/local/bin/probe --fast', dynamic: true, user: 'nobody', group: 'nogroup', scriptSecurity: true },
  { kind: 'misc', name: 'MISC_CHECK /usr/local/bin/other', ...inherited, timeoutMs: 10000, command: '/usr/local/bin/other', dynamic: false, user: 'daemon', scriptSecurity: true },
  { kind: 'dns', name: 'DNS_CHECK 198.51.100.10:53', ...inherited, host: '198.51.100.10', port: 53, type: 'AAAA', query: 'www.example.com' },
  { kind: 'smtp', name: 'SMTP_CHECK 198.51.100.11:25', ...inherited, host: '198.51.100.11', port: 25, heloName: 'mx.example.com' },
  {
    kind: 'udp',
    name: 'UDP_CHECK 198.51.100.10:5353',
    ...inherited,
    host: '198.51.100.10',
    port: 5353,
    payloadHex: '0a0b0c',
    requireReply: true,
    replyPattern: '0aXX',
    minReplyLength: 2,
    maxReplyLength: 64,
  },
  { kind: 'ping', name: 'PING_CHECK 198.51.100.10', ...inherited, delayLoopMs: 3000, warmupMs: 3000, host: '198.51.100.10' },
  // the block's weight and reverse, or the checker's own (reverse only if it says so)
  { kind: 'file', name: 'FILE_CHECK tf1', trackFile: 'tf1', path: '/run/vigil-test/tf1', weight: -3, reverse: true },
  { kind: 'file', name: 'FILE_CHECK tf1', trackFile: 'tf1', path: '/run/vigil-test/tf1', weight: 5, reverse: false },
  {
    kind: 'plugin',
    name: 'PLUGIN_CHECK redis_ping 198.51.100.10:6379',
    ...inherited,
    host: '198.51.100.10',
    port: 6379,
    checker: 'redis_ping',
    params: { db: 0, password_file: '/etc/vigil/redis.pw', ratio: 0.5 },
  },
];

const EVERY_YAML = `global_defs:
  script_user: nobody nogroup
  enable_script_security: true
vrrp_track_file:
  tf1: { file: /run/vigil-test/tf1, weight: -3, weight_reverse: true }
ssl: { password: secret, ca: /etc/ssl/ca.pem, certificate: /etc/ssl/client.pem, key: /etc/ssl/client.key }
virtual_server:
  - ip: 198.51.100.1
    port: 80
    protocol: TCP
    lb_algo: rr
    lb_kind: NAT
    delay_loop: 10
    virtualhost: vs.example.com
    connect_timeout: 4
    retry: 2
    real_server:
      - ip: 198.51.100.10
        port: 8080
        delay_before_retry: 7
        tcp_check: [{ connect_port: 81 }]
        http_get:
          - url:
              - { path: /health, digest: 0123456789ABCDEF0123456789ABCDEF, status_code: [200, 301-302] }
              - { path: /other, virtualhost: url.example.com }
            http_protocol: '1.1'
            max_body_size: 4096
        ssl_get:
          - { url: [{ path: / }], virtualhost: chk.example.com, enable_sni: true, verify_tls: true, connect_timeout: 2, retry: 0, alpha: true }
        misc_check:
          - { misc_path: /usr/local/bin/probe --fast, misc_timeout: 3, misc_dynamic: true, warmup: 1 }
          - { misc_path: /usr/local/bin/other, user: daemon }
        dns_check: [{ connect_port: 53, type: aaaa, name: www.example.com. }]
        smtp_check: [{ connect_ip: 198.51.100.11, connect_port: 25, helo_name: mx.example.com }]
        udp_check: [{ connect_port: 5353, payload: 0a 0b0c, require_reply: 0aXx, min_reply_length: 2, max_reply_length: 64 }]
        ping_check: [{ delay_loop: 3 }]
        file_check: [{ track_file: tf1 }, { track_file: tf1, weight: 5 }]
        plugin_check:
          - checker: redis_ping
            connect_port: 6379
            params: { db: 0, password_file: /etc/vigil/redis.pw, ratio: 0.5 }
`;

describe('every checker, keepalived.conf and YAML, to what the balancer runs', () => {
  test('keepalived.conf: each checker resolves with keepalived inheritance and defaults', () => {
    const r = load(EVERY);
    assert.deepEqual(r.lines, []);
    assert.ok(r.config);
    assert.deepEqual(checksOf(r.config), [EXPECTED]);
  });

  test('YAML: the same checkers written as YAML resolve the same', () => {
    const r = load(EVERY_YAML, 'yaml');
    assert.deepEqual(r.lines, []);
    assert.ok(r.config);
    assert.deepEqual(checksOf(r.config), [EXPECTED]);
  });

  test('keepalived.conf -> YAML -> typed is the identity', () => {
    const r = load(EVERY);
    assert.ok(r.config);
    const again = loadConfigText(toYaml(r.config), 'roundtrip.yaml', host);
    assert.deepEqual(again.diagnostics, []);
    assert.deepEqual(again.config, r.config);
  });

  test("each type's own defaults (check_api.c, check_http.c, check_dns.c, check_misc.c), nothing inherited", () => {
    const body = ['TCP_CHECK', 'HTTP_GET {\n            url {\n                path /\n            }\n        }', 'MISC_CHECK {\n            misc_path /bin/true\n        }', 'DNS_CHECK', 'SMTP_CHECK', 'UDP_CHECK', 'PING_CHECK']
      .map((c) => `        ${c.includes('{') ? c : `${c} {\n        }`}\n`)
      .join('');
    const r = load(vs(body));
    assert.deepEqual(r.lines, []);
    assert.ok(r.config);
    const got = checksOf(r.config)[0] ?? [];
    const timing = got.map((c) => ('retry' in c ? { name: c.name, retry: c.retry, dbr: c.delayBeforeRetryMs, timeout: c.timeoutMs, warmup: c.warmupMs } : undefined));
    assert.deepEqual(timing, [
      { name: 'TCP_CHECK 198.51.100.10:80', retry: 1, dbr: 1000, timeout: 5000, warmup: 10000 },
      { name: 'HTTP_GET 198.51.100.10:80', retry: 1, dbr: 3000, timeout: 5000, warmup: 10000 },
      { name: 'MISC_CHECK /bin/true', retry: 0, dbr: 1000, timeout: 10000, warmup: 10000 },
      // DNS_CHECK: retry 3, delay_before_retry its delay_loop
      { name: 'DNS_CHECK 198.51.100.10:80', retry: 3, dbr: 10000, timeout: 5000, warmup: 10000 },
      { name: 'SMTP_CHECK 198.51.100.10:80', retry: 1, dbr: 1000, timeout: 5000, warmup: 10000 },
      { name: 'UDP_CHECK 198.51.100.10:80', retry: 1, dbr: 1000, timeout: 5000, warmup: 10000 },
      { name: 'PING_CHECK 198.51.100.10', retry: 1, dbr: 1000, timeout: 5000, warmup: 10000 },
    ]);
    const http = got[1];
    assert.equal(http?.kind, 'http');
    if (http?.kind === 'http') {
      // no virtualhost anywhere: ip:port
      assert.deepEqual(http.urls, [{ path: '/', statusCodes: [[200, 299]], host: '198.51.100.10:80' }]);
      assert.equal(http.protocol, '1.0');
      assert.equal(http.verifyTls, false);
      assert.equal(http.maxBodyBytes, 1048576);
    }
    const dns = got[3];
    assert.ok(dns?.kind === 'dns' && dns.type === 'SOA' && dns.query === '');
    const smtp = got[4];
    assert.ok(smtp?.kind === 'smtp' && smtp.heloName === 'smtpchecker.keepalived.org');
    const udp = got[5];
    assert.ok(udp?.kind === 'udp');
    if (udp?.kind === 'udp') {
      assert.equal(Buffer.from(udp.payloadHex, 'hex').toString(), 'keepalived check - keepalived ch');
      assert.equal(udp.payloadHex, DEFAULT_UDP_PAYLOAD_HEX);
      assert.deepEqual([udp.requireReply, udp.minReplyLength, udp.maxReplyLength, udp.replyPattern], [false, 0, 255, undefined]);
    }
    const misc = got[2];
    // no user and no script_user: the script-security default, decided at run time
    assert.ok(misc?.kind === 'misc' && misc.user === undefined && misc.scriptSecurity === false);
  });

  test('Host and SNI: url, checker, real server, virtual server; SNI skips the real server; IPv6 in brackets', () => {
    const url = (extra = '') => `            url {\n                path /\n${extra}            }\n`;
    const r = load(`virtual_server 2001:db8::1 443 {
    protocol TCP
    lb_algo rr
    lb_kind NAT
    virtualhost vs.example.com
    real_server 2001:db8::10 443 {
        virtualhost rs.example.com
        SSL_GET {
${url()}            enable_sni
        }
        SSL_GET {
${url('                virtualhost u.example.com\n')}${url()}            virtualhost c.example.com
            enable_sni
        }
    }
    real_server 2001:db8::11 443 {
        SSL_GET {
${url()}        }
    }
}
virtual_server 2001:db8::2 80 {
    protocol TCP
    lb_algo rr
    lb_kind NAT
    real_server 2001:db8::12 8080 {
        HTTP_GET {
${url()}        }
    }
}
`);
    assert.deepEqual(r.lines, []);
    assert.ok(r.config);
    const all = resolveVirtualServers(r.config).flatMap((v) => v.realServers.flatMap((rs) => rs.checks));
    const hosts = all.map((c) => (c.kind === 'http' ? c.urls.map((u) => [u.host, u.sni]) : []));
    assert.deepEqual(hosts, [
      [['rs.example.com', 'vs.example.com']],
      [
        ['u.example.com', 'u.example.com'],
        ['c.example.com', 'c.example.com'],
      ],
      // without enable_sni no SNI
      [['vs.example.com', undefined]],
      [['[2001:db8::12]:8080', undefined]],
    ]);
    assert.equal(all[3]?.name, 'HTTP_GET [2001:db8::12]:8080');
  });

  test('SMTP_CHECK host blocks: each host a checker of its own; timing and helo_name shared', () => {
    const r = load(
      vs(`        SMTP_CHECK {
            helo_name mx.example.com
            connect_timeout 3
            host {
                connect_ip 198.51.100.20
                connect_port 2525
            }
            host {
                connect_ip 198.51.100.21
                retry 5
            }
        }
        SMTP_CHECK {
            host {
                connect_ip 198.51.100.22
            }
        }
`),
    );
    assert.deepEqual(r.lines, [
      'F:10:13: virtual_server.0.real_server.0.smtp_check.0: warning: The SMTP_CHECK host block is deprecated. Please define additional checkers. (each host is an SMTP_CHECK of its own here)',
      'F:20:13: virtual_server.0.real_server.0.smtp_check.3: warning: The SMTP_CHECK host block is deprecated. Please define additional checkers. (each host is an SMTP_CHECK of its own here)',
    ]);
    assert.ok(r.config);
    // the first block's connect_timeout is a connection option: it makes a checker of the
    // real server itself, as in keepalived; the second block has none, so only its host checks
    assert.deepEqual(r.config.virtual_server[0]?.real_server[0]?.smtp_check, [
      { helo_name: 'mx.example.com', retry: 5, connect_timeout: 3 },
      { helo_name: 'mx.example.com', retry: 5, connect_ip: '198.51.100.20', connect_port: 2525 },
      { helo_name: 'mx.example.com', retry: 5, connect_ip: '198.51.100.21' },
      { connect_ip: '198.51.100.22' },
    ]);
    const names = (checksOf(r.config)[0] ?? []).map((c) => c.name);
    assert.deepEqual(names, ['SMTP_CHECK 198.51.100.10:80', 'SMTP_CHECK 198.51.100.20:2525', 'SMTP_CHECK 198.51.100.21:80', 'SMTP_CHECK 198.51.100.22:80']);
  });

  test('lb_kind DR: a checker with no connect_port keeps the port written on the real_server line', () => {
    const r = load(`virtual_server 192.0.2.100 80 {
    protocol TCP
    lb_algo rr
    lb_kind DR
    real_server 192.0.2.10 8080 {
        HTTP_GET {
            url {
                path /
            }
        }
        DNS_CHECK {
        }
    }
}
`);
    assert.ok(r.config, r.lines.join('\n'));
    assert.deepEqual(
      (checksOf(r.config)[0] ?? []).map((c) => c.name),
      ['HTTP_GET 192.0.2.10:8080', 'DNS_CHECK 192.0.2.10:8080'],
    );
  });
});

describe('vigil -t on the checkers: keepalived 2.2.7 messages, with file:line:col', () => {
  // each expected message checked with keepalived 2.2.7 -t (its words, then what vigil does)
  test('HTTP_GET / SSL_GET', () => {
    const r = load(
      vs(`        HTTP_GET {
            url {
                path /
                status_code 200 600 abc 300-250 201-204
                digest 123
                regex ok
            }
            url {
                digest 0123456789abcdef0123456789abcdeg
            }
            url {
                path /x
                digest 0123456789abcdef0123456789abcdeg
                digest 0123456789abcdef0123456789abcdef
                virtualhost
            }
            http_protocol 2.0
            virtualhost
            nb_get_retry 4
            verify_tls
        }
`),
    );
    assert.deepEqual(r.lines, [
      "F:10:33: virtual_server.0.real_server.0.http_get.0.url.0.status_code: warning: Invalid HTTP_GET status code '600'; ignored",
      "F:10:37: virtual_server.0.real_server.0.http_get.0.url.0.status_code: warning: Invalid HTTP_GET status code 'abc'; ignored",
      "F:10:41: virtual_server.0.real_server.0.http_get.0.url.0.status_code: warning: Invalid HTTP_GET status code '300-250'; ignored",
      "F:11:17: virtual_server.0.real_server.0.http_get.0.url.0.digest: warning: digest '123' character length should be 32 rather than 3; ignored, as keepalived ignores it: the url is checked without a digest",
      "F:12:17: virtual_server.0.real_server.0.http_get.0.url.0.regex: warning: 'regex' is not supported by vigil (keepalived 2.2.7 as Debian builds it has no PCRE2 either: Unknown keyword); ignored: the url is checked without it",
      "F:15:17: virtual_server.0.real_server.0.http_get.0.url.1.digest: warning: Unable to interpret hex digit in '0123456789abcdef0123456789abcdeg' at offset 30/31; ignored, as keepalived ignores it: the url is checked without a digest",
      'F:14:13: virtual_server.0.real_server.0.http_get.0.url.1: warning: HTTP/SSL_GET checker url has no path - ignoring',
      "F:19:17: virtual_server.0.real_server.0.http_get.0.url.1.digest: warning: Unable to interpret hex digit in '0123456789abcdef0123456789abcdeg' at offset 30/31; ignored, as keepalived ignores it: the url is checked without a digest",
      'F:21:17: virtual_server.0.real_server.0.http_get.0.url.1.virtualhost: warning: Missing HTTP_GET virtualhost name; ignored',
      'F:23:13: virtual_server.0.real_server.0.http_get.0.http_protocol: warning: Invalid http_protocol version 2.0; ignored (1.0)',
      'F:24:13: virtual_server.0.real_server.0.http_get.0.virtualhost: warning: HTTP_GET virtualhost name missing; ignored',
      "F:25:13: virtual_server.0.real_server.0.http_get.0.nb_get_retry: warning: nb_get_retry is deprecated - please use 'retry'; taken as retry",
      'F:26:13: virtual_server.0.real_server.0.http_get.0.verify_tls: warning: verify_tls applies to SSL_GET only; ignored in HTTP_GET',
    ]);
    assert.ok(r.config);
    assert.deepEqual(r.config.virtual_server[0]?.real_server[0]?.http_get, [
      {
        url: [
          { path: '/', status_code: [200, '201-204'] },
          // the second digest line, once the first was refused (as keepalived)
          { path: '/x', digest: '0123456789abcdef0123456789abcdef' },
        ],
        retry: 4,
        verify_tls: true,
      },
    ]);
  });

  test('an HTTP_GET with no url is refused (keepalived 2.2.7 -t crashes on it: exit 139)', () => {
    const r = load(vs('        HTTP_GET {\n            url {\n            }\n        }\n'));
    assert.deepEqual(r.lines, [
      'F:8:13: virtual_server.0.real_server.0.http_get.0.url.0: warning: HTTP/SSL_GET checker url has no path - ignoring',
      'F:7:9: virtual_server.0.real_server.0.http_get.0.url: HTTP/SSL_GET checker has no urls specified',
    ]);
    assert.equal(r.config, null);
  });

  test('MISC_CHECK, DNS_CHECK, UDP_CHECK, FILE_CHECK, SMTP_CHECK, BFD_CHECK', () => {
    const r = load(
      `track_file tf {\n    file /run/tf\n}\n` +
        vs(`        MISC_CHECK {
            misc_timeout 3
        }
        MISC_CHECK {
            misc_path /bin/true a b
            misc_timeout abc
            connect_timeout 3
            user
        }
        DNS_CHECK {
            type FOO
            name a..b
        }
        DNS_CHECK {
            name example.com
            name .example
        }
        UDP_CHECK {
            payload 12zz
            require_reply 0a0bZZ
            min_reply_length 100
            max_reply_length 10
        }
        UDP_CHECK {
            max_reply_length 70000
            payload
        }
        FILE_CHECK {
            weight 3
        }
        FILE_CHECK {
            track_file tf
            weight 2 sideways
        }
        FILE_CHECK {
            track_file nope
        }
        SMTP_CHECK {
            helo_name
        }
        PING_CHECK {
            connect_port 80
        }
        BFD_CHECK {
            name b1
        }
`),
    );
    assert.deepEqual(r.lines, [
      'F:10:9: virtual_server.0.real_server.0.misc_check.0: warning: No script path has been specified for MISC_CHECKER - skipping (this real server has no such check)',
      "F:14:13: virtual_server.0.real_server.0.misc_check.0.misc_path: warning: words after '/bin/true' are ignored, as keepalived ignores them (quote the whole line to pass arguments)",
      "F:15:13: virtual_server.0.real_server.0.misc_check.0.misc_timeout: warning: Invalid misc_timeout value 'abc'; ignored (whole seconds)",
      "F:16:13: virtual_server.0.real_server.0.misc_check.0.connect_timeout: unknown keyword 'connect_timeout'",
      'F:17:13: virtual_server.0.real_server.0.misc_check.0.user: warning: No user specified for misc checker script /bin/true; ignored',
      'F:20:13: virtual_server.0.real_server.0.dns_check.0.type: warning: Unknown DNS check type FOO - ignoring',
      "F:21:13: virtual_server.0.real_server.0.dns_check.0.name: warning: DNS_CHECK name 'a..b' has empty label - ignoring",
      'F:25:13: virtual_server.0.real_server.0.dns_check.1.name: warning: DNS_CHECK name already specified - ignoring',
      'F:28:13: virtual_server.0.real_server.0.udp_check.0.payload: warning: Invalid hex string for UDP_CHECK payload; ignored',
      'F:29:13: virtual_server.0.real_server.0.udp_check.0.require_reply: warning: Invalid hex string for UDP_CHECK reply; any reply passes',
      'F:34:13: virtual_server.0.real_server.0.udp_check.1.max_reply_length: warning: UDP_CHECK max length 70000 not valid - must be between 0 & 65535; ignored',
      'F:35:13: virtual_server.0.real_server.0.udp_check.1.payload: warning: UDP_CHECK payload requires a payload; ignored',
      'F:37:9: virtual_server.0.real_server.0.file_check.0: warning: FILE_CHECK has no track_file specified - ignoring (this real server has no such check)',
      'F:42:13: virtual_server.0.real_server.0.file_check.0.weight: warning: unknown track file weight option sideways - ignoring',
      'F:48:13: virtual_server.0.real_server.0.smtp_check.0.helo_name: warning: SMTP_CHECK helo name missing; ignored',
      'F:53:9: virtual_server.0.real_server.0.BFD_CHECK: BFD_CHECK is refused: vigil has no BFD (bidirectional forwarding detection); check the real server with another checker (TCP_CHECK, PING_CHECK), or follow a BFD session on the VRRP side with a track_script or track_file',
      'F:51:13: virtual_server.0.real_server.0.ping_check.0.connect_port: warning: connect_port means nothing to PING_CHECK (ICMP has no ports); ignored',
      'F:27:9: virtual_server.0.real_server.0.udp_check.0: warning: UDP_CHECK min_reply length 100 > max_reply_length 10 - will always fail',
      'F:45:13: virtual_server.0.real_server.0.file_check.1.track_file: track_file nope not found (keepalived 2.2.7 then runs without this FILE_CHECK: "FILE_CHECK has no track_file specified - ignoring"; vigil refuses it)',
    ]);
    assert.equal(r.config, null, 'BFD_CHECK, an unknown keyword and an unknown track_file are errors');
    const rs = r.checked?.virtual_server[0]?.real_server[0];
    assert.deepEqual(rs?.misc_check, [{ misc_path: '/bin/true' }]);
    // a refused type or name leaves keepalived's default (SOA, the root)
    assert.deepEqual(rs?.dns_check, [{}, { name: 'example.com' }]);
    assert.deepEqual(rs?.udp_check, [{ require_reply: true, min_reply_length: 100, max_reply_length: 10 }, {}]);
  });

  test('a checker needs a port to connect to, and addresses of the real server family', () => {
    const r = load(`virtual_server 192.0.2.100 80 {
    protocol TCP
    lb_algo rr
    lb_kind NAT
    real_server 192.0.2.10 {
        DNS_CHECK {
        }
        PING_CHECK {
        }
        PLUGIN_CHECK {
            checker c1
        }
        UDP_CHECK {
            connect_ip 2001:db8::1
            connect_port 53
            bindto 192.0.2.1
        }
    }
}
`);
    assert.deepEqual(r.lines, [
      'F:6:9: virtual_server.0.real_server.0.dns_check.0: DNS_CHECK of real server 192.0.2.10 has no port to connect to: the real server has no port and the check no connect_port (keepalived 2.2.7 runs it against port 0, where it always fails); set connect_port',
      "F:14:13: virtual_server.0.real_server.0.udp_check.0.connect_ip: connect_ip 2001:db8::1 is not of the real server's address family",
      "F:16:13: virtual_server.0.real_server.0.udp_check.0.bindto: bindto 192.0.2.1 is not of the checked address's family",
    ]);
  });

  test('PLUGIN_CHECK: checker is required, param takes a name and a value', () => {
    const r = load(vs('        PLUGIN_CHECK {\n            param db\n        }\n        PLUGIN_CHECK {\n            checker c1\n            param a 1\n            param a -2.5\n            param b two words\n        }\n'));
    assert.deepEqual(r.lines, [
      'F:8:13: virtual_server.0.real_server.0.plugin_check.0.param: param takes a name and a value: param KEY VALUE',
      'F:7:9: virtual_server.0.real_server.0.plugin_check.0: PLUGIN_CHECK needs `checker NAME` (the name its plugin registered with ctx.registerChecker)',
      'F:13:13: virtual_server.0.real_server.0.plugin_check.0.params.a: warning: param a is given twice; the last one counts',
    ]);
    assert.deepEqual(r.checked?.virtual_server[0]?.real_server[0]?.plugin_check, [{ checker: 'c1', params: { a: -2.5, b: 'two words' } }]);
  });

  test('the global SSL block: a second one replaces the first, as in keepalived', () => {
    const r = load('SSL {\n    ca /a\n}\nSSL {\n    key /k\n    key /k2\n    certificate\n}\n' + vs(''));
    assert.deepEqual(r.lines, [
      'F:4:1: ssl: warning: SSL context already specified - replacing',
      'F:6:5: ssl.key: warning: SSL key already specified - replacing',
      'F:7:5: ssl.certificate: warning: SSL certificate missing; ignored',
    ]);
    assert.deepEqual(r.config?.ssl, { key: '/k2' });
  });

  test('the YAML form: schema errors in keepalived words, at the node', () => {
    const r = load(
      `virtual_server:
  - ip: 198.51.100.1
    port: 80
    protocol: TCP
    lb_algo: rr
    lb_kind: NAT
    real_server:
      - ip: 198.51.100.10
        port: 80
        http_get:
          - url: [{ path: /, status_code: [200, 600, 302-301], digest: abc }]
          - url: []
        dns_check: [{ type: FOO, name: a..b }]
        udp_check: [{ payload: zz, require_reply: 0aqq, min_reply_length: 5, max_reply_length: 4 }]
        misc_check: [{ misc_timeout: 3 }]
        file_check: [{ track_file: nope }]
`,
      'yaml',
    );
    assert.deepEqual(r.lines, [
      'F:11:72: virtual_server.0.real_server.0.http_get.0.url.0.digest: digest must be 32 hex digits (the MD5 of the body)',
      "F:11:49: virtual_server.0.real_server.0.http_get.0.url.0.status_code.1: Invalid HTTP_GET status code '600' (N or N-M, within 100-599)",
      "F:11:54: virtual_server.0.real_server.0.http_get.0.url.0.status_code.2: Invalid HTTP_GET status code '302-301' (N or N-M, within 100-599)",
      'F:12:18: virtual_server.0.real_server.0.http_get.1.url: HTTP/SSL_GET checker has no urls specified',
      'F:15:22: virtual_server.0.real_server.0.misc_check.0.misc_path: Invalid input: expected string, received undefined',
      'F:13:29: virtual_server.0.real_server.0.dns_check.0.type: Unknown DNS check type FOO (one of A NS CNAME SOA MX TXT AAAA RRSIG DNSKEY)',
      "F:13:40: virtual_server.0.real_server.0.dns_check.0.name: DNS_CHECK name 'a..b' has empty label",
      'F:14:32: virtual_server.0.real_server.0.udp_check.0.payload: Invalid hex string for UDP_CHECK payload',
      'F:14:51: virtual_server.0.real_server.0.udp_check.0.require_reply: Invalid hex string for UDP_CHECK reply',
      'F:14:21: virtual_server.0.real_server.0.udp_check.0: warning: UDP_CHECK min_reply length 5 > max_reply_length 4 - will always fail',
      'F:16:36: virtual_server.0.real_server.0.file_check.0.track_file: track_file nope not found (keepalived 2.2.7 then runs without this FILE_CHECK: "FILE_CHECK has no track_file specified - ignoring"; vigil refuses it)',
    ]);
    assert.equal(r.config, null);
    // there is no bfd_check: an unknown key
    const bfd = load('virtual_server:\n  - ip: 198.51.100.1\n    real_server:\n      - { ip: 198.51.100.10, bfd_check: [{}] }\n', 'yaml');
    assert.deepEqual(bfd.lines.slice(0, 1), ['F:4:9: virtual_server.0.real_server.0: Unrecognized key: "bfd_check"']);
  });

  test("keepalived's hex strings: pairs, blanks between groups, a lone digit is a byte, X wildcards in replies only", () => {
    assert.equal(parseHex('0a0b 0c', false), '0a0b0c');
    assert.equal(parseHex('abc', false), 'ab0c');
    assert.equal(parseHex('1 2', false), '0102');
    assert.equal(parseHex('0AxX', true), '0aXX');
    assert.equal(parseHex('0x', false), undefined);
    assert.equal(parseHex('', false), undefined);
    assert.equal(parseHex('12zz', false), undefined);
  });
});

describe('the command line', () => {
  const bin = new URL('../../bin/vigil', import.meta.url).pathname;

  test('vigil convert of every checker prints YAML that loads to the same config', () => {
    const file = join(dir, 'every.conf');
    writeFileSync(file, EVERY);
    const r = spawnSync(bin, ['convert', file], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^ {8}plugin_check:$/m);
    assert.match(r.stdout, /^ssl:$/m);
    const again = loadConfigText(r.stdout, 'converted.yaml', host);
    assert.deepEqual(again.diagnostics, []);
    assert.deepEqual(again.config, loadConfigFile(file, host).config);
  });

  test('vigil -t: no checker is "not yet supported"; MISC_CHECK scripts are checked like notify scripts', () => {
    const file = join(dir, 'misc.conf');
    writeFileSync(
      file,
      vs(`        MISC_CHECK {
            misc_path "/nonexistent/vigil-probe --x"
        }
        MISC_CHECK {
            misc_path /bin/true
            user vigil-no-such-user
        }
        HTTP_GET {
            url {
                path /
            }
        }
        SSL_GET {
            url {
                path /
            }
        }
        DNS_CHECK {
        }
        SMTP_CHECK {
        }
        UDP_CHECK {
        }
        PING_CHECK {
        }
`),
    );
    const r = spawnSync(bin, ['-t', '-f', file], { encoding: 'utf8' });
    const out = r.stdout + r.stderr;
    assert.equal(r.status, 0, out);
    assert.doesNotMatch(out, /not yet supported/);
    assert.match(out, /misc\.conf:8:13: virtual_server\.0\.real_server\.0\.misc_check\.0\.misc_path: warning: script \/nonexistent\/vigil-probe cannot be accessed/);
    assert.match(out, /misc\.conf:11:13: virtual_server\.0\.real_server\.0\.misc_check\.1\.misc_path: warning: user vigil-no-such-user does not exist; the daemon will not run it/);
  });
});
