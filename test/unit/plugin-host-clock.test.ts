// The plugin host's containment runs on the monotonic clock and does not blame workers for its
// own stalls (found by the fault-injection suite, test/faults/):
// - a wall-clock step (Date.now jumping an hour forward, then back) neither kills a healthy
//   plugin nor blinds the hang detection: a spinner is still caught with the clock an hour back;
// - the host's own thread frozen longer than the unresponsive limit (SIGSTOP of the daemon, a
//   blocked event loop) is not read as every worker being stuck.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EventBus } from '../../src/bus/bus.ts';
import type { VigilEvent } from '../../src/bus/events.ts';
import { PluginHost } from '../../src/plugins/host.ts';
import type { Logger } from '../../src/daemon/log.ts';

let dir: string;
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'vigil-host-clock-'));
  writeFileSync(
    join(dir, 'calm.ts'),
    `import { definePlugin } from 'vigil/plugin';
import { z } from 'zod';
export default definePlugin({ name: 'calm', configSchema: z.object({}), setup() {} });`,
  );
  writeFileSync(
    join(dir, 'spinner.ts'),
    `import { definePlugin } from 'vigil/plugin';
import { z } from 'zod';
export default definePlugin({ name: 'spinner', configSchema: z.object({}), setup(ctx) {
  ctx.on('instance.transition', () => { for (;;) {} });
} });`,
  );
});
after(() => rmSync(dir, { recursive: true, force: true }));

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function rig() {
  const bus = new EventBus();
  const events: VigilEvent[] = [];
  bus.subscribe((e) => events.push(e));
  const noop = () => undefined;
  const log: Logger = { debug: noop, info: noop, warn: noop, error: noop };
  const host = new PluginHost({ bus, log, onAdjust: noop, onFault: noop, onRemoved: noop, heartbeatMs: 100, unresponsiveMs: 1000, initialBackoffMs: 200 });
  const failures = () => events.filter((e) => e.type === 'plugin.failed');
  return { bus, host, failures };
}

test('plugin host: wall-clock steps neither kill a healthy plugin nor hide a spinning one', async () => {
  const r = rig();
  const realNow = Date.now;
  try {
    r.host.apply([{ id: 'calm', entry: join(dir, 'calm.ts'), config: undefined, origin: 'user' }], [], {});
    await r.host.ready(15_000);
    let offset = 3_600_000;
    Date.now = () => realNow() + offset;
    await sleep(1500);
    offset = -3_600_000;
    await sleep(1500);
    assert.deepEqual(r.failures(), [], 'no plugin blamed for the clock');

    // an hour back, a spinner is still caught within the unresponsive limit
    r.host.apply(
      [
        { id: 'calm', entry: join(dir, 'calm.ts'), config: undefined, origin: 'user' },
        { id: 'spinner', entry: join(dir, 'spinner.ts'), config: undefined, origin: 'user' },
      ],
      [],
      {},
    );
    await r.host.ready(15_000);
    r.bus.publish({ type: 'instance.transition', instance: 'VI_1', vrid: 1, interface: 'eth0', from: 'backup', to: 'master', reason: 'master-down-timer', priority: 100 });
    const t0 = performance.now();
    while (r.failures().length === 0 && performance.now() - t0 < 10_000) await sleep(50);
    const f = r.failures();
    assert.equal(f.length, 1, 'the spinner is caught');
    assert.ok(f[0]?.type === 'plugin.failed' && f[0].plugin === 'spinner' && f[0].cause === 'unresponsive');
    assert.ok(performance.now() - t0 < 5000, `caught in ${Math.round(performance.now() - t0)} ms`);
  } finally {
    Date.now = realNow;
    await r.host.stop();
  }
});

test('plugin host: its own thread frozen past the limit does not fail the workers', async () => {
  const r = rig();
  try {
    r.host.apply([{ id: 'calm', entry: join(dir, 'calm.ts'), config: undefined, origin: 'user' }], [], {});
    await r.host.ready(15_000);
    await sleep(300);
    const end = performance.now() + 2500; // the host's thread does nothing for 2.5 s
    while (performance.now() < end) {
      // blocked, as under SIGSTOP
    }
    await sleep(1500);
    assert.deepEqual(r.failures(), []);
  } finally {
    await r.host.stop();
  }
});
