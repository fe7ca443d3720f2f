// Three vigil routers and a client (scripts/lab.sh): the client reaches the VIP (a UDP echo
// answered from it) on the Master; the Master's node dies (link cut, then SIGKILL, so no goodbye
// advert escapes); the next priority takes over, the third stays Backup, and the client reaches
// the VIP again; the first router returns with nopreempt and leaves the new Master alone.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Lab, waitForOutput } from '../lib/netns.ts';
import { addressesOf, killAllIn, startVigil } from '../lib/daemon.ts';
import { needs } from '../lib/require.ts';

const root = fileURLToPath(new URL('../..', import.meta.url));
const VIP = '192.0.2.100';

/** Sends datagrams to VIP:7 from the client until one is answered (true) or `ms` pass (false). */
function reachable(ns: string, ms: number): boolean {
  const script = `const s=require('dgram').createSocket('udp4');const t=setTimeout(()=>process.exit(1),${ms});s.on('message',()=>{clearTimeout(t);process.exit(0)});const i=setInterval(()=>s.send('p',7,'${VIP}',()=>{}),20);`;
  try {
    execFileSync('ip', ['netns', 'exec', ns, process.execPath, '-e', script]);
    return true;
  } catch {
    return false;
  }
}

test('three routers: death of the Master, client reaches the VIP on the next, nopreempt holds', { ...needs('root', 'ip'), timeout: 120_000 }, async () => {
  const name = `t3${process.pid % 10000}`;
  const lab = new Lab();
  const dir = mkdtempSync(join(tmpdir(), 'vigil-triple-'));
  try {
    execFileSync(join(root, 'scripts/lab.sh'), ['up', '3', name]);
    const conf = (prio: number, extra = '') =>
      `vrrp_instance VI_1 {\n interface eth0\n virtual_router_id 21\n priority ${prio}\n version 3\n advert_int 0.2\n${extra} virtual_ipaddress {\n  ${VIP}/24\n }\n}\n`;
    const routers = [
      { ns: `${name}-r1`, prio: 200, extra: ' nopreempt\n' },
      { ns: `${name}-r2`, prio: 150, extra: '' },
      { ns: `${name}-r3`, prio: 100, extra: '' },
    ];
    for (const r of routers) {
      writeFileSync(join(dir, `${r.ns}.conf`), conf(r.prio, r.extra));
      await waitForOutput(lab.spawn(r.ns, process.execPath, [join(root, 'scripts/bench/udp-echo.mjs')]), /ready/, 10_000);
    }
    // r1 first: with nopreempt it would rightly not take the role from whoever got up first
    const start = (i: number) => startVigil(lab, routers[i]?.ns ?? '', join(dir, `${routers[i]?.ns ?? ''}.conf`));
    const r1 = start(0);
    await r1.waitFor(/Entering MASTER STATE/);
    // one at a time: two daemons starting together on a loaded 2-core CI machine can starve r1's
    // 200 ms adverts past r3's Master_Down_Interval (CI saw r3 take the role for a moment)
    const r2 = start(1);
    await r2.waitFor(/Entering BACKUP STATE/);
    const r3 = start(2);
    await r3.waitFor(/Entering BACKUP STATE/);
    assert.ok(reachable(`${name}-client`, 5000), 'the client reaches the VIP on r1');

    execFileSync('ip', ['-n', `${name}-r1`, 'link', 'set', 'eth0', 'down']);
    killAllIn(`${name}-r1`);
    await r2.waitFor(/Entering MASTER STATE from=backup reason=master-down-timer/);
    assert.ok(reachable(`${name}-client`, 5000), 'the client reaches the VIP on r2');
    assert.ok(addressesOf(lab, `${name}-r2`, 'eth0').includes(`${VIP}/24`));
    assert.doesNotMatch(r3.log(), /Entering MASTER/, 'r3 never took over');

    // r1 comes back (link up, daemon and echo restarted) with nopreempt: r2 stays Master
    execFileSync('ip', ['-n', `${name}-r1`, 'link', 'set', 'eth0', 'up']);
    const back = startVigil(lab, `${name}-r1`, join(dir, `${name}-r1.conf`));
    await back.waitFor(/Entering BACKUP STATE/);
    await new Promise((res) => setTimeout(res, 2000)); // several Master_Down_Intervals
    assert.doesNotMatch(back.log(), /Entering MASTER/, 'nopreempt: the higher priority does not take the role back');
    assert.doesNotMatch(r2.log(), /Entering BACKUP STATE from=master/);
    assert.ok(!addressesOf(lab, `${name}-r1`, 'eth0').includes(`${VIP}/24`), 'the restarted r1 cleaned its stale VIP');
  } finally {
    await lab.cleanup();
    execFileSync(join(root, 'scripts/lab.sh'), ['down', name]);
    rmSync(dir, { recursive: true, force: true });
  }
});
