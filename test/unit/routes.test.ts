// keepalived's virtual_routes and virtual_rules lines, parsed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseRoute } from '../../src/net/routes.ts';
import { parseRule } from '../../src/net/rules.ts';

test('route lines keepalived users write', () => {
  assert.deepEqual(parseRoute('198.51.100.0/24 via 192.0.2.254 dev eth1 metric 5'), {
    ok: true,
    route: { type: 'unicast', family: 4, dst: '198.51.100.0', dstLen: 24, table: 254, gateway: '192.0.2.254', dev: 'eth1', metric: 5 },
  });
  assert.deepEqual(parseRoute('src 192.0.2.1 to 198.51.100.0/25 gw 192.0.2.254 table 100'), {
    ok: true,
    route: { type: 'unicast', family: 4, dst: '198.51.100.0', dstLen: 25, table: 100, src: '192.0.2.1', gateway: '192.0.2.254' },
  });
  assert.deepEqual(parseRoute('blackhole 203.0.113.1/32'), { ok: true, route: { type: 'blackhole', family: 4, dst: '203.0.113.1', dstLen: 32, table: 254 } });
  assert.deepEqual(parseRoute('2001:db8:1::/48 via 2001:db8::1'), {
    ok: true,
    route: { type: 'unicast', family: 6, dst: '2001:db8:1::', dstLen: 48, table: 254, gateway: '2001:db8::1' },
  });
  const def = parseRoute('default via 192.0.2.254 scope global');
  assert.ok(def.ok && def.route.dstLen === 0 && def.route.dst === '0.0.0.0' && def.route.scope === 0);
});

test('bad lines are errors; valid keepalived options vigil lacks are marked unsupported', () => {
  assert.deepEqual(parseRoute('198.51.100.0/24 via 2001:db8::1'), { ok: false, error: "via needs an IPv4 address, got '2001:db8::1'" });
  assert.deepEqual(parseRoute('198.51.100.0/33'), { ok: false, error: "bad prefix length in '198.51.100.0/33'" });
  assert.deepEqual(parseRoute('198.51.100.0/24 bogus 1'), { ok: false, error: "unknown route option 'bogus'" });
  const or = parseRoute('198.51.100.0/24 via 192.0.2.1 or 192.0.2.2');
  assert.ok(!or.ok && or.unsupported === true);
});

test('rule lines keepalived users write', () => {
  assert.deepEqual(parseRule('from 192.0.2.0/24 table 100 priority 50'), {
    ok: true,
    rule: { family: 4, action: 'table', from: { addr: '192.0.2.0', len: 24 }, table: 100, priority: 50 },
  });
  assert.deepEqual(parseRule('to 2001:db8::/32 iif eth1 fwmark 0x10/0xff lookup 7'), {
    ok: true,
    rule: { family: 6, action: 'table', to: { addr: '2001:db8::', len: 32 }, iif: 'eth1', fwmark: 16, fwmask: 255, table: 7 },
  });
  assert.deepEqual(parseRule('from 192.0.2.1 blackhole'), { ok: true, rule: { family: 4, action: 'blackhole', from: { addr: '192.0.2.1', len: 32 } } });
  assert.deepEqual(parseRule('from 192.0.2.1'), { ok: false, error: 'a rule needs a table (or blackhole, unreachable, prohibit)' });
  assert.deepEqual(parseRule('to 192.168.200./24 table 2'), { ok: false, error: "to needs an address or prefix, got '192.168.200./24'" });
  assert.deepEqual(parseRule('from 192.0.2.1 to 2001:db8::1 table 1'), { ok: false, error: 'a rule cannot mix IPv4 and IPv6' });
  const goto = parseRule('from 192.0.2.1 goto 100');
  assert.ok(!goto.ok && goto.unsupported === true);
});
