// The first Master_Down_Timer of an instance started with the daemon counts from the daemon's
// exec (RFC 5798's Startup), not from the moment the engine listens ~0.35 s later: the built
// daemon, its supervisor handing the exec time to the engine (src/daemon/exec-at.ts, fsm.ts
// onStartup). Alone on its LAN, a Backup at priority 200 (Master_Down_Interval 3.22 s at
// advert_int 1) becomes Master less than that after it entered BACKUP, and never sooner than
// the interval less half an advert interval after the exec.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Lab } from '../lib/netns.ts';
import { startVigil } from '../lib/daemon.ts';
import { needs } from '../lib/require.ts';
import { masterDownInterval } from '../../src/vrrp/timers.ts';

const root = fileURLToPath(new URL('../..', import.meta.url));

test('startup: the first Master_Down_Timer counts from the exec, with at most half an advert interval of credit', { ...needs('root', 'ip'), timeout: 60_000 }, async (t) => {
  const name = `sc${process.pid % 10000}`;
  const lab = new Lab();
  const dir = mkdtempSync(join(tmpdir(), 'vigil-startup-'));
  try {
    execFileSync(join(root, 'scripts/lab.sh'), ['up', '2', name]);
    const conf = join(dir, 'r1.conf');
    writeFileSync(conf, 'vrrp_instance VI_1 {\n state BACKUP\n nopreempt\n interface eth0\n virtual_router_id 31\n priority 200\n advert_int 1\n virtual_ipaddress {\n  192.0.2.100/24\n }\n}\n');
    const mdi = masterDownInterval(2, 200, 100) / 1000; // 3218.75 ms
    const exec = performance.now();
    const d = startVigil(lab, `${name}-r1`, conf);
    await d.waitFor(/\(VI_1\) Entering BACKUP STATE/, 20_000);
    const backup = performance.now();
    await d.waitFor(/\(VI_1\) Entering MASTER STATE[^\n]*reason=master-down-timer/, 20_000);
    const master = performance.now();
    t.diagnostic(`exec -> BACKUP ${(backup - exec).toFixed(0)} ms, BACKUP -> MASTER ${(master - backup).toFixed(0)} ms, exec -> MASTER ${(master - exec).toFixed(0)} ms (Master_Down_Interval ${mdi} ms)`);
    // the credit was given: a full interval from BACKUP would take mdi
    assert.ok(master - backup < mdi - 100, `MASTER ${(master - backup).toFixed(0)} ms after BACKUP, less than the interval (${mdi} ms)`);
    // and bounded: never sooner than the interval less half an advert interval after the exec
    assert.ok(master - exec >= mdi - 500 - 20, `MASTER ${(master - exec).toFixed(0)} ms after the exec, not before ${mdi - 500} ms`);
    d.child.kill('SIGTERM');
    await new Promise((r) => d.child.once('exit', r));
  } finally {
    await lab.cleanup();
    execFileSync(join(root, 'scripts/lab.sh'), ['down', name]);
    rmSync(dir, { recursive: true, force: true });
  }
});
