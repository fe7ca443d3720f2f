// The VRRP codec: fixed vectors (hand-built and captured from Debian's keepalived), one test
// per rejection reason, checksum corners and round-trip properties.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { decodeAdvert, encodeAdvert, parseIpv4Packet, vrrpChecksum, type DecodeOptions } from '../../src/vrrp/packet.ts';
import { bytesToIp, canonicalIp, ipToBytes } from '../../src/vrrp/ipaddr.ts';
import type { Advert, Family } from '../../src/vrrp/types.ts';

interface VectorCase {
  name: string;
  version: 2 | 3;
  family: Family;
  vrid: number;
  priority: number;
  advertIntervalS: number;
  vips: string[];
  authPass?: string;
  packets: Array<{ src: string; dst: string; ttl: number; hex: string }>;
}
const vectors = JSON.parse(readFileSync(new URL('../vectors/keepalived.json', import.meta.url), 'utf8')) as {
  keepalivedVersion: string;
  cases: VectorCase[];
};

const V4 = { src: '192.0.2.1', dst: '224.0.0.18' };
const V6 = { src: 'fe80::1', dst: 'ff02::12' };

function v2(over: Partial<Advert> = {}): Advert {
  return {
    version: 2,
    family: 4,
    vrid: 1,
    priority: 100,
    intervalCs: 100,
    addresses: ['192.0.2.100'],
    authType: 'none',
    authPassword: '',
    ...over,
  };
}

function v3(over: Partial<Advert> = {}): Advert {
  return { ...v2(), version: 3, ...over };
}

function opts(family: Family = 4, over: Partial<DecodeOptions> = {}): DecodeOptions {
  return { family, ...(family === 4 ? V4 : V6), ...over };
}

/** Recomputes a v2 checksum after a test mutated the bytes (so the check under test is reached). */
function fixV2Checksum(b: Buffer): Buffer {
  b.writeUInt16BE(0, 6);
  let sum = 0;
  for (let i = 0; i + 1 < b.length; i += 2) sum += b.readUInt16BE(i);
  if (b.length % 2) sum += (b[b.length - 1] ?? 0) << 8;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  b.writeUInt16BE(~sum & 0xffff, 6);
  return b;
}

describe('fixed vectors', () => {
  test('hand-built v2 advert, byte for byte', () => {
    // ver 2 type 1 | vrid 1 | prio 100 | 1 addr | auth 0 | 1 s | checksum | 192.0.2.100 | 8 x 0
    const bytes = encodeAdvert(v2(), V4);
    assert.equal(bytes.toString('hex'), '210164010001b897c00002640000000000000000');
  });

  test('hand-built v3 IPv4 advert with the pseudo-header checksum', () => {
    const bytes = encodeAdvert(v3({ intervalCs: 100 }), V4);
    assert.equal(bytes.toString('hex').slice(0, 12), '310164010064');
    assert.equal(bytes.length, 12);
    // the same message without the pseudo-header has another checksum: the header counts
    const d = decodeAdvert(bytes, opts(4, { src: '192.0.2.2' }));
    assert.equal(d.ok, false);
  });

  test(`keepalived ${vectors.keepalivedVersion}: every captured packet decodes to its config`, () => {
    assert.equal(vectors.cases.length, 4);
    for (const c of vectors.cases) {
      assert.ok(c.packets.length >= 2, `${c.name}: an advert and the priority-0 goodbye`);
      for (const p of c.packets) {
        assert.equal(p.ttl, 255, `${c.name}: keepalived sends with TTL/hop limit 255`);
        const r = decodeAdvert(Buffer.from(p.hex, 'hex'), {
          family: c.family,
          src: p.src,
          dst: p.dst,
          ttl: p.ttl,
          ...(c.authPass ? { auth: { type: 'simple' as const, password: c.authPass } } : {}),
        });
        assert.ok(r.ok, `${c.name}: ${r.ok ? '' : r.reason}`);
        assert.equal(r.legacyChecksum, false);
        assert.equal(r.advert.version, c.version);
        assert.equal(r.advert.vrid, c.vrid);
        assert.ok(r.advert.priority === c.priority || r.advert.priority === 0);
        assert.equal(r.advert.intervalCs, c.advertIntervalS * 100);
        assert.deepEqual(r.advert.addresses, c.vips.map(canonicalIp));
        assert.equal(r.advert.authType, c.authPass ? 'simple' : 'none');
        assert.equal(r.advert.authPassword, c.authPass ?? '');
      }
      assert.ok(c.packets.some((p) => Buffer.from(p.hex, 'hex')[2] === 0), `${c.name}: priority 0 on stop`);
    }
  });

  test('keepalived vectors: our encoder reproduces every captured byte', () => {
    for (const c of vectors.cases) {
      for (const p of c.packets) {
        const wire = Buffer.from(p.hex, 'hex');
        const advert: Advert = {
          version: c.version,
          family: c.family,
          vrid: c.vrid,
          priority: wire[2] ?? -1,
          intervalCs: c.advertIntervalS * 100,
          addresses: c.vips,
          authType: c.authPass ? 'simple' : 'none',
          authPassword: c.authPass ?? '',
        };
        assert.equal(encodeAdvert(advert, p).toString('hex'), p.hex, c.name);
      }
    }
  });

  test('keepalived v2 sends 8 zero bytes of auth data even without authentication', () => {
    const c = vectors.cases.find((x) => x.name === 'v2-noauth');
    const hex = c?.packets[0]?.hex ?? '';
    assert.equal(hex.length / 2, 8 + 4 * 3 + 8);
    assert.ok(hex.endsWith('0000000000000000'));
  });
});

describe('rejections: decode never throws and names the reason', () => {
  const good = encodeAdvert(v2(), V4);
  const cases: Array<[string, Buffer | Uint8Array, DecodeOptions]> = [
    ['too-short', good.subarray(0, 7), opts()],
    ['bad-version', fixV2Checksum(Buffer.from([0x41, ...good.subarray(1)])), opts()],
    ['bad-type', fixV2Checksum(Buffer.from([0x22, ...good.subarray(1)])), opts()],
    ['vrid-zero', fixV2Checksum(Buffer.from([0x21, 0, ...good.subarray(2)])), opts()],
    ['address-count-zero', fixV2Checksum(Buffer.from([0x21, 1, 100, 0, ...good.subarray(4)])), opts()],
    ['length-mismatch', fixV2Checksum(Buffer.from([0x21, 1, 100, 2, ...good.subarray(4)])), opts()],
    ['bad-checksum', Buffer.from([...good.subarray(0, 19), 1]), opts()],
    ['interval-zero', fixV2Checksum(Buffer.from([...good.subarray(0, 5), 0, ...good.subarray(6)])), opts()],
    ['v6-needs-v3', good, opts(6)],
    ['auth-ah-unsupported', fixV2Checksum(Buffer.from([...good.subarray(0, 4), 2, ...good.subarray(5)])), opts()],
    ['bad-auth-type', fixV2Checksum(Buffer.from([...good.subarray(0, 4), 7, ...good.subarray(5)])), opts()],
    ['auth-type-mismatch', good, opts(4, { auth: { type: 'simple', password: 'x' } })],
    [
      'auth-password-mismatch',
      encodeAdvert(v2({ authType: 'simple', authPassword: 'right' }), V4),
      opts(4, { auth: { type: 'simple', password: 'wrong' } }),
    ],
    ['bad-ttl', good, opts(4, { ttl: 64 })],
  ];
  for (const [reason, bytes, o] of cases) {
    test(reason, () => {
      const r = decodeAdvert(bytes, o);
      assert.equal(r.ok, false);
      assert.equal(r.ok ? '' : r.reason, reason);
      assert.ok(!r.ok && r.detail.length > 0);
    });
  }

  test('v3: interval zero, and a length that disagrees with the family', () => {
    const z = encodeAdvert(v3(), V4);
    z.writeUInt16BE(0xf000, 4); // reserved bits set, interval 0
    z.writeUInt16BE(vrrpChecksum(z, 3, 4, V4), 6);
    assert.equal((decodeAdvert(z, opts()) as { reason: string }).reason, 'interval-zero');
    const v6 = encodeAdvert(v3({ family: 6, addresses: ['2001:db8::1'] }), V6);
    assert.equal((decodeAdvert(v6, opts(4)) as { reason: string }).reason, 'length-mismatch');
  });

  test('the v3 reserved bits are ignored on receipt', () => {
    const withRsvd = encodeAdvert(v3({ intervalCs: 250 }), V4);
    withRsvd[4] = (withRsvd[4] ?? 0) | 0xa0;
    withRsvd.writeUInt16BE(vrrpChecksum(withRsvd, 3, 4, V4), 6);
    const r = decodeAdvert(withRsvd, opts());
    assert.ok(r.ok, r.ok ? '' : r.reason);
    assert.equal(r.advert.intervalCs, 250);
  });

  test('the old keepalived v3 IPv4 checksum (no pseudo-header) only when asked', () => {
    const bytes = encodeAdvert(v3(), V4);
    bytes.writeUInt16BE(0, 6);
    const legacy = fixV2Checksum(Buffer.from(bytes)); // message-only sum, as v2 does
    assert.equal((decodeAdvert(legacy, opts()) as { reason: string }).reason, 'bad-checksum');
    const r = decodeAdvert(legacy, opts(4, { legacyV3Ipv4Checksum: true }));
    assert.ok(r.ok);
    assert.equal(r.legacyChecksum, true);
    // and never for IPv6, where the pseudo-header was always used
    const v6 = encodeAdvert(v3({ family: 6, addresses: ['2001:db8::1'] }), V6);
    v6.writeUInt16BE(0, 6);
    const v6legacy = fixV2Checksum(v6);
    assert.equal((decodeAdvert(v6legacy, opts(6, { legacyV3Ipv4Checksum: true })) as { reason: string }).reason, 'bad-checksum');
  });

  test('a v2 advert without auth data is tolerated when it has no authentication', () => {
    const short = fixV2Checksum(Buffer.from(encodeAdvert(v2(), V4).subarray(0, 12)));
    assert.ok(decodeAdvert(short, opts()).ok);
  });
});

describe('encode refuses adverts that cannot exist on the wire', () => {
  for (const [what, advert, pattern] of [
    ['VRID 0', v2({ vrid: 0 }), /VRID must be 1..255/],
    ['VRID 256', v2({ vrid: 256 }), /VRID must be 1..255/],
    ['v2 fractional interval', v2({ intervalCs: 150 }), /whole seconds/],
    ['v3 interval past 12 bits', v3({ intervalCs: 4096 }), /1..4095/],
    ['v2 over IPv6', v2({ family: 6, addresses: ['2001:db8::1'] }), /IPv4 only/],
    ['wrong family address', v3({ addresses: ['2001:db8::1'] }), /not an IPv4 address/],
    ['no address', v3({ addresses: [] }), /1..255 addresses/],
    ['256 addresses', v3({ addresses: Array.from({ length: 256 }, () => '192.0.2.1') }), /1..255 addresses/],
    ['AH', v2({ authType: 'ah' }), /not supported/],
  ] as const) {
    test(what, () => assert.throws(() => encodeAdvert(advert, V4), pattern));
  }

  test('passwords past 8 bytes are truncated as keepalived truncates them', () => {
    const long = encodeAdvert(v2({ authType: 'simple', authPassword: 'abcdefghijkl' }), V4);
    assert.equal(long.subarray(-8).toString(), 'abcdefgh');
    const r = decodeAdvert(long, opts(4, { auth: { type: 'simple', password: 'abcdefghijkl' } }));
    assert.ok(r.ok);
  });
});

describe('address counts and checksum corners', () => {
  test('1 and 255 IPv4 addresses, v2 and v3', () => {
    for (const n of [1, 255]) {
      const addresses = Array.from({ length: n }, (_, i) => `198.51.100.${i}`);
      for (const a of [v2({ addresses }), v3({ addresses })]) {
        const r = decodeAdvert(encodeAdvert(a, V4), opts());
        assert.ok(r.ok);
        assert.deepEqual(r.advert.addresses, addresses);
      }
    }
  });

  test('as many IPv6 addresses as fit a 1500-byte MTU (90)', () => {
    const n = Math.floor((1500 - 40 - 8) / 16);
    assert.equal(n, 90);
    const addresses = Array.from({ length: n }, (_, i) => `2001:db8::${(i + 1).toString(16)}`);
    const bytes = encodeAdvert(v3({ family: 6, addresses }), V6);
    assert.equal(bytes.length + 40, 1448 + 40);
    const r = decodeAdvert(bytes, opts(6));
    assert.ok(r.ok);
    assert.deepEqual(r.advert.addresses, addresses);
  });

  test('odd-length messages and carry folding', () => {
    // An IPv6 message is always even, so check the folding with bytes that force carries:
    // all-ones addresses make the running sum overflow 16 bits many times.
    const a = v3({ family: 6, addresses: ['ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff', 'ffff::ffff'], priority: 255 });
    const r = decodeAdvert(encodeAdvert(a, V6), opts(6));
    assert.ok(r.ok);
    // and v2's odd total never happens (header 8 + 4n + 8), but the checksum routine pads
    const odd = encodeAdvert(v2(), V4).subarray(0, 13);
    assert.equal((decodeAdvert(odd, opts()) as { reason: string }).reason, 'length-mismatch');
  });
});

describe('IPv4 header parsing (raw sockets deliver it)', () => {
  test('extracts src, dst, TTL and the VRRP payload; rejects other protocols', () => {
    const vrrp = encodeAdvert(v2(), V4);
    const ip = Buffer.alloc(20 + vrrp.length);
    ip[0] = 0x45;
    ip.writeUInt16BE(ip.length, 2);
    ip[8] = 255;
    ip[9] = 112;
    ipToBytes('192.0.2.1').copy(ip, 12);
    ipToBytes('224.0.0.18').copy(ip, 16);
    vrrp.copy(ip, 20);
    const p = parseIpv4Packet(ip);
    assert.ok(p.ok);
    assert.deepEqual([p.src, p.dst, p.ttl], ['192.0.2.1', '224.0.0.18', 255]);
    assert.ok(p.payload.equals(vrrp));
    ip[9] = 6;
    assert.equal((parseIpv4Packet(ip) as { reason: string }).reason, 'not-vrrp');
    assert.equal((parseIpv4Packet(ip.subarray(0, 10)) as { reason: string }).reason, 'bad-ip-header');
  });
});

describe('round-trip properties', () => {
  const ipv4 = fc.ipV4().map(canonicalIp);
  const ipv6 = fc.ipV6().map(canonicalIp);
  const advertArb: fc.Arbitrary<{ advert: Advert; ep: { src: string; dst: string } }> = fc.oneof(
    fc.record({
      advert: fc.record({
        version: fc.constant(2 as const),
        family: fc.constant(4 as const),
        vrid: fc.integer({ min: 1, max: 255 }),
        priority: fc.integer({ min: 0, max: 255 }),
        intervalCs: fc.integer({ min: 1, max: 255 }).map((s) => s * 100),
        addresses: fc.array(ipv4, { minLength: 1, maxLength: 255 }),
        authType: fc.constantFrom('none' as const, 'simple' as const),
        authPassword: fc.stringMatching(/^[!-~]{1,8}$/),
      }).map((a) => ({ ...a, authPassword: a.authType === 'simple' ? a.authPassword : '' })),
      ep: fc.record({ src: ipv4, dst: fc.constant('224.0.0.18') }),
    }),
    fc.record({
      advert: fc.record({
        version: fc.constant(3 as const),
        family: fc.constant(4 as const),
        vrid: fc.integer({ min: 1, max: 255 }),
        priority: fc.integer({ min: 0, max: 255 }),
        intervalCs: fc.integer({ min: 1, max: 4095 }),
        addresses: fc.array(ipv4, { minLength: 1, maxLength: 255 }),
        authType: fc.constant('none' as const),
        authPassword: fc.constant(''),
      }),
      ep: fc.record({ src: ipv4, dst: fc.oneof(fc.constant('224.0.0.18'), ipv4) }),
    }),
    fc.record({
      advert: fc.record({
        version: fc.constant(3 as const),
        family: fc.constant(6 as const),
        vrid: fc.integer({ min: 1, max: 255 }),
        priority: fc.integer({ min: 0, max: 255 }),
        intervalCs: fc.integer({ min: 1, max: 4095 }),
        addresses: fc.array(ipv6, { minLength: 1, maxLength: 90 }),
        authType: fc.constant('none' as const),
        authPassword: fc.constant(''),
      }),
      ep: fc.record({ src: ipv6, dst: fc.oneof(fc.constant('ff02::12'), ipv6) }),
    }),
  );

  test('encode then decode gives the advert back', () => {
    fc.assert(
      fc.property(advertArb, ({ advert, ep }) => {
        const r = decodeAdvert(encodeAdvert(advert, ep), {
          family: advert.family,
          ...ep,
          ttl: 255,
          auth: { type: advert.authType, password: advert.authPassword },
        });
        assert.ok(r.ok, r.ok ? '' : `${r.reason}: ${r.detail}`);
        assert.deepEqual(r.advert, { ...advert }); // fast-check records have a null prototype
      }),
      { numRuns: 500, seed: 3768 },
    );
  });

  test('decode then encode reproduces the bytes of any valid packet', () => {
    fc.assert(
      fc.property(advertArb, ({ advert, ep }) => {
        const bytes = encodeAdvert(advert, ep);
        const r = decodeAdvert(bytes, { family: advert.family, ...ep });
        assert.ok(r.ok);
        assert.ok(encodeAdvert(r.advert, ep).equals(bytes));
      }),
      { numRuns: 500, seed: 5798 },
    );
  });

  test('address text survives bytes and back in canonical form', () => {
    assert.equal(canonicalIp('2001:DB8:0:0:1:0:0:1'), '2001:db8::1:0:0:1');
    assert.equal(canonicalIp('2001:db8:0:0:0:0:2:1'), '2001:db8::2:1');
    assert.equal(canonicalIp('2001:db8:0:1:1:1:1:1'), '2001:db8:0:1:1:1:1:1'); // one zero group stays
    assert.equal(canonicalIp('::'), '::');
    assert.equal(canonicalIp('::ffff:192.0.2.1'), '::ffff:c000:201');
    fc.assert(
      fc.property(fc.oneof(fc.ipV4(), fc.ipV6()), (ip) => {
        const c = canonicalIp(ip);
        assert.equal(canonicalIp(c), c);
        assert.ok(ipToBytes(ip).equals(ipToBytes(c)));
        assert.equal(bytesToIp(ipToBytes(c), 0, c.includes(':') ? 6 : 4), c);
      }),
      { numRuns: 1000, seed: 5952 },
    );
  });
});
