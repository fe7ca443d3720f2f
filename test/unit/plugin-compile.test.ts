// Built-in plugins run compiled (src/plugins/compile.ts): one plain JavaScript module per plugin
// and one for the worker runtime, packages imported by absolute file URL, no tsx in the worker.
// A host given a built-in spec starts it from the compiled modules, and the modules go at stop.
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { test } from 'node:test';
import { EventBus } from '../../src/bus/bus.ts';
import { PluginCompiler } from '../../src/plugins/compile.ts';
import { PluginHost } from '../../src/plugins/host.ts';
import { BUILTIN_DIR } from '../../src/plugins/loader.ts';
import type { Logger } from '../../src/daemon/log.ts';

test('a built-in plugin compiles to one JavaScript module that loads without tsx', async () => {
  const c = new PluginCompiler();
  try {
    const out = await c.compile(join(BUILTIN_DIR, 'track-file', 'index.ts'));
    const text = readFileSync(out.entry, 'utf8');
    assert.match(text, /from "file:\/\/[^"]*\/node_modules\/zod\//, 'packages by absolute file URL');
    assert.doesNotMatch(text, /from "\.\.?\//, 'its own modules are inside the bundle');
    assert.doesNotMatch(text, /: (?:string|number)\b[),]/, 'no TypeScript left');
    const mod = (await import(pathToFileURL(out.entry).href)) as { default: { name: string } };
    assert.equal(mod.default.name, 'track-file');
    assert.ok(existsSync(out.runtime));
    // the same source compiles to the same file
    assert.equal((await c.compile(join(BUILTIN_DIR, 'track-file', 'index.ts'))).entry, out.entry);
    c.close();
    assert.ok(!existsSync(out.entry), 'the compiled modules go at close');
  } finally {
    c.close();
  }
});

test('the host starts a built-in from its compiled module', async () => {
  const logs: string[] = [];
  const log = { info: (m: string) => logs.push(m), warn: (m: string) => logs.push(`WARN ${m}`), error: (m: string) => logs.push(`ERROR ${m}`), debug: () => undefined } as unknown as Logger;
  const host = new PluginHost({ bus: new EventBus(), log, onAdjust: () => undefined, onFault: () => undefined, onRemoved: () => undefined });
  try {
    host.apply([{ id: 'notify-fifo', entry: join(BUILTIN_DIR, 'notify-fifo', 'index.ts'), config: { fifos: [] }, origin: 'builtin' }], [], {});
    const deadline = Date.now() + 20_000;
    while (!logs.some((l) => l.includes('plugin notify-fifo: started')) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    assert.ok(logs.some((l) => l.includes('plugin notify-fifo: started')), logs.join('\n'));
    assert.ok(!logs.some((l) => l.includes('cannot compile')), logs.join('\n'));
  } finally {
    await host.stop(100);
  }
});

test("a dead engine's compiled modules are removed by the next compile; a live one's stay", async () => {
  const { mkdirSync, rmSync: rm } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const dead = join(tmpdir(), 'vigil-plugins-999999999-test');
  const live = join(tmpdir(), `vigil-plugins-${process.ppid}-test`);
  mkdirSync(dead, { recursive: true });
  mkdirSync(live, { recursive: true });
  const c = new PluginCompiler();
  try {
    await c.compile(join(BUILTIN_DIR, 'track-file', 'index.ts'));
    assert.ok(!existsSync(dead), 'the dead pid directory is gone');
    assert.ok(existsSync(live), 'a running process keeps its directory');
  } finally {
    c.close();
    rm(live, { recursive: true, force: true });
    rm(dead, { recursive: true, force: true });
  }
});
