// Issue 5 end to end, in the namespace lab. Two vigil nodes; on each, a vrrp_script health
// check (a file's presence) with weight -60, keepalived's generic `notify` script recording its
// arguments, a webhook target (a receiver on the node's loopback) with an HMAC secret, and on
// node A a user TypeScript plugin from a plugins directory.
//
// A's health check fails: its priority drops below B's, B preempts, the VIP moves; the notify
// scripts on both nodes record the transitions with keepalived's arguments, in order; the
// webhook receiver gets signed events; the user plugin sees them. Then the plugin file is
// edited: the daemon reloads it live, and the new version sees the next transitions (A healthy
// again, preempting back). Latency from a transition to its notify script starting is printed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { withPair, type Lab } from '../lib/netns.ts';
import { addressesOf, exited, follow, startVigil } from '../lib/daemon.ts';
import { needs } from '../lib/require.ts';

const RECEIVER = fileURLToPath(new URL('./fixtures/webhook-receiver.mjs', import.meta.url));
const SECRET = 'e2e-webhook-secret';

const userPlugin = (tag: string, out: string) => `
import { definePlugin } from 'vigil/plugin';
import { z } from 'zod';
import { appendFileSync } from 'node:fs';
export default definePlugin({
  name: 'recorder',
  configSchema: z.object({}),
  setup(ctx) {
    ctx.on('instance.transition', (e) => {
      appendFileSync(${JSON.stringify(out)}, ${JSON.stringify(tag)} + ' ' + e.instance + ' ' + e.from + ' ' + e.to + ' ' + e.reason + ' ' + e.time + '\\n');
    });
  },
});
`;

function config(node: 'a' | 'b', dir: string, port: number): string {
  const priority = node === 'a' ? 150 : 100;
  return `global_defs:
  script_user: root
${node === 'a' ? `  plugins_dir: ${join(dir, 'plugins-a')}\n` : ''}vrrp_script:
  chk_health:
    script: /usr/bin/test -f ${join(dir, `healthy-${node}`)}
    interval: 1
    fall: 1
    rise: 1
    weight: -60
vrrp_instance:
  VI_1:
    interface: eth0
    virtual_router_id: 71
    priority: ${priority}
    advert_int: 1
    virtual_ipaddress:
      - address: 192.0.2.100/24
    track_script:
      - name: chk_health
    notify: ${join(dir, 'notify.sh')} ${join(dir, `notify-${node}.log`)}
plugins:
  webhook:
    targets:
      - url: http://127.0.0.1:${port}/hook
        secret: ${SECRET}
        events: ['instance.transition', 'instance.priority']
`;
}

async function until(what: string, fn: () => boolean, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!fn()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const lines = (f: string) => (existsSync(f) ? readFileSync(f, 'utf8').trim().split('\n').filter(Boolean) : []);
const holds = (lab: Lab, ns: string) => addressesOf(lab, ns, 'eth0').includes('192.0.2.100/24');

test('health check moves the VIP; notify scripts, a signed webhook and a live-reloaded user plugin follow', { ...needs('root', 'ip'), timeout: 120_000 }, async () => {
  await withPair(['a', 'b'], async ({ lab, dir, a, b }) => {
    // the generic notify script: keepalived's arguments, plus when it started (ns since epoch)
    writeFileSync(join(dir, 'notify.sh'), '#!/bin/sh\nlog=$1; shift\necho "$(date +%s%N) $*" >> "$log"\n');
    chmodSync(join(dir, 'notify.sh'), 0o755);
    mkdirSync(join(dir, 'plugins-a'));
    const pluginOut = join(dir, 'plugin-a.log');
    writeFileSync(join(dir, 'plugins-a', 'recorder.ts'), userPlugin('v1', pluginOut));
    writeFileSync(join(dir, 'healthy-a'), '');
    writeFileSync(join(dir, 'healthy-b'), '');

    const receiver = follow(lab.spawn(a, process.execPath, [RECEIVER, '0']));
    await receiver.waitFor(/listening \d+/);
    const port = Number(/listening (\d+)/.exec(receiver.log())?.[1]);
    writeFileSync(join(dir, 'a.yaml'), config('a', dir, port));
    writeFileSync(join(dir, 'b.yaml'), config('b', dir, port));

    const va = startVigil(lab, a, join(dir, 'a.yaml'));
    await va.waitFor(/\(VI_1\) Entering MASTER STATE/);
    const vb = startVigil(lab, b, join(dir, 'b.yaml'));
    await vb.waitFor(/\(VI_1\) Entering BACKUP STATE/);
    await until('A holds the VIP', () => holds(lab, a));

    // A's health check fails: 150 - 60 = 90 < 100, B preempts
    rmSync(join(dir, 'healthy-a'));
    await va.waitFor(/\(VI_1\) priority 150 -> 90 \(track-script:chk_health\)/);
    await vb.waitFor(/\(VI_1\) Entering MASTER STATE from=backup reason=preempted/);
    await va.waitFor(/\(VI_1\) Entering BACKUP STATE from=master reason=higher-priority-seen/);
    await until('B holds the VIP, A does not', () => holds(lab, b) && !holds(lab, a));

    // notify scripts: keepalived's $1..$4, in order
    await until('notify on A', () => lines(join(dir, 'notify-a.log')).length >= 3);
    await until('notify on B', () => lines(join(dir, 'notify-b.log')).length >= 2);
    const argsOf = (f: string) => lines(f).map((l) => l.split(' ').slice(1).join(' '));
    assert.deepEqual(argsOf(join(dir, 'notify-a.log')).slice(0, 3), ['INSTANCE VI_1 BACKUP 150', 'INSTANCE VI_1 MASTER 150', 'INSTANCE VI_1 BACKUP 90']);
    assert.deepEqual(argsOf(join(dir, 'notify-b.log')).slice(0, 2), ['INSTANCE VI_1 BACKUP 100', 'INSTANCE VI_1 MASTER 100']);

    // the user plugin saw the same transitions
    await until('user plugin lines', () => lines(pluginOut).length >= 3);
    assert.deepEqual(
      lines(pluginOut).slice(0, 3).map((l) => l.split(' ').slice(0, 4).join(' ')),
      ['v1 VI_1 initialize backup', 'v1 VI_1 backup master', 'v1 VI_1 master backup'],
    );

    // the webhook receiver got signed events, in seq order
    await until('webhooks', () => receiver.log().split('\n').filter((l) => l.startsWith('{')).length >= 4);
    const hooks = receiver.log().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as { headers: Record<string, string>; body: string });
    for (const h of hooks) {
      const expected = createHmac('sha256', SECRET).update(h.body).digest('hex');
      assert.equal(h.headers['x-vigil-signature'], `sha256=${expected}`, 'HMAC-SHA256 of the body');
    }
    const bodies = hooks.map((h) => JSON.parse(h.body) as { type: string; seq: number; to?: string; effective?: number });
    assert.deepEqual(bodies.map((e) => e.seq), [...bodies.map((e) => e.seq)].sort((x, y) => x - y));
    assert.ok(bodies.some((e) => e.type === 'instance.priority' && e.effective === 90));
    assert.ok(bodies.some((e) => e.type === 'instance.transition' && e.to === 'master'));

    // edit the user plugin: reloaded live, no restart of the daemon
    writeFileSync(join(dir, 'plugins-a', 'recorder.ts'), userPlugin('v2', pluginOut));
    await va.waitFor(/plugin recorder: file changed, reloading[\s\S]*plugin recorder: started/);
    writeFileSync(join(dir, 'healthy-a'), '');
    await va.waitFor(/\(VI_1\) Entering MASTER STATE from=backup reason=preempted/);
    await until('v2 sees the transition', () => lines(pluginOut).some((l) => l.startsWith('v2 VI_1 backup master preempted')));
    await until('A holds the VIP again', () => holds(lab, a) && !holds(lab, b));
    assert.equal(va.log().match(/starting with/g)?.length, 1, 'the daemon itself never restarted');

    // transition -> notify script start latency (same host clock): the plugin's record of each
    // transition's event time against the script's own start time
    const starts = lines(join(dir, 'notify-a.log')).map((l) => Number(l.split(' ')[0]) / 1e6);
    const eventTimes = lines(pluginOut).map((l) => Date.parse(l.split(' ').at(-1) ?? ''));
    const lat = starts.slice(0, eventTimes.length).map((s, i) => s - (eventTimes[i] ?? s)).sort((x, y) => x - y);
    console.log(`transition -> notify script start on A (ms): ${lat.map((x) => x.toFixed(1)).join(', ')}`);

    va.child.kill('SIGTERM');
    vb.child.kill('SIGTERM');
    assert.equal(await exited(va.child), 0);
    assert.equal(await exited(vb.child), 0);
    // notify STOP ran at shutdown
    assert.match(lines(join(dir, 'notify-a.log')).at(-1) ?? '', /INSTANCE VI_1 STOP \d+$/);
  });
});
