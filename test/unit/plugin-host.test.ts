// The plugin host with real worker threads and real plugin files in a bare directory (no
// package.json, no node_modules: the plugins import 'vigil/plugin' and 'zod' through the
// host's resolver). Covers loading .ts and .mjs, per-instance ordering under a slow handler,
// containment (a plugin that crashes, spins or hangs is reported and restarted with back-off,
// events it had not finished reach its successor, and the bus never waits), handlers that
// throw (retried once, then the event is dropped and reported, no restart), and what a
// definition gets wrong (an unknown event name, another API version) failing its load.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { EventBody } from '../../src/bus/events.ts';
import type { PluginSpec } from '../../src/plugins/host.ts';
import { userPluginFiles } from '../../src/plugins/loader.ts';
import { rig, until } from '../lib/host-rig.ts';

let dir: string;

const PLUGINS: Record<string, string> = {
  // records every transition it sees into a file, slowly for VI_1, to prove per-key order
  'recorder.ts': `
import { definePlugin } from 'vigil/plugin';
import { z } from 'zod';
import { appendFileSync } from 'node:fs';
export default definePlugin({
  name: 'recorder',
  configSchema: z.object({ out: z.string(), slowMs: z.number().default(0) }),
  setup(ctx) {
    ctx.on('instance.transition', async (e) => {
      if (e.instance === 'VI_1' && ctx.config.slowMs) await new Promise((r) => setTimeout(r, ctx.config.slowMs));
      appendFileSync(ctx.config.out, e.instance + ' ' + e.to + ' ' + e.seq + '\\n');
      ctx.adjustPriority(e.instance, 'seen', e.seq);
    });
  },
});`,
  'mjs-plugin.mjs': `
import { definePlugin } from 'vigil/plugin';
import { z } from 'zod';
export default definePlugin({ name: 'mjs-plugin', configSchema: z.object({}), setup(ctx) { ctx.setFault('VI_1', 'always', true); } });`,
  // an error outside any handler (a timer's): the worker dies, as a crash
  'crasher.ts': `
import { definePlugin } from 'vigil/plugin';
export default definePlugin({ apiVersion: 1, name: 'crasher', setup(ctx) {
  ctx.log.info('setup');
  ctx.on('instance.transition', (e) => { if (e.to === 'fault') setTimeout(() => { throw new Error('boom on ' + e.instance); }); else ctx.adjustPriority(e.instance, 'ok', e.seq); });
} });`,
  // its handler fails the first call for each event and passes the second; the counter is
  // state a restart would lose
  'flaky.ts': `
import { definePlugin } from 'vigil/plugin';
export default definePlugin({ apiVersion: 1, name: 'flaky', setup(ctx) {
  let handled = 0;
  const failed = new Set<number>();
  ctx.on('instance.transition', async (e) => {
    if (!failed.has(e.seq)) { failed.add(e.seq); if (e.to === 'fault') throw new Error('flaky throw'); throw new Error('flaky reject'); }
    handled++;
    ctx.adjustPriority(e.instance, 'count', handled);
  });
} });`,
  // fails every time for a fault (throws) or a master (rejects); counts what it handled
  'thrower.ts': `
import { definePlugin } from 'vigil/plugin';
export default definePlugin({ apiVersion: 1, name: 'thrower', setup(ctx) {
  let handled = 0;
  let calls = 0;
  ctx.on('instance.transition', (e) => {
    ctx.adjustPriority('calls', String(e.seq), ++calls);
    if (e.to === 'fault') throw new Error('boom on ' + e.instance);
    if (e.to === 'master') return Promise.reject(new Error('rejected on ' + e.instance));
    ctx.adjustPriority(e.instance, 'count', ++handled);
  });
} });`,
  'typo.ts': `
import { definePlugin } from 'vigil/plugin';
export default definePlugin({ apiVersion: 1, name: 'typo', setup(ctx) {
  ctx.on('instance.transtion' as 'instance.transition', () => undefined);
} });`,
  'future.mjs': `
export default { apiVersion: 2, name: 'future', setup() {} };`,
  'noversion.mjs': `
export default { name: 'noversion', setup(ctx) { ctx.adjustPriority('VI_1', 'config', ctx.config === undefined ? -1 : ctx.config.w); } };`,
  'spinner.ts': `
import { definePlugin } from 'vigil/plugin';
import { z } from 'zod';
export default definePlugin({ name: 'spinner', configSchema: z.object({}), setup(ctx) {
  ctx.log.info('setup');
  ctx.on('instance.transition', (e) => { if (e.to === 'master') for (;;) {} ctx.adjustPriority(e.instance, 'ok', e.seq); });
} });`,
  'hanger.ts': `
import { definePlugin } from 'vigil/plugin';
import { z } from 'zod';
export default definePlugin({ name: 'hanger', configSchema: z.object({}), setup(ctx) {
  ctx.on('instance.transition', (e) => (e.to === 'master' ? new Promise<void>(() => {}) : ctx.adjustPriority(e.instance, 'ok', e.seq)));
} });`,
  'badconfig.ts': `
import { definePlugin } from 'vigil/plugin';
import { z } from 'zod';
export default definePlugin({ name: 'badconfig', configSchema: z.object({ url: z.url() }), setup() {} });`,
};

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'vigil-plugins-'));
  for (const [f, text] of Object.entries(PLUGINS)) writeFileSync(join(dir, f), text);
});
after(() => rmSync(dir, { recursive: true, force: true }));

const spec = (id: string, ext = 'ts'): PluginSpec => ({ id, entry: join(dir, `${id}.${ext}`), config: undefined, origin: 'user' });
const tr = (instance: string, to: 'master' | 'backup' | 'fault'): EventBody => ({
  type: 'instance.transition',
  instance,
  vrid: 1,
  interface: 'eth0',
  from: 'backup',
  to,
  reason: 'master-down-timer',
  priority: 100,
});

describe('plugin host', () => {
  test('finds .ts and .mjs plugins in a bare directory and loads them with vigil/plugin and zod', async () => {
    const ids = userPluginFiles(dir).map((f) => f.id);
    assert.deepEqual(ids, ['badconfig', 'crasher', 'flaky', 'future', 'hanger', 'mjs-plugin', 'noversion', 'recorder', 'spinner', 'thrower', 'typo']);
    const r = rig();
    try {
      r.host.apply([spec('mjs-plugin', 'mjs')], [], {});
      await r.host.ready();
      await until('the fault', () => r.faults.length === 1);
      assert.deepEqual(r.faults, [['mjs-plugin', 'VI_1', 'always', true]]);
      assert.ok(r.events.some((e) => e.type === 'plugin.started' && e.plugin === 'mjs-plugin'));
    } finally {
      await r.host.stop();
    }
  });

  test("one instance's events are handled in order, each after the previous finished; other instances are not held back", async () => {
    const out = join(dir, 'order.txt');
    const r = rig();
    try {
      r.host.apply([spec('recorder')], [], { recorder: { out, slowMs: 150 } });
      await r.host.ready();
      const t0 = Date.now();
      const seqs = [r.bus.publish(tr('VI_1', 'master')), r.bus.publish(tr('VI_2', 'master')), r.bus.publish(tr('VI_1', 'backup')), r.bus.publish(tr('VI_1', 'fault'))].map((e) => e.seq);
      assert.ok(Date.now() - t0 < 50, 'publishing never waits for a plugin');
      await r.host.drain();
      const { readFileSync } = await import('node:fs');
      const lines = readFileSync(out, 'utf8').trim().split('\n');
      assert.deepEqual(lines, [`VI_2 master ${seqs[1]}`, `VI_1 master ${seqs[0]}`, `VI_1 backup ${seqs[2]}`, `VI_1 fault ${seqs[3]}`]);
    } finally {
      await r.host.stop();
    }
  });

  test('a config the schema refuses is reported once with its field and not restarted', async () => {
    const r = rig();
    try {
      r.host.apply([spec('badconfig')], [], { badconfig: { url: 'not a url' } });
      await r.host.ready();
      await new Promise((res) => setTimeout(res, 600));
      const failed = r.events.filter((e) => e.type === 'plugin.failed');
      assert.equal(failed.length, 1);
      assert.match(failed[0]?.type === 'plugin.failed' ? failed[0].error : '', /url: /);
      assert.equal(r.host.status()[0]?.state, 'waiting-for-fix');
      // a reload with a fixed config starts it
      r.host.apply([spec('badconfig')], [], { badconfig: { url: 'http://127.0.0.1/' } });
      await until('started', () => r.host.status()[0]?.state === 'running');
    } finally {
      await r.host.stop();
    }
  });

  for (const [id, cause] of [
    ['crasher', 'threw'],
    ['spinner', 'unresponsive'],
    ['hanger', 'unresponsive'],
  ] as const) {
    test(`a plugin that ${id === 'crasher' ? 'throws outside a handler' : id === 'spinner' ? 'spins the CPU' : 'hangs'} is contained, reported and restarted with back-off; later events still arrive`, async () => {
      const r = rig({ handlerTimeoutMs: 1500 });
      try {
        r.host.apply([spec(id)], [], {});
        await r.host.ready();
        const bad = r.bus.publish(tr('VI_1', id === 'crasher' ? 'fault' : 'master'));
        // the engine side stays responsive while the plugin is stuck: timers keep firing
        let ticks = 0;
        const ticker = setInterval(() => ticks++, 50);
        await until('plugin.failed', () => r.events.some((e) => e.type === 'plugin.failed'), 15_000);
        clearInterval(ticker);
        // (a crasher fails at once; a spinner or hanger takes a second to be declared stuck, and
        // the host's own timers ran meanwhile)
        if (id !== 'crasher') assert.ok(ticks >= 10, `the host's thread kept running (${ticks} ticks)`);
        const failed = r.events.find((e) => e.type === 'plugin.failed');
        assert.equal(failed?.type === 'plugin.failed' && failed.cause, cause);
        // an event published while it is down is not lost
        const later = r.bus.publish(tr('VI_2', 'backup'));
        await until('restarted', () => r.events.some((e) => e.type === 'plugin.restarted'), 15_000);
        await until('the later event handled', () => r.adjustments.some(([, i, , w]) => i === 'VI_2' && w === later.seq), 15_000);
        assert.ok(!r.adjustments.some(([, , , w]) => w === bad.seq), 'the poison event never completed');
        assert.ok((r.host.status()[0]?.restarts ?? 0) >= 1);
      } finally {
        await r.host.stop();
      }
    });
  }

  test('back-off doubles between failed restarts', async () => {
    const r = rig({ initialBackoffMs: 100, maxBackoffMs: 400 });
    try {
      r.host.apply([spec('crasher')], [], {});
      await r.host.ready();
      for (let i = 0; i < 4; i++) {
        r.bus.publish(tr(`VI_${i}`, 'fault'));
        await until(`failure ${i + 1}`, () => r.events.filter((e) => e.type === 'plugin.failed').length > i, 10_000);
        await until(`restart ${i + 1}`, () => r.host.status()[0]?.state === 'running', 10_000);
      }
      const delays = r.events.flatMap((e) => (e.type === 'plugin.failed' ? [e.restartInMs] : []));
      assert.deepEqual(delays, [100, 200, 400, 400]);
    } finally {
      await r.host.stop();
    }
  });

  test('a handler that fails once is called again with the same event and succeeds: no report, no restart, its state kept', async () => {
    const r = rig();
    try {
      r.host.apply([spec('flaky')], [], {});
      await r.host.ready();
      // one that throws, one that rejects
      r.bus.publish(tr('VI_1', 'fault'));
      r.bus.publish(tr('VI_1', 'master'));
      r.bus.publish(tr('VI_2', 'backup'));
      await r.host.drain();
      await until('three handled', () => r.adjustments.length === 3);
      // the counter went on counting across failures: the worker was never replaced
      assert.deepEqual(r.adjustments.map(([, , , w]) => w).sort(), [1, 2, 3]);
      assert.equal(r.events.filter((e) => e.type === 'plugin.restarted' || e.type === 'plugin.failed' || e.type === 'plugin.handler_failed').length, 0);
      assert.equal(r.host.status()[0]?.restarts, 0);
      assert.equal(r.host.status()[0]?.handlerErrors, 0);
      assert.equal(r.lines.filter((l) => /retrying it once/.test(l)).length, 3, r.lines.join('\n'));
    } finally {
      await r.host.stop();
    }
  });

  test('a handler that always fails is called twice, then the event is dropped and reported; later events still arrive, no restart', async () => {
    const r = rig();
    try {
      r.host.apply([spec('thrower')], [], {});
      await r.host.ready();
      const thrown = r.bus.publish(tr('VI_1', 'fault'));
      const rejected = r.bus.publish(tr('VI_2', 'master'));
      r.bus.publish(tr('VI_1', 'backup'));
      r.bus.publish(tr('VI_3', 'backup'));
      await r.host.drain();
      await until('the later events handled', () => r.adjustments.filter(([, , s]) => s === 'count').length === 2);
      // its own count of handled events went on from where it was: same worker, same state
      assert.deepEqual(r.adjustments.filter(([, , s]) => s === 'count').map(([, , , w]) => w), [1, 2]);
      // each failing event was tried exactly twice
      const calls = (seq: number) => r.adjustments.filter(([, i, s]) => i === 'calls' && s === String(seq)).length;
      assert.equal(calls(thrown.seq), 2);
      assert.equal(calls(rejected.seq), 2);
      const reports = r.events.flatMap((e) => (e.type === 'plugin.handler_failed' ? [e] : []));
      assert.deepEqual(
        reports.map((e) => [e.plugin, e.event, e.eventSeq, e.cause, e.attempts]).sort((a, b) => Number(a[2]) - Number(b[2])),
        [
          ['thrower', 'instance.transition', thrown.seq, 'threw', 2],
          ['thrower', 'instance.transition', rejected.seq, 'rejected', 2],
        ],
      );
      assert.match(reports.find((e) => e.eventSeq === thrown.seq)?.error ?? '', /boom on VI_1/);
      assert.ok(r.lines.some((l) => l.startsWith('error: plugin thrower: handler for instance.transition (event ' + thrown.seq + ') threw 2 times, event dropped')), r.lines.join('\n'));
      assert.equal(r.events.filter((e) => e.type === 'plugin.failed' || e.type === 'plugin.restarted').length, 0);
      assert.equal(r.host.status()[0]?.restarts, 0);
      assert.equal(r.host.status()[0]?.handlerErrors, 2);
      assert.equal(r.host.status()[0]?.state, 'running');
    } finally {
      await r.host.stop();
    }
  });

  test('an unknown event name fails setup with the valid names; another API version is refused at load', async () => {
    const r = rig();
    try {
      r.host.apply([spec('typo'), spec('future', 'mjs')], [], {});
      await r.host.ready();
      await until('two failures', () => r.events.filter((e) => e.type === 'plugin.failed').length === 2);
      const failed = Object.fromEntries(r.events.flatMap((e) => (e.type === 'plugin.failed' ? [[e.plugin, e]] : [])));
      assert.equal(failed.typo?.cause, 'setup');
      assert.match(failed.typo?.error ?? '', /unknown event type "instance\.transtion"; the event types are instance\.transition, .*virtualserver\.quorum/);
      assert.equal(failed.future?.cause, 'setup');
      assert.match(failed.future?.error ?? '', /plugin future was written for plugin API 2; this vigil supports 1/);
    } finally {
      await r.host.stop();
    }
  });

  test('a plugin without configSchema gets its section as written (undefined without one); one without apiVersion loads as API 1 with a warning', async () => {
    const r = rig();
    try {
      r.host.apply([spec('noversion', 'mjs')], [], { noversion: { w: -7 } });
      await r.host.ready();
      await until('its adjustment', () => r.adjustments.length === 1);
      assert.deepEqual(r.adjustments[0], ['noversion', 'VI_1', 'config', -7]);
      assert.ok(r.lines.some((l) => /^warn: plugin noversion: plugin noversion declares no apiVersion: taken as plugin API 1/.test(l)), r.lines.join('\n'));
      r.host.apply([spec('noversion', 'mjs')], [], {});
      await until('restarted without a section', () => r.adjustments.length === 2);
      assert.deepEqual(r.adjustments[1], ['noversion', 'VI_1', 'config', -1]);
    } finally {
      await r.host.stop();
    }
  });
});
