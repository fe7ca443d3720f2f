// Fault injection on what runs around the protocol: a notify_master that hangs forever (killed
// at the timeout, and the next transition's notify_backup still runs), a notify_backup that
// exits 1 (reported), a user plugin that leaks memory until its worker's heap limit (restarted,
// the daemon fine), a config reload with errors in the middle of a failover (rejected, the
// failover completes) and the config file deleted (the daemon keeps its config and says so; a
// re-created file reloads). A plugin that spins is test/netns/plugin-spin.test.ts (adverts on
// schedule on the wire) and the unit tests of the plugin host.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { assertCleanStop, assertInvariants, assertOneMaster, LAB_NEEDS, until, withFaultLab } from './fixtures/lab.ts';
import { needs } from '../lib/require.ts';

const LEAKER = `
import { definePlugin } from 'vigil/plugin';
import { z } from 'zod';
const hoard: number[][] = [];
export default definePlugin({
  name: 'leaker',
  configSchema: z.object({}),
  setup(ctx) {
    ctx.log.info('leaking');
    const t = setInterval(() => { for (let i = 0; i < 8; i++) hoard.push(new Array(131072).fill(hoard.length)); }, 10);
    ctx.onStop(() => clearInterval(t));
  },
});
`;

test('faults: hung and failing notify scripts, a leaking plugin, a bad reload during a failover, the config file deleted', { ...needs(...LAB_NEEDS), timeout: 150_000 }, async () => {
  await withFaultLab('fs', 2, async (l) => {
    const marks = join(l.dir, 'notify.log');
    const hang = join(l.dir, 'hang.sh');
    const fail = join(l.dir, 'fail.sh');
    writeFileSync(hang, `#!/bin/sh\necho "master $$" >> ${marks}\nexec sleep 100000\n`);
    writeFileSync(fail, `#!/bin/sh\necho backup >> ${marks}\nexit 1\n`);
    chmodSync(hang, 0o755);
    chmodSync(fail, 0o755);
    writeFileSync(join(l.router('r1').pluginsDir, 'leaker.ts'), LEAKER);
    const r1opts = (priority: number) => ({
      priority,
      extra: `    notify_master: ${hang}\n    notify_backup: ${fail}\n`,
      top: '  notify-script:\n    timeout: 2\n',
    });
    l.start('r1', r1opts(200));
    await l.router('r1').d?.waitFor(/\(VI_1\) Entering MASTER STATE/);
    l.start('r2', { priority: 100 });
    await l.router('r2').d?.waitFor(/\(VI_1\) Entering BACKUP STATE/);
    await assertOneMaster(l, 20_000, 'r1');

    // the hung notify_master is killed at its timeout
    await l.router('r1').d?.waitFor(/notify_master for VI_1: killed after 2 s \(timeout\)/, 15_000);
    const hungPid = Number(/master (\d+)/.exec(readFileSync(marks, 'utf8'))?.[1]);
    assert.ok(hungPid > 0 && !existsSync(`/proc/${hungPid}`), 'the hung script is gone');

    // failover (r1 lowers itself below r2) with a broken config arriving at r2 meanwhile
    writeFileSync(l.router('r1').conf, l.config('r1', r1opts(50)));
    writeFileSync(l.router('r2').conf, l.config('r2', { priority: 100, vrid: 300 }));
    await l.router('r2').d?.waitFor(/reload rejected; the running configuration stays/, 15_000);
    await assertOneMaster(l, 20_000, 'r2');
    assert.match(l.log('r2'), /virtual_router_id: must be 1\.\.255/);
    console.log('  a rejected reload on the node taking over: the failover completed, r2 Master');

    // the next transition's script ran after the hung one, and its exit 1 is reported
    await l.router('r1').d?.waitFor(/notify_backup for VI_1: exit status 1/, 15_000);
    assert.deepEqual(readFileSync(marks, 'utf8').split('\n').filter(Boolean).map((x) => x.split(' ')[0]), ['backup', 'master', 'backup'], 'startup Backup, Master (hung, killed), Backup again');

    // the config file deleted: r2 keeps running on what it has and says so; a new file reloads
    const r2 = l.router('r2');
    rmSync(r2.conf);
    await until('r2 logs the missing file', 15_000, () => /ENOENT|no such file|not found|missing|deleted/i.test(l.log('r2').split('reload rejected; the running configuration stays').slice(1).join('') + l.log('r2').slice(l.log('r2').lastIndexOf('virtual_router_id: must be'))), () => l.log('r2'));
    await new Promise((r) => setTimeout(r, 1500));
    await assertOneMaster(l, 10_000, 'r2');
    const applied = (l.log('r2').match(/reloaded;/g) ?? []).length;
    writeFileSync(r2.conf, l.config('r2', { priority: 120 }));
    await until('the re-created file reloads', 20_000, () => (l.log('r2').match(/reloaded;/g) ?? []).length > applied, () => l.log('r2'));
    await until('r2 at priority 120', 10_000, () => /\(VI_1\) priority 100 -> 120/.test(l.log('r2')), () => l.log('r2'));
    console.log('  config file deleted: r2 kept running and logged it; the re-created file was reloaded');

    // the leaking plugin hit its worker's heap limit, was restarted, the daemon is fine
    await l.router('r1').d?.waitFor(/plugin leaker: failed[^]*plugin leaker: restarted/, 60_000);
    console.log(`  leaking plugin: ${(l.log('r1').match(/plugin leaker: failed/g) ?? []).length} failure(s) reported, e.g. "${/plugin leaker: failed[^\n]*/.exec(l.log('r1'))?.[0]}"`);

    await assertInvariants(l, 'r2');
    await assertCleanStop(l);
  });
});
