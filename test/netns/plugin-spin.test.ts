// DESIGN.md rule 2, proven on the wire: the Master runs a user plugin that spins the CPU forever
// (each of its workers, after every restart). Its adverts, captured by tcpdump in the Backup's
// namespace, keep their 100 ms schedule, the Backup never takes over, and the daemon reports
// the plugin unresponsive and restarts it. The interval figures are printed; the assertion is
// the protocol's own limit (a gap reaching Master_Down_Interval would hand the VIP over).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { decodeAdvert } from '../../src/vrrp/packet.ts';
import { masterDownInterval } from '../../src/vrrp/timers.ts';
import { stopChild, withPair } from '../lib/netns.ts';
import { exited, startVigil } from '../lib/daemon.ts';
import { readPcapVrrp } from '../lib/pcap.ts';
import { needs } from '../lib/require.ts';

const SPINNER = `
import { definePlugin } from 'vigil/plugin';
import { z } from 'zod';
export default definePlugin({
  name: 'spinner',
  configSchema: z.object({}),
  setup(ctx) {
    ctx.log.info('about to spin');
    setTimeout(() => { for (;;) {} }, 50);
  },
});
`;

const conf = (priority: number, pluginsDir?: string) => `${pluginsDir ? `global_defs {\n    plugins_dir ${pluginsDir}\n}\n` : ''}vrrp_instance VI_1 {
    interface eth0
    virtual_router_id 61
    priority ${priority}
    version 3
    advert_int 0.1
    virtual_ipaddress {
        192.0.2.100/24
    }
}
`;

const pct = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;

test("a plugin spinning the CPU does not delay the Master's adverts", { ...needs('root', 'ip', 'tcpdump'), timeout: 90_000 }, async () => {
  await withPair(['m', 'b'], async ({ lab, dir, a: m, b }) => {
    const pluginsDir = join(dir, 'plugins');
    mkdirSync(pluginsDir);
    writeFileSync(join(pluginsDir, 'spinner.ts'), SPINNER);
    writeFileSync(join(dir, 'master.conf'), conf(200, pluginsDir));
    writeFileSync(join(dir, 'backup.conf'), conf(100));
    const master = startVigil(lab, m, join(dir, 'master.conf'));
    await master.waitFor(/\(VI_1\) Entering MASTER STATE/);
    const backup = startVigil(lab, b, join(dir, 'backup.conf'));
    await backup.waitFor(/\(VI_1\) Entering BACKUP STATE/);

    const pcap = join(dir, 'adverts.pcap');
    const dump = lab.spawn(b, 'tcpdump', ['-i', 'eth0', '-n', '-U', '-w', pcap, 'ip proto 112']);
    // long enough for the spinner to be declared stuck and restarted (and spin again) twice
    await new Promise((r) => setTimeout(r, 9000));
    await stopChild(dump, 'SIGINT');

    const adverts = readPcapVrrp(readFileSync(pcap)).filter((p) => p.src === '192.0.2.1');
    const times = adverts.filter((p) => {
      const d = decodeAdvert(p.vrrp, { family: 4, src: p.src, dst: p.dst });
      return d.ok && d.advert.priority === 200;
    }).map((p) => p.ts);
    assert.ok(times.length >= 60, `captured ${times.length} adverts in 9 s`);
    const gaps = times.slice(1).map((t, i) => (t - (times[i] ?? t)) / 1000).sort((x, y) => x - y);
    const limitMs = masterDownInterval(3, 100, 10) / 1000;
    console.log(`advert gaps with a spinning plugin (ms): n=${gaps.length} p50=${pct(gaps, 50).toFixed(1)} p99=${pct(gaps, 99).toFixed(1)} max=${(gaps.at(-1) ?? NaN).toFixed(1)} (nominal 100, Backup takes over at ${limitMs.toFixed(0)})`);
    assert.ok((gaps.at(-1) ?? Infinity) < limitMs, `largest gap ${gaps.at(-1)} ms stays under Master_Down_Interval`);

    assert.doesNotMatch(backup.log(), /Entering MASTER STATE/, 'the Backup never took over');
    assert.equal(master.log().match(/Entering MASTER STATE/g)?.length, 1, 'the Master never left');
    assert.match(master.log(), /plugin spinner: failed \(unresponsive\)/);
    assert.match(master.log(), /plugin spinner: restarted/);

    master.child.kill('SIGTERM');
    assert.equal(await exited(master.child), 0);
    backup.child.kill('SIGTERM');
    await exited(backup.child);
  });
});
