// Malformed and hostile packets sent at a Master on a real interface: bad checksum, TTL 254,
// wrong VRID, wrong password, truncated, and a well-formed higher-priority advert from a host
// that is not a unicast peer. Each is dropped and counted with its reason (debug log), and the
// Master keeps its role and its VIP throughout.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { encodeAdvert } from '../../src/vrrp/packet.ts';
import type { Advert } from '../../src/vrrp/types.ts';
import { withPair } from '../lib/netns.ts';
import { addressesOf, exited, startVigil } from '../lib/daemon.ts';
import { needs } from '../lib/require.ts';

const fixture = 'test/netns/fixtures/hostile.ts';

test('hostile packets are dropped, counted, and the Master keeps its role', { ...needs('root', 'ip'), timeout: 60_000 }, async () => {
  await withPair(['r', 'attacker'], async ({ lab, dir, a: r, b: attacker }) => {
    lab.exec(attacker, 'ip', ['addr', 'add', '192.0.2.3/24', 'dev', 'eth0']);
    const conf = join(dir, 'vigil.conf');
    writeFileSync(
      conf,
      `vrrp_instance VI_1 {
    interface eth0
    virtual_router_id 51
    priority 100
    advert_int 1
    authentication {
        auth_type PASS
        auth_pass right
    }
    unicast_peer {
        192.0.2.2
    }
    virtual_ipaddress {
        192.0.2.100/24
    }
}
`,
    );
    const vg = startVigil(lab, r, conf);
    await vg.waitFor(/Entering MASTER STATE/);

    const advert = (over: Partial<Advert> = {}): Advert => ({
      version: 2,
      family: 4,
      vrid: 51,
      priority: 254,
      intervalCs: 100,
      addresses: ['192.0.2.100'],
      authType: 'simple',
      authPassword: 'right',
      ...over,
    });
    const ep = { src: '192.0.2.2', dst: '192.0.2.1' };
    const good = encodeAdvert(advert(), ep);
    const badSum = Buffer.from(good);
    badSum[7] = (badSum[7] ?? 0) ^ 0xff;
    const packets = [
      { src: '192.0.2.2', ttl: 255, bytes: badSum },
      { src: '192.0.2.2', ttl: 254, bytes: good },
      { src: '192.0.2.2', ttl: 255, bytes: encodeAdvert(advert({ vrid: 52 }), ep) },
      { src: '192.0.2.2', ttl: 255, bytes: encodeAdvert(advert({ authPassword: 'wrong' }), ep) },
      { src: '192.0.2.2', ttl: 255, bytes: good.subarray(0, 11) },
      { src: '192.0.2.3', ttl: 255, bytes: encodeAdvert(advert(), { src: '192.0.2.3', dst: '192.0.2.1' }) },
    ];
    execFileSync('ip', [
      'netns',
      'exec',
      attacker,
      process.execPath,
      '--import',
      'tsx',
      fixture,
      JSON.stringify(packets.map((p) => ({ src: p.src, dst: '192.0.2.1', ttl: p.ttl, hex: p.bytes.toString('hex') }))),
    ]);
    await vg.waitFor(/dropped advert: not-a-peer/, 5000);
    await new Promise((res) => setTimeout(res, 3500)); // longer than any Master_Down_Interval here
    const drops = [...vg.log().matchAll(/dropped advert: ([\w-]+)/g)].map((m) => m[1]).sort();
    assert.deepEqual(drops, ['auth-password-mismatch', 'bad-checksum', 'bad-ttl', 'length-mismatch', 'not-a-peer', 'vrid-mismatch']);
    assert.equal(vg.log().match(/Entering MASTER STATE/g)?.length, 1, 'still the same Master');
    assert.doesNotMatch(vg.log(), /Entering BACKUP STATE from=master/);
    assert.ok(addressesOf(lab, r, 'eth0').includes('192.0.2.100/24'));
    vg.child.kill('SIGTERM');
    assert.equal(await exited(vg.child), 0);
  });
});
