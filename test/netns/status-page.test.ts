// The status page in a real browser, end to end: two vigil daemons in a namespace pair, each
// with its HTTP listener and a token; Debian's Chromium, driven by playwright-core, runs inside
// the Backup's namespace. The Master's page (reached over the lab link at 192.0.2.1, which a
// non-loopback listener may only do with a token) shows it MASTER, the Backup's page (on the
// namespace's own 127.0.0.1) shows it BACKUP with the Master seen; the Master is stopped
// (SIGTERM: priority-0 advert), and the Backup's page shows the transition in its live
// timeline and the new state, read from the DOM.
//
// Why Chromium runs inside the namespace: playwright starts the browser with
// --remote-debugging-pipe (file descriptors 3 and 4), so a launcher script that does
// `exec ip netns exec NS /usr/bin/chromium "$@"` hands those descriptors through and playwright
// drives a browser whose whole network is that namespace's: loopback and the lab's veth,
// nothing of the host's. No interface is added to the host namespace, and the browser cannot
// reach anything outside the lab even if it tried (the flags below also stop its own
// background traffic).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { withPair } from '../lib/netns.ts';
import { exited, startVigil } from '../lib/daemon.ts';
import { needs } from '../lib/require.ts';

const CHROMIUM = '/usr/bin/chromium';
const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

const skip = needs('root', 'ip', CHROMIUM);

function config(priority: number, listen: string, token: string): string {
  // advert_int 0.2 (v3): a Backup takes over ~0.6 s after the Master's silence
  return `vrrp_instance:
  VI_1:
    interface: eth0
    virtual_router_id: 61
    priority: ${priority}
    version: 3
    advert_int: 0.2
    virtual_ipaddress:
      - address: 192.0.2.100/24
control:
  http:
    listen: "${listen}"
    token: "${token}"
`;
}

test('the status page follows a failover live, in Chromium inside the lab', { ...skip, timeout: 120_000 }, async () => {
  const { chromium } = await import('playwright-core');
  await withPair(['spa', 'spb'], async ({ lab, dir, a, b }) => {
    const tokenA = 'token-a-' + 'x'.repeat(16);
    const tokenB = 'token-b-' + 'y'.repeat(16);
    writeFileSync(join(dir, 'a.yaml'), config(200, '192.0.2.1:9650', tokenA));
    writeFileSync(join(dir, 'b.yaml'), config(100, '127.0.0.1:9650', tokenB));
    const va = startVigil(lab, a, join(dir, 'a.yaml'), ['-p', join(dir, 'a.pid')]);
    await va.waitFor(/Entering MASTER STATE/);
    await va.waitFor(/http: listening on 192\.0\.2\.1:9650/);
    const vb = startVigil(lab, b, join(dir, 'b.yaml'), ['-p', join(dir, 'b.pid')]);
    await vb.waitFor(/Entering BACKUP STATE/);
    await vb.waitFor(/http: listening on 127\.0\.0\.1:9650/);

    const launcher = join(dir, 'chromium-in-ns');
    writeFileSync(launcher, `#!/bin/sh\nexec ip netns exec ${b} ${CHROMIUM} "$@"\n`, { mode: 0o755 });
    // a fresh profile for this run only (removed with the temp dir)
    const context = await chromium.launchPersistentContext(mkdtempSync(join(dir, 'profile-')), { executablePath: launcher, headless: true, args: FLAGS });
    try {
      const pageA = await context.newPage();
      await pageA.goto(`http://192.0.2.1:9650/#token=${tokenA}`);
      await pageA.locator('tr[data-instance="VI_1"][data-state="master"]').waitFor({ timeout: 10_000 });
      await pageA.locator('#conn[data-state="live"]').waitFor({ timeout: 10_000 });

      const pageB = await context.newPage();
      await pageB.setViewportSize({ width: 1280, height: 720 });
      await pageB.goto(`http://127.0.0.1:9650/#token=${tokenB}`);
      const rowB = pageB.locator('tr[data-instance="VI_1"]');
      await pageB.locator('tr[data-instance="VI_1"][data-state="backup"]').waitFor({ timeout: 10_000 });
      await pageB.locator('#conn[data-state="live"]').waitFor({ timeout: 10_000 });
      assert.equal(await rowB.locator('.master-seen').textContent(), '192.0.2.1', 'the Backup sees the Master');
      assert.equal(await rowB.locator('.priority').textContent(), '100 / 100');
      // the history from /status: the Backup's own start
      await pageB.locator('#timeline li[data-kind="transition"][data-to="backup"]').waitFor({ timeout: 5000 });

      // a page without the token is told so, and gets no data
      const pageNoToken = await context.newPage();
      await pageNoToken.goto('http://127.0.0.1:9650/');
      await pageNoToken.locator('#conn[data-state="unauthorized"]').waitFor({ timeout: 10_000 });
      assert.equal(await pageNoToken.locator('#instances tbody tr').count(), 0);
      await pageNoToken.close();

      // the Master leaves: priority 0, the Backup takes over
      va.child.kill('SIGTERM');
      assert.equal(await exited(va.child), 0);
      await vb.waitFor(/Entering MASTER STATE/);
      const live = pageB.locator('#timeline li.transition[data-instance="VI_1"][data-from="backup"][data-to="master"]');
      await live.waitFor({ timeout: 10_000 });
      assert.match((await live.textContent()) ?? '', /priority-zero|master-down-timer/, 'the reason is shown');
      await pageB.locator('tr[data-instance="VI_1"][data-state="master"]').waitFor({ timeout: 10_000 });
      assert.equal(await rowB.locator('.state-cell .state').textContent(), 'MASTER');
      // newest first: the takeover is at the top of the timeline
      assert.equal(await pageB.locator('#timeline li').first().getAttribute('data-to'), 'master');
      // the Master's page lost its stream and says so
      await pageA.locator('#conn[data-state="reconnecting"]').waitFor({ timeout: 10_000 });

      // the same daemon's /metrics, fetched from the page with its token: real engine values
      const metrics = await pageB.evaluate(async (t) => (await fetch('/metrics', { headers: { authorization: `Bearer ${t}` } })).text(), tokenB);
      const L = 'iname="VI_1",intf="eth0",vrid="61"';
      assert.match(metrics, new RegExp(`^keepalived_vrrp_state\\{${L},ip_address="192\\.0\\.2\\.100/24"\\} 2$`, 'm'));
      assert.match(metrics, new RegExp(`^keepalived_become_master_total\\{${L}\\} 1$`, 'm'));
      assert.match(metrics, new RegExp(`^keepalived_priority_zero_received_total\\{${L}\\} \\d+$`, 'm'));
      assert.match(metrics, /^vigil_transitions_total\{instance="VI_1",from="backup",to="master",reason="(?:priority-zero|master-down-timer)"\} 1$/m);

      const shot = join(dir, 'status-page.png');
      await pageB.screenshot({ path: shot, fullPage: true });
      // to look at it by hand: VIGIL_SCREENSHOT=/tmp/x.png (the temp dir goes with the test)
      if (process.env.VIGIL_SCREENSHOT) copyFileSync(shot, process.env.VIGIL_SCREENSHOT);
    } finally {
      await context.close();
    }
    vb.child.kill('SIGTERM');
    assert.equal(await exited(vb.child), 0);
    for (const log of [va.log(), vb.log()]) {
      assert.ok(!log.includes(tokenA) && !log.includes(tokenB), 'no token in the logs');
    }
  });
});
