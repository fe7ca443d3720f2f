// The built-ins' shared worker thread (builtin-worker.ts, builtin-thread.ts), through the real
// plugin host: plugins given as built-ins (origin 'builtin', their config derived) all run in one
// thread (each reports its threadId), while a user plugin keeps its own. What one built-in does
// to itself (a handler that hangs, a config the schema refuses, a reload of its file) touches
// no other; what takes the thread down (a spin, an escaped rejection) restarts every built-in
// and no user plugin. A restarted built-in gets its module again, unless its file was edited.
// From the sources the thread loads through tsx (worker-entry.mjs, shared
// mode); test/netns/builtin-worker.test.ts runs the built daemon.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { EventBody } from '../../src/bus/events.ts';
import type { PluginSpec } from '../../src/plugins/host.ts';
import { rig, until, type Rig } from '../lib/host-rig.ts';

let dir: string;

// Counts the transitions it sees (of any instance; the count is set on the event's instance),
// tells its thread ('thread') and its module's version ('version'), and notes its stop in a file.
// (named after its file, as a user plugin must be)
const counter = (version: number, name: string) => `
import { definePlugin } from 'vigil/plugin';
import { z } from 'zod';
import { appendFileSync } from 'node:fs';
import { threadId } from 'node:worker_threads';
export default definePlugin({
  apiVersion: 1,
  name: '${name}',
  configSchema: z.object({ tag: z.string(), stopFile: z.string() }),
  setup(ctx) {
    let n = 0;
    ctx.adjustPriority('thread', ctx.config.tag, threadId);
    ctx.adjustPriority('version', ctx.config.tag, ${version});
    ctx.on('instance.transition', (e) => { ctx.adjustPriority(e.instance, ctx.config.tag, ++n); });
    ctx.onStop(() => appendFileSync(ctx.config.stopFile, ctx.config.tag + '\\n'));
  },
});`;

const PLUGINS: Record<string, string> = {
  'counter-a.ts': counter(1, 'counter-a'),
  'counter-b.ts': counter(1, 'counter-b'),
  'counter-u.ts': counter(1, 'counter-u'),
  'thrower.ts': `
import { definePlugin } from 'vigil/plugin';
import { z } from 'zod';
import { threadId } from 'node:worker_threads';
// how often this module was evaluated in its thread
const g = globalThis as { throwerEvaluations?: number };
g.throwerEvaluations = (g.throwerEvaluations ?? 0) + 1;
export default definePlugin({ name: 'thrower', configSchema: z.object({}), setup(ctx) {
  ctx.adjustPriority('thread', 'thrower', threadId);
  ctx.adjustPriority('evaluations', 'thrower', g.throwerEvaluations ?? 0);
  ctx.on('instance.transition', (e) => { if (e.to === 'fault') throw new Error('boom on ' + e.instance); });
} });`,
  // a handler that never settles: the host's handler timeout restarts this plugin alone (a
  // handler that throws restarts nothing: plugin-host.test.ts)
  'hanger.ts': `
import { definePlugin } from 'vigil/plugin';
import { threadId } from 'node:worker_threads';
const g = globalThis as { hangerEvaluations?: number };
g.hangerEvaluations = (g.hangerEvaluations ?? 0) + 1;
export default definePlugin({ apiVersion: 1, name: 'hanger', setup(ctx) {
  ctx.adjustPriority('thread', 'hanger', threadId);
  ctx.adjustPriority('evaluations', 'hanger', g.hangerEvaluations ?? 0);
  ctx.on('instance.transition', (e) => (e.to === 'fault' ? new Promise<void>(() => {}) : undefined));
} });`,
  'spinner.ts': `
import { definePlugin } from 'vigil/plugin';
import { z } from 'zod';
export default definePlugin({ name: 'spinner', configSchema: z.object({}), setup(ctx) {
  ctx.on('instance.transition', (e) => { if (e.to === 'master') for (;;) {} });
} });`,
  'rejecter.ts': `
import { definePlugin } from 'vigil/plugin';
import { z } from 'zod';
export default definePlugin({ name: 'rejecter', configSchema: z.object({}), setup(ctx) {
  ctx.on('instance.transition', (e) => { if (e.to === 'fault') setTimeout(() => void Promise.reject(new Error('escaped from ' + e.instance)), 0); });
} });`,
  'timer-thrower.ts': `
import { definePlugin } from 'vigil/plugin';
import { z } from 'zod';
export default definePlugin({ name: 'timer-thrower', configSchema: z.object({}), setup(ctx) {
  ctx.on('instance.transition', (e) => { if (e.to === 'fault') setTimeout(() => { throw new Error('escaped from ' + e.instance); }, 0); });
} });`,
  'badconfig.ts': `
import { definePlugin } from 'vigil/plugin';
import { z } from 'zod';
export default definePlugin({ name: 'badconfig', configSchema: z.object({ url: z.url() }), setup() {} });`,
};

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'vigil-builtins-'));
  for (const [f, text] of Object.entries(PLUGINS)) writeFileSync(join(dir, f), text);
});
after(() => rmSync(dir, { recursive: true, force: true }));

const stopFile = () => join(dir, 'stopped.txt');
const builtin = (id: string, config: unknown = {}): PluginSpec => ({ id, entry: join(dir, `${id}.ts`), config, origin: 'builtin' });
const counterSpec = (id: string, origin: 'builtin' | 'user' = 'builtin'): PluginSpec => ({ ...builtin(id, { tag: id, stopFile: stopFile() }), origin });
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

/** The last weight plugin `id` set for (instance, source). */
const last = (r: Rig, id: string, instance: string, source = id): number | undefined => r.adjustments.filter(([p, i, s]) => p === id && i === instance && s === source).at(-1)?.[3];
const threadOf = (r: Rig, id: string): number | undefined => last(r, id, 'thread');
const stateOf = (r: Rig, id: string) => r.host.status().find((s) => s.id === id);
const stops = (): string[] => (existsSync(stopFile()) ? readFileSync(stopFile(), 'utf8').trim().split('\n') : []);
/** This process's OS threads (a worker thread is one). */
const tasks = (): number => readdirSync('/proc/self/task').length;

describe("built-ins' shared worker thread", () => {
  test('every built-in runs in one thread, a user plugin in its own; host.stop() runs their onStop and ends the thread', async () => {
    rmSync(stopFile(), { force: true });
    const before = tasks();
    let running = 0;
    const r = rig();
    try {
      r.host.apply([counterSpec('counter-a'), counterSpec('counter-b'), builtin('thrower'), counterSpec('counter-u', 'user')], [], {});
      await r.host.ready();
      await until('every thread reported', () => ['counter-a', 'counter-b', 'thrower', 'counter-u'].every((id) => threadOf(r, id) !== undefined));
      const shared = threadOf(r, 'counter-a');
      assert.equal(threadOf(r, 'counter-b'), shared);
      assert.equal(threadOf(r, 'thrower'), shared);
      assert.notEqual(threadOf(r, 'counter-u'), shared, 'a user plugin has a thread of its own');
      r.bus.publish(tr('VI_1', 'master'));
      await until('events reach every built-in', () => last(r, 'counter-a', 'VI_1') === 1 && last(r, 'counter-b', 'VI_1') === 1 && last(r, 'counter-u', 'VI_1') === 1);
    } finally {
      running = tasks();
      await r.host.stop();
    }
    assert.deepEqual(stops().sort(), ['counter-a', 'counter-b', 'counter-u']);
    // (from the sources a worker is two OS threads: its own and its module loader's)
    await until('the worker threads ended', () => tasks() <= before, 5000);
    assert.ok(running > before);
  });

  test('a built-in whose handler hangs is restarted alone: the others keep their thread and their state', async () => {
    const r = rig({ handlerTimeoutMs: 1000 });
    try {
      r.host.apply([counterSpec('counter-a'), builtin('hanger')], [], {});
      await r.host.ready();
      r.bus.publish(tr('VI_1', 'backup'));
      await until('counted', () => last(r, 'counter-a', 'VI_1') === 1);
      const shared = threadOf(r, 'counter-a');
      r.bus.publish(tr('VI_2', 'fault'));
      await until('hanger failed', () => r.events.some((e) => e.type === 'plugin.failed' && e.plugin === 'hanger' && e.cause === 'unresponsive'));
      await until('hanger restarted', () => r.events.some((e) => e.type === 'plugin.restarted' && e.plugin === 'hanger'));
      r.bus.publish(tr('VI_1', 'master'));
      // (its count runs over every instance: VI_1, VI_2, VI_1)
      await until('counted on', () => last(r, 'counter-a', 'VI_1') === 3);
      assert.equal(stateOf(r, 'counter-a')?.restarts, 0);
      assert.equal(stateOf(r, 'counter-a')?.failures, 0);
      assert.equal(threadOf(r, 'hanger'), shared, 'the restarted hanger runs in the same thread');
      // its file unchanged, the restart reuses its module: restarts do not pile modules up in
      // the thread (ESM cannot unload one)
      assert.deepEqual(r.adjustments.filter(([p, i]) => p === 'hanger' && i === 'evaluations').map(([, , , w]) => w), [1, 1]);
    } finally {
      await r.host.stop();
    }
  });

  test('a config the schema refuses stops only that built-in', async () => {
    const r = rig();
    try {
      r.host.apply([counterSpec('counter-a'), builtin('badconfig', { url: 'not a url' })], [], {});
      await r.host.ready();
      assert.equal(stateOf(r, 'badconfig')?.state, 'waiting-for-fix');
      r.bus.publish(tr('VI_1', 'backup'));
      await until('counted', () => last(r, 'counter-a', 'VI_1') === 1);
      assert.equal(stateOf(r, 'counter-a')?.state, 'running');
      assert.equal(stateOf(r, 'counter-a')?.restarts, 0);
    } finally {
      await r.host.stop();
    }
  });

  test("reloading one built-in unloads it (its onStop runs), loads its edited module, and leaves the others alone", async () => {
    rmSync(stopFile(), { force: true });
    const r = rig();
    try {
      r.host.apply([counterSpec('counter-a'), counterSpec('counter-b')], [], {});
      await r.host.ready();
      r.bus.publish(tr('VI_1', 'backup'));
      await until('counted', () => last(r, 'counter-a', 'VI_1') === 1 && last(r, 'counter-b', 'VI_1') === 1);
      const shared = threadOf(r, 'counter-a');
      writeFileSync(join(dir, 'counter-b.ts'), counter(2, 'counter-b'));
      r.host.reloadFile('counter-b');
      await until('the edited module runs', () => last(r, 'counter-b', 'version') === 2);
      await until('its onStop ran', () => stops().includes('counter-b'));
      assert.deepEqual(stops(), ['counter-b']);
      assert.equal(threadOf(r, 'counter-b'), shared);
      r.bus.publish(tr('VI_1', 'master'));
      await until('counted on', () => last(r, 'counter-a', 'VI_1') === 2 && last(r, 'counter-b', 'VI_1') === 1);
      assert.equal(stateOf(r, 'counter-a')?.restarts, 0);
    } finally {
      await r.host.stop();
      writeFileSync(join(dir, 'counter-b.ts'), counter(1, 'counter-b'));
    }
  });

  test('a spinning built-in takes the shared thread down: every built-in restarts in a fresh thread, a user plugin does not', async () => {
    const r = rig();
    try {
      r.host.apply([counterSpec('counter-a'), builtin('spinner'), counterSpec('counter-u', 'user')], [], {});
      await r.host.ready();
      await until('threads reported', () => threadOf(r, 'counter-a') !== undefined && threadOf(r, 'counter-u') !== undefined);
      const shared = threadOf(r, 'counter-a');
      r.bus.publish(tr('VI_1', 'master'));
      await until('spinner failed', () => r.events.some((e) => e.type === 'plugin.failed' && e.plugin === 'spinner' && e.cause === 'unresponsive'), 15_000);
      await until('counter-a failed too', () => r.events.some((e) => e.type === 'plugin.failed' && e.plugin === 'counter-a'), 15_000);
      await until('counter-a restarted in a fresh thread', () => (threadOf(r, 'counter-a') ?? shared) !== shared && stateOf(r, 'counter-a')?.state === 'running', 20_000);
      // the spinner's event is retried twice at most, then dropped: the thread settles
      await until('both run again', () => stateOf(r, 'counter-a')?.state === 'running' && stateOf(r, 'spinner')?.state === 'running' && last(r, 'counter-a', 'VI_1') === 1, 30_000);
      r.bus.publish(tr('VI_2', 'backup'));
      await until('counter-a handles events again', () => last(r, 'counter-a', 'VI_2') === 1);
      assert.equal(stateOf(r, 'counter-u')?.restarts, 0, 'the user plugin was not touched');
      assert.equal(stateOf(r, 'counter-u')?.failures, 0);
    } finally {
      await r.host.stop();
    }
  });

  for (const [id, what, error] of [
    ['rejecter', 'a rejection', /unhandled rejection: .*escaped from VI_1/],
    ['timer-thrower', 'an exception', /escaped from VI_1/],
  ] as const) {
    test(`${what} that escapes a built-in ends the thread: every built-in restarts, each told why`, async () => {
      const r = rig();
      try {
        r.host.apply([counterSpec('counter-a'), builtin(id)], [], {});
        await r.host.ready();
        r.bus.publish(tr('VI_1', 'fault'));
        for (const p of ['counter-a', id]) {
          await until(`${p} failed`, () => r.events.some((e) => e.type === 'plugin.failed' && e.plugin === p));
          const failed = r.events.find((e) => e.type === 'plugin.failed' && e.plugin === p);
          assert.match(failed?.type === 'plugin.failed' ? failed.error : '', error);
        }
        await until('both restarted', () => r.host.status().every((s) => s.state === 'running' && s.restarts >= 1), 20_000);
      } finally {
        await r.host.stop();
      }
    });
  }
});
