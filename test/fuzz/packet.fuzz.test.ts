// Fuzzing the decoder: random buffers and mutations of valid packets (bit flips, truncations,
// extensions, splices). Every one must decode or be rejected with a reason, never throw; and
// every mutant that decodes must re-encode to the same advert.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeAdvert, encodeAdvert, parseIpv4Packet, type DecodeOptions } from '../../src/vrrp/packet.ts';
import type { Advert } from '../../src/vrrp/types.ts';

/** Deterministic PRNG (mulberry32) so a failure reproduces. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const seeds: Array<{ advert: Advert; opts: DecodeOptions }> = [
  {
    advert: { version: 2, family: 4, vrid: 51, priority: 150, intervalCs: 100, addresses: ['192.0.2.100', '192.0.2.101'], authType: 'simple', authPassword: 'pw' },
    opts: { family: 4, src: '192.0.2.1', dst: '224.0.0.18', auth: { type: 'simple', password: 'pw' } },
  },
  {
    advert: { version: 2, family: 4, vrid: 1, priority: 100, intervalCs: 300, addresses: ['198.51.100.1'], authType: 'none', authPassword: '' },
    opts: { family: 4, src: '192.0.2.1', dst: '224.0.0.18' },
  },
  {
    advert: { version: 3, family: 4, vrid: 200, priority: 255, intervalCs: 25, addresses: ['203.0.113.1', '203.0.113.2', '203.0.113.3'], authType: 'none', authPassword: '' },
    opts: { family: 4, src: '192.0.2.1', dst: '224.0.0.18', legacyV3Ipv4Checksum: true },
  },
  {
    advert: { version: 3, family: 6, vrid: 7, priority: 90, intervalCs: 100, addresses: ['2001:db8::1', '2001:db8::2'], authType: 'none', authPassword: '' },
    opts: { family: 6, src: 'fe80::1', dst: 'ff02::12' },
  },
];

test('500,000 random and mutated buffers: all decode or reject, none throws', () => {
  const rand = rng(0x5798);
  const int = (n: number) => Math.floor(rand() * n);
  const valid = seeds.map((s) => encodeAdvert(s.advert, s.opts));
  const reasons = new Map<string, number>();
  let accepted = 0;
  let total = 0;
  const started = performance.now();

  const feed = (buf: Buffer, opts: DecodeOptions) => {
    total++;
    const r = decodeAdvert(buf, opts); // a throw fails the test with the buffer in the stack
    parseIpv4Packet(buf);
    if (r.ok) {
      accepted++;
      const again = decodeAdvert(encodeAdvert(r.advert, opts), opts);
      assert.ok(again.ok, `re-encode of ${buf.toString('hex')}`);
      assert.deepEqual(again.advert, r.advert);
    } else {
      reasons.set(r.reason, (reasons.get(r.reason) ?? 0) + 1);
    }
  };

  for (let i = 0; i < 100_000; i++) {
    const buf = Buffer.alloc(int(120));
    for (let j = 0; j < buf.length; j++) buf[j] = int(256);
    // give a third of them a plausible first byte so deeper checks are reached
    if (buf.length > 0 && i % 3 === 0) buf[0] = i % 2 ? 0x21 : 0x31;
    feed(buf, seeds[i % seeds.length]?.opts ?? seeds[0]!.opts);
  }
  for (let i = 0; i < 400_000; i++) {
    const k = i % seeds.length;
    const opts = seeds[k]!.opts;
    let buf = Buffer.from(valid[k]!);
    switch (i % 5) {
      case 0: // bit flips
        for (let f = 1 + int(3); f > 0; f--) {
          const at = int(buf.length);
          buf[at] = (buf[at] ?? 0) ^ (1 << int(8));
        }
        break;
      case 1: // truncation
        buf = buf.subarray(0, int(buf.length));
        break;
      case 2: // extension with junk
        buf = Buffer.concat([buf, Buffer.from(Array.from({ length: 1 + int(40) }, () => int(256)))]);
        break;
      case 3: // splice of two valid packets
        buf = Buffer.concat([buf.subarray(0, int(buf.length)), valid[int(valid.length)]!.subarray(int(8))]);
        break;
      case 4: // header byte set to an edge value (count, vrid, priority, interval)
        buf[int(8)] = [0, 1, 0xff, 0x7f, 0x80][int(5)]!;
        break;
    }
    feed(buf, opts);
  }
  const ms = performance.now() - started;
  console.log(
    `fuzz: ${total} buffers in ${ms.toFixed(0)} ms, ${accepted} accepted, rejections: ` +
      [...reasons].sort((a, b) => b[1] - a[1]).map(([r, n]) => `${r}=${n}`).join(' '),
  );
  assert.equal(total, 500_000);
  assert.ok(accepted > 0, 'some mutants stay valid (e.g. a v2 advert cut before its auth data)');
  assert.ok(reasons.size >= 8, `many distinct reasons reached: ${[...reasons.keys()].join(',')}`);
});
