// The receive path in one place (src/vrrp/receive.ts): a socket's frame becomes a decoded advert
// for the instance of its VRID, or a drop with its reason, charged to the interface (before any
// instance) or to the instance it was for. Real encoded adverts in real IPv4 headers.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { encodeAdvert } from '../../src/vrrp/packet.ts';
import { ipToBytes } from '../../src/vrrp/ipaddr.ts';
import { acceptAdvert, receiveFrame, type Frame, type ReceiveProfile } from '../../src/vrrp/receive.ts';
import type { Advert } from '../../src/vrrp/types.ts';

const advert = (over: Partial<Advert> = {}): Advert => ({ version: 3, family: 4, vrid: 7, priority: 100, intervalCs: 100, addresses: ['192.0.2.100'], authType: 'none', authPassword: '', ...over });

function ipv4(src: string, dst: string, payload: Buffer, ttl = 255): Frame {
  const ip = Buffer.alloc(20 + payload.length);
  ip[0] = 0x45;
  ip.writeUInt16BE(ip.length, 2);
  ip[8] = ttl;
  ip[9] = 112;
  ipToBytes(src).copy(ip, 12);
  ipToBytes(dst).copy(ip, 16);
  payload.copy(ip, 20);
  return { family: 4, bytes: ip, source: '', group: '' };
}

const profile = (over: Partial<ReceiveProfile> = {}): ReceiveProfile => ({ vrid: 7, family: 4, version: 3, primaryAddress: '192.0.2.1', acceptFrom: undefined, owner: false, decode: { family: 4 }, ...over });
const target = { name: 'VI_7', receiveProfile: profile() };
const lookup = (vrid: number) => (vrid === 7 ? target : undefined);

test('a valid advert reaches the instance of its VRID, decoded, with its sender', () => {
  const r = receiveFrame(ipv4('192.0.2.2', '224.0.0.18', encodeAdvert(advert(), { src: '192.0.2.2', dst: '224.0.0.18' })), lookup);
  assert.ok(r.ok);
  assert.equal(r.target, target);
  assert.equal(r.from, '192.0.2.2');
  assert.deepEqual(r.advert.addresses, ['192.0.2.100']);
});

test('before any instance: a broken IP header, another protocol, a VRID nobody has (no target: the interface counts them)', () => {
  const good = ipv4('192.0.2.2', '224.0.0.18', encodeAdvert(advert(), { src: '192.0.2.2', dst: '224.0.0.18' }));
  const short = { ...good, bytes: good.bytes.subarray(0, 12) };
  assert.deepEqual(pick(receiveFrame(short, lookup)), [undefined, 'bad-ip-header']);
  const tcp = Buffer.from(good.bytes);
  tcp[9] = 6;
  assert.deepEqual(pick(receiveFrame({ ...good, bytes: tcp }, lookup)), [undefined, 'not-vrrp']);
  const other = ipv4('192.0.2.2', '224.0.0.18', encodeAdvert(advert({ vrid: 8 }), { src: '192.0.2.2', dst: '224.0.0.18' }));
  const r = receiveFrame(other, lookup);
  assert.deepEqual(pick(r), [undefined, 'vrid-mismatch']);
  assert.equal(!r.ok && r.detail, 'VRID 8 from 192.0.2.2');
});

test("the instance's drops: TTL, checksum, own advert, not a unicast peer, address owner", () => {
  const bytes = encodeAdvert(advert(), { src: '192.0.2.2', dst: '224.0.0.18' });
  assert.deepEqual(pick(receiveFrame(ipv4('192.0.2.2', '224.0.0.18', bytes, 254), lookup)), [target, 'bad-ttl']);
  assert.deepEqual(pick(receiveFrame(ipv4('192.0.2.3', '224.0.0.18', bytes), lookup)), [target, 'bad-checksum'], 'the v3 checksum covers the source');
  const meta = { src: '192.0.2.2', dst: '224.0.0.18' };
  assert.equal(reason(acceptAdvert(bytes, meta, profile({ primaryAddress: '192.0.2.2' }))), 'own-advert');
  assert.equal(reason(acceptAdvert(bytes, meta, profile({ acceptFrom: ['192.0.2.9'] }))), 'not-a-peer');
  assert.equal(acceptAdvert(bytes, meta, profile({ acceptFrom: ['192.0.2.2'] })).ok, true);
  assert.equal(reason(acceptAdvert(bytes, meta, profile({ owner: true }))), 'address-owner');
  assert.equal(reason(acceptAdvert(bytes, meta, profile({ version: 2 }))), 'family-mismatch');
});

test('IPv6: no IP header; the sender loses its scope, the destination is the group joined', () => {
  const p6 = profile({ family: 6, primaryAddress: 'fe80::1', decode: { family: 6 } });
  const bytes = encodeAdvert(advert({ family: 6, addresses: ['2001:db8::100'] }), { src: 'fe80::2', dst: 'ff02::12' });
  const r = receiveFrame({ family: 6, bytes, source: 'fe80::2%eth0', group: 'ff02::12' }, (vrid) => (vrid === 7 ? { receiveProfile: p6 } : undefined));
  assert.ok(r.ok, r.ok ? '' : r.reason);
  assert.equal(r.from, 'fe80::2');
});

function pick(r: ReturnType<typeof receiveFrame<typeof target>>): [unknown, string] {
  return r.ok ? [r.target, 'ok'] : [r.target, r.reason];
}

function reason(r: ReturnType<typeof acceptAdvert>): string {
  return r.ok ? 'ok' : r.reason;
}
