// keepalived's virtual_routes lines, parsed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseRoute } from '../../src/net/routes.ts';

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
