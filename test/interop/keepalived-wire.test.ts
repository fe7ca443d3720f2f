// Interop on the wire, live on every CI run: Debian's keepalived runs in a network namespace,
// tcpdump captures its adverts from a peer namespace, and vigil's codec must accept each one
// with the configured fields and reproduce its bytes exactly, and keepalived's IP marking must be
// the one vigil sends (TOS / traffic class 0xc0; test/netns/wire-parity.test.ts has vigil's side). (test/vectors/keepalived.json
// holds a stored copy of the same capture for the unit tests.)
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeAdvert, encodeAdvert } from '../../src/vrrp/packet.ts';
import { canonicalIp } from '../../src/vrrp/ipaddr.ts';
import { VRRP_TOS } from '../../src/vrrp/types.ts';
import { captureKeepalived, KEEPALIVED_CASES } from '../lib/keepalived-capture.ts';
import { needs } from '../lib/require.ts';

describe('keepalived on the wire', { ...needs('root', 'ip', 'keepalived', 'tcpdump') }, () => {
  for (const c of KEEPALIVED_CASES) {
    test(`${c.name}: vigil decodes and re-encodes keepalived's adverts byte for byte`, { timeout: 60_000 }, async () => {
      const { packets, keepalivedVersion } = await captureKeepalived(c, 3);
      assert.ok(packets.length >= 3, `captured ${packets.length} packets from keepalived ${keepalivedVersion}`);
      const priorities = new Set<number>();
      for (const p of packets) {
        assert.equal(p.ttl, 255);
        assert.equal(p.tos, VRRP_TOS, c.family === 4 ? 'IPv4 TOS' : 'IPv6 traffic class');
        assert.equal(p.dst, c.family === 4 ? '224.0.0.18' : 'ff02::12');
        const r = decodeAdvert(p.vrrp, {
          family: c.family,
          src: p.src,
          dst: p.dst,
          ttl: p.ttl,
          ...(c.authPass ? { auth: { type: 'simple' as const, password: c.authPass } } : {}),
        });
        assert.ok(r.ok, r.ok ? '' : `${r.reason}: ${r.detail}`);
        assert.equal(r.advert.vrid, c.vrid);
        assert.equal(r.advert.version, c.version);
        assert.deepEqual(r.advert.addresses, c.vips.map(canonicalIp));
        assert.ok(encodeAdvert(r.advert, p).equals(p.vrrp), 'same bytes from our encoder');
        priorities.add(r.advert.priority);
      }
      assert.deepEqual([...priorities].sort((a, b) => a - b), [0, c.priority], 'adverts, then priority 0 on SIGTERM');
    });
  }
});
