// virtual_routes follow mastership: installed (proto keepalived) when vigil becomes Master,
// removed on a clean stop.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { withPair, type Lab } from '../lib/netns.ts';
import { exited, startVigil } from '../lib/daemon.ts';
import { needs } from '../lib/require.ts';

function routes(lab: Lab, ns: string): string[] {
  return lab
    .exec(ns, 'ip', ['route', 'show', 'table', 'all', 'proto', 'keepalived'])
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean)
    .sort();
}

function rules(lab: Lab, ns: string): string[] {
  return lab
    .exec(ns, 'ip', ['rule', 'show'])
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l.includes('proto keepalived'));
}

test('virtual_routes and virtual_rules are installed on Master and removed on stop', { ...needs('root', 'ip'), timeout: 60_000 }, async () => {
  await withPair(['r', 'peer'], async ({ lab, dir, a: r }) => {
    const conf = join(dir, 'vigil.conf');
    writeFileSync(
      conf,
      `vrrp_instance VI_1 {
    interface eth0
    virtual_router_id 3
    version 3
    advert_int 0.1
    virtual_ipaddress {
        192.0.2.100/24
    }
    virtual_routes {
        198.51.100.0/24 via 192.0.2.254
        blackhole 203.0.113.0/24
        src 192.0.2.100 203.0.113.128/25 via 192.0.2.254 table 100
    }
    virtual_rules {
        from 192.0.2.100/32 table 100 priority 100
        to 198.51.100.0/24 fwmark 0x10/0xff lookup 100 pref 101
    }
}
`,
    );
    assert.deepEqual(routes(lab, r), []);
    const vg = startVigil(lab, r, conf);
    await vg.waitFor(/Entering MASTER STATE/);
    await new Promise((res) => setTimeout(res, 500));
    assert.deepEqual(routes(lab, r), [
      '198.51.100.0/24 via 192.0.2.254 dev eth0',
      '203.0.113.128/25 via 192.0.2.254 dev eth0 table 100 src 192.0.2.100',
      'blackhole 203.0.113.0/24',
    ]);
    assert.deepEqual(rules(lab, r), ['100:\tfrom 192.0.2.100 lookup 100 proto keepalived', '101:\tfrom all to 198.51.100.0/24 fwmark 0x10/0xff lookup 100 proto keepalived']);
    vg.child.kill('SIGTERM');
    assert.equal(await exited(vg.child), 0);
    assert.deepEqual(routes(lab, r), [], 'routes go with mastership');
    assert.deepEqual(rules(lab, r), [], 'and so do rules');
  });
});
