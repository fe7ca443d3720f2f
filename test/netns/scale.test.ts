// A thousand instances (200 VRIDs on each of 5 links) on a pair of vigil daemons started
// together: they converge, one side all MASTER and the other all BACKUP, with every VIP on the
// Master, and the control socket answers throughout. Two scale bugs lived here: a burst of
// rtnetlink replies aborted the engine, and a packet socket per gratuitous ARP round starved
// its event loop until both sides stayed Master.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { withPair } from '../lib/netns.ts';
import { exited, startVigil } from '../lib/daemon.ts';
import { needs } from '../lib/require.ts';

const bin = fileURLToPath(new URL('../../bin/vigil', import.meta.url));
const N = 1000;
const PER_LINK = 200;

const conf = (priority: number) =>
  Array.from({ length: N }, (_, i) => {
    const link = Math.floor(i / PER_LINK);
    const vrid = (i % PER_LINK) + 1;
    return `vrrp_instance VI_${i + 1} {\n  interface e${link}\n  virtual_router_id ${vrid}\n  priority ${priority}\n  advert_int 1\n  virtual_ipaddress {\n    198.51.${100 + link}.${vrid}/32\n  }\n}\n`;
  }).join('');

async function states(pidFile: string): Promise<Record<string, number>> {
  const { stdout } = await promisify(execFile)(process.execPath, [bin, 'status', '--json', '-p', pidFile], { maxBuffer: 64 * 1024 * 1024, timeout: 10_000 });
  const s = JSON.parse(stdout) as { engine: { instances: Array<{ state: string }> } };
  const out: Record<string, number> = {};
  for (const i of s.engine.instances) out[i.state] = (out[i.state] ?? 0) + 1;
  return out;
}

test(`${N} instances on 5 links converge, and the daemon stays responsive`, { ...needs('root', 'ip'), timeout: 180_000 }, async () => {
  await withPair(
    ['m', 'b'],
    async ({ lab, dir, a: m, b }) => {
      for (let k = 0; k < N / PER_LINK; k++) {
        lab.veth(m, `e${k}`, b, `e${k}`);
        lab.exec(m, 'ip', ['addr', 'add', `203.0.113.${1 + k}/24`, 'dev', `e${k}`]);
        lab.exec(b, 'ip', ['addr', 'add', `203.0.113.${101 + k}/24`, 'dev', `e${k}`]);
      }
      writeFileSync(join(dir, 'm.conf'), conf(200));
      writeFileSync(join(dir, 'b.conf'), conf(100));
      const t0 = Date.now();
      const vm = startVigil(lab, m, join(dir, 'm.conf'), ['-p', join(dir, 'm.pid')]);
      const vb = startVigil(lab, b, join(dir, 'b.conf'), ['-p', join(dir, 'b.pid')]);
      let last = '';
      const deadline = Date.now() + 90_000;
      for (;;) {
        await new Promise((r) => setTimeout(r, 2000));
        const [sm, sb] = await Promise.all([states(join(dir, 'm.pid')).catch((e: Error) => ({ error: e.message })), states(join(dir, 'b.pid')).catch((e: Error) => ({ error: e.message }))]);
        last = JSON.stringify({ m: sm, b: sb });
        if ((sm as Record<string, number>).master === N && (sb as Record<string, number>).backup === N) break;
        assert.ok(Date.now() < deadline, `converged within 90 s: ${last}\n${vm.log().slice(-2000)}\n${vb.log().slice(-2000)}`);
      }
      console.log(`${N} instances converged ${Date.now() - t0} ms after start (both daemons started together)`);
      // Started together, the Backup may have been Master of some VRIDs for a moment; the states
      // settle first, the address work each transition queued follows: allow it a few seconds.
      const vipsOn = (ns: string) => lab.exec(ns, 'ip', ['-br', '-4', 'addr']).match(/198\.51\.10\d\.\d+\/32/g)?.length ?? 0;
      const settle = Date.now() + 10_000;
      while ((vipsOn(m) !== N || vipsOn(b) !== 0) && Date.now() < settle) await new Promise((r) => setTimeout(r, 250));
      assert.equal(vipsOn(m), N, 'every VIP on the Master');
      assert.equal(vipsOn(b), 0, 'none on the Backup');
      assert.doesNotMatch(vm.log() + vb.log(), /died unexpectedly|terminate called/, 'no engine crashed');
      vm.child.kill('SIGTERM');
      vb.child.kill('SIGTERM');
      assert.equal(await exited(vm.child), 0);
      assert.equal(await exited(vb.child), 0);
    },
    { a: '192.0.2.1/24', b: '192.0.2.2/24' },
  );
});
