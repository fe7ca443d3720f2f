// Real VRRP sockets in namespaces: adverts sent by src/net/socket.ts in one namespace arrive at
// src/net/socket.ts in the other, with TTL 255 and the right addresses, over IPv4 multicast,
// IPv4 unicast and IPv6 multicast.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { decodeAdvert } from '../../src/vrrp/packet.ts';
import { Lab, waitForOutput } from '../lib/netns.ts';
import { needs } from '../lib/require.ts';

const peer = 'test/netns/fixtures/socket-peer.ts';

describe('VRRP sockets on real interfaces', { ...needs('root', 'ip') }, () => {
  for (const [family, dst, src] of [
    ['4', '224.0.0.18', '192.0.2.1'],
    ['4', '192.0.2.2', '192.0.2.1'],
    ['6', 'ff02::12', 'fe80::1'],
  ] as const) {
    test(`IPv${family} to ${dst}`, { timeout: 30_000 }, async () => {
      const lab = new Lab();
      try {
        const a = lab.addNamespace('a');
        const b = lab.addNamespace('b');
        lab.veth(a, 'eth0', b, 'eth0');
        lab.exec(a, 'ip', ['addr', 'add', '192.0.2.1/24', 'dev', 'eth0']);
        lab.exec(b, 'ip', ['addr', 'add', '192.0.2.2/24', 'dev', 'eth0']);
        lab.exec(a, 'ip', ['addr', 'add', 'fe80::1/64', 'dev', 'eth0']);
        lab.exec(b, 'ip', ['addr', 'add', 'fe80::2/64', 'dev', 'eth0']);
        const recv = lab.spawn(b, process.execPath, ['--import', 'tsx', peer, 'recv', family, 'eth0']);
        let out = '';
        recv.stdout?.on('data', (d: Buffer) => (out += d.toString()));
        await waitForOutput(recv, /ready/, 15_000);
        execFileSync('ip', ['netns', 'exec', a, process.execPath, '--import', 'tsx', peer, 'send', family, 'eth0', dst, src, '3']);
        await new Promise((r) => setTimeout(r, 300));
        const packets = out
          .split('\n')
          .filter((l) => l.startsWith('{'))
          .map((l) => JSON.parse(l) as { bytes: string; src: string; dst: string; ttl?: number });
        assert.equal(packets.length, 3, out);
        for (const p of packets) {
          assert.equal(p.src, src);
          assert.equal(p.dst, dst);
          if (family === '4') assert.equal(p.ttl, 255);
          const d = decodeAdvert(Buffer.from(p.bytes, 'hex'), { family: family === '4' ? 4 : 6, src: p.src, dst: p.dst });
          assert.ok(d.ok, d.ok ? '' : d.reason);
          assert.equal(d.advert.vrid, 9);
        }
      } finally {
        await lab.cleanup();
      }
    });
  }
});
