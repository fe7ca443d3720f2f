// The bytes of the announcements (src/net/announce.ts): the unsolicited NA's flags (Router only
// when the sender forwards IPv6, as keepalived sets it; Override always; never Solicited) and the
// gratuitous ARP's fields.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { garpFrame, ipv6Forwarding, unsolicitedNa } from '../../src/net/announce.ts';

const mac = Buffer.from([0x02, 0, 0x5e, 0x10, 0x20, 0x30]);

test('unsolicited NA: Override, Router only when forwarding, target and link-layer option', () => {
  for (const router of [false, true]) {
    const na = unsolicitedNa(mac, '2001:db8::100', router);
    assert.equal(na.length, 32);
    assert.equal(na[0], 136);
    assert.equal(na[4], router ? 0xa0 : 0x20, 'R|O or O; S clear');
    assert.equal(na.subarray(8, 24).toString('hex'), '20010db8000000000000000000000100');
    assert.deepEqual([...na.subarray(24, 26)], [2, 1]);
    assert.ok(na.subarray(26, 32).equals(mac));
  }
  assert.equal(unsolicitedNa(mac, '2001:db8::1')[4], 0x20, 'Router clear by default');
});

test('ipv6Forwarding reads the interface, falls back to all, false without either', () => {
  // lo always exists; its value is whatever this host has, the same as `all` unless set apart
  assert.equal(typeof ipv6Forwarding('lo'), 'boolean');
  assert.equal(ipv6Forwarding('no-such-if0'), ipv6Forwarding('all'));
});

test('gratuitous ARP frame: broadcast request, sender = target = VIP', () => {
  const f = garpFrame(mac, '192.0.2.100');
  assert.equal(f.subarray(0, 6).toString('hex'), 'ffffffffffff');
  assert.equal(f.readUInt16BE(12), 0x0806);
  assert.equal(f.readUInt16BE(20), 1);
  assert.equal(f.subarray(28, 32).toString('hex'), 'c0000264');
  assert.equal(f.subarray(38, 42).toString('hex'), 'c0000264');
});
