// Checkers written as plugins (issue 12): a real plugin file (root's, 0644, in a root-owned
// 0755 directory: the plugin-security rule is on) registers a checker with ctx.registerChecker,
// the real plugin host runs it in a worker thread (and, as nobody, in a process of its own), and
// the checker connects to a real TCP server on loopback that says a banner line. Covers: up,
// down with the checker's reason, a weight passed through, the host's own timeout (the plugin's
// signal is aborted, the next attempt works), a checker that throws / rejects / answers
// nonsense, the caller's abort, an unknown name (logged once), a plugin that crashes and comes
// back (registering again), and a name two plugins want. Needs root (chown): fails otherwise.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import type { PluginCheck, ProbeResult } from '../../src/lvs/checks.ts';
import type { PluginSpec } from '../../src/plugins/host.ts';
import { rig, until, type Rig } from '../lib/host-rig.ts';

/** The checker under test: connects, reads one line, compares it with params.expect. Its
 * `mode` param makes it misbehave on request. `marks` is a file it appends to when its signal
 * is aborted, so the test sees the host's abort arrive. */
const CHECKER = (pluginName: string, checkerName: string) => `
import { definePlugin } from 'vigil/plugin';
import { z } from 'zod';
import { connect } from 'node:net';
import { appendFileSync } from 'node:fs';

const Params = z.object({
  expect: z.string().default('READY'),
  weight: z.number().optional(),
  mode: z.enum(['normal', 'hang', 'late', 'throw', 'reject', 'nonsense', 'crash']).default('normal'),
  marks: z.string().optional(),
});

export default definePlugin({
  name: '${pluginName}',
  configSchema: z.object({}),
  setup(ctx) {
    ctx.registerChecker('${checkerName}', async (target, { signal, timeoutMs }) => {
      const p = Params.parse(target.params);
      if (p.mode === 'throw') throw new Error('checker exploded');
      if (p.mode === 'reject') return Promise.reject(new Error('checker rejected'));
      if (p.mode === 'nonsense') return { up: 'yes' } as unknown as { up: boolean };
      if (p.mode === 'crash') {
        setTimeout(() => { throw new Error('crashed on purpose'); }, 20);
        return new Promise<never>(() => {});
      }
      if (p.mode === 'hang') {
        // never answers; notes the abort the host sends when the attempt's time is up
        return new Promise<never>(() => {
          signal.addEventListener('abort', () => p.marks && appendFileSync(p.marks, 'aborted ' + timeoutMs + '\\n'));
        });
      }
      if (p.mode === 'late') {
        // ignores its signal and answers up long after the attempt ended: dropped
        await new Promise((r) => setTimeout(r, timeoutMs * 3));
        return { up: true };
      }
      return new Promise((resolve) => {
        const sock = connect({ host: target.host, port: target.port });
        const done = (answer: { up: boolean; weight?: number; reason?: string }) => { sock.destroy(); resolve(answer); };
        signal.addEventListener('abort', () => done({ up: false, reason: 'aborted' }));
        let line = '';
        sock.setEncoding('utf8');
        sock.on('data', (d: string) => {
          line += d;
          if (!line.includes('\\n')) return;
          const got = line.split('\\n')[0];
          if (got === p.expect) done({ up: true, ...(p.weight !== undefined ? { weight: p.weight } : {}) });
          else done({ up: false, reason: 'banner ' + got + ' from ' + target.realServer });
        });
        sock.on('error', (e: NodeJS.ErrnoException) => done({ up: false, reason: e.code ?? e.message }));
      });
    });
  },
});
`;

let base: string;
let server: Server;
let port: number;
/** What the server says to the next connection. */
let banner = 'READY';

function writeRootFile(path: string, text: string): string {
  writeFileSync(path, text);
  chmodSync(path, 0o644);
  return path;
}

before(async () => {
  assert.equal(process.getuid?.(), 0, 'these tests need root (plugin files must be root-owned, and one plugin runs as nobody)');
  base = mkdtempSync('/tmp/vigil-plugin-checker-');
  chmodSync(base, 0o755);
  writeRootFile(join(base, 'banner.ts'), CHECKER('banner', 'tcp-banner'));
  writeRootFile(join(base, 'rival.ts'), CHECKER('rival', 'tcp-banner'));
  writeRootFile(join(base, 'as-nobody.ts'), CHECKER('as-nobody', 'tcp-banner-nobody'));
  server = createServer((s) => {
    s.on('error', () => undefined);
    s.end(`${banner}\n`);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const a = server.address();
  port = typeof a === 'object' && a ? a.port : 0;
});

after(async () => {
  await new Promise((r) => server.close(r));
  rmSync(base, { recursive: true, force: true });
});

const spec = (id: string, extra: Partial<PluginSpec> = {}): PluginSpec => ({ id, entry: join(base, `${id}.ts`), config: undefined, origin: 'user', checkFiles: true, ...extra });

const check = (checker: string, params: Record<string, unknown> = {}, timeoutMs = 5000, to = port): PluginCheck => ({
  kind: 'plugin',
  name: `PLUGIN_CHECK ${checker} 127.0.0.1:${to}`,
  checker,
  params,
  host: '127.0.0.1',
  port: to,
  timeoutMs,
  retry: 1,
  delayBeforeRetryMs: 1000,
  delayLoopMs: 5000,
  warmupMs: 0,
  alpha: false,
});

const where = { virtualServer: '[192.0.2.100]:tcp:80', realServer: `[127.0.0.1]:tcp:8080` };

/** A port nothing listens on (bound, then closed). */
async function closedPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const a = s.address();
  await new Promise((r) => s.close(r));
  return typeof a === 'object' && a ? a.port : 0;
}

async function started(r: Rig, specs: PluginSpec[]): Promise<void> {
  r.host.apply(specs, [], {});
  await r.host.ready(20_000);
  for (const s of specs) assert.equal(r.host.status().find((x) => x.id === s.id)?.state, 'running', `${s.id} runs: ${r.lines.join(' / ')}`);
}

const failed = (res: ProbeResult): string => (res.ok ? 'ok' : res.error);

describe('plugin checkers', () => {
  test('up, weight passed through, down with the reason the checker gave', async () => {
    const r = rig();
    try {
      await started(r, [spec('banner')]);
      assert.deepEqual(r.host.registeredCheckers(), ['tcp-banner']);

      banner = 'READY';
      const up = await r.host.runChecker(check('tcp-banner'), where);
      assert.equal(up.ok, true, failed(up));
      assert.ok(up.ok && up.weight === undefined, 'no weight asked: the configured one');
      assert.ok(up.ms >= 0 && up.ms < 5000);

      const weighted = await r.host.runChecker(check('tcp-banner', { weight: 7 }), where);
      assert.deepEqual(weighted.ok && weighted.weight, 7);

      banner = 'BUSY';
      const down = await r.host.runChecker(check('tcp-banner'), where);
      assert.equal(failed(down), `banner BUSY from ${where.realServer}`);

      const refused = await r.host.runChecker(check('tcp-banner', {}, 5000, await closedPort()), where);
      assert.equal(failed(refused), 'ECONNREFUSED');
      banner = 'READY';
    } finally {
      await r.host.stop();
    }
  });

  test("the host keeps the attempt's time: a checker that never answers fails at timeoutMs, is told to abort, and the next attempt works", async () => {
    const r = rig();
    const marks = join(base, 'aborts.txt');
    try {
      await started(r, [spec('banner')]);
      const t0 = performance.now();
      const hung = await r.host.runChecker(check('tcp-banner', { mode: 'hang', marks }, 400), where);
      const took = performance.now() - t0;
      assert.equal(failed(hung), 'no answer within 400 ms');
      assert.ok(took >= 350 && took < 5000, `ended at the timeout (${Math.round(took)} ms)`);
      await until('the plugin saw its signal aborted', () => existsSync(marks) && readFileSync(marks, 'utf8').includes('aborted 400'));

      // an answer after the timeout is dropped; the attempts around it get their own answers
      const late = await r.host.runChecker(check('tcp-banner', { mode: 'late' }, 300), where);
      assert.equal(failed(late), 'no answer within 300 ms');
      const next = await r.host.runChecker(check('tcp-banner'), where);
      assert.equal(next.ok, true, failed(next));
      await new Promise((res) => setTimeout(res, 1200)); // the late answer arrives meanwhile
      const after = await r.host.runChecker(check('tcp-banner', {}, 5000, await closedPort()), where);
      assert.equal(failed(after), 'ECONNREFUSED');
      assert.equal(r.host.status()[0]?.restarts, 0, 'a slow checker is no plugin failure');
    } finally {
      await r.host.stop();
    }
  });

  test("the caller's abort ends the attempt at once", async () => {
    const r = rig();
    try {
      await started(r, [spec('banner')]);
      const ac = new AbortController();
      const pending = r.host.runChecker(check('tcp-banner', { mode: 'hang' }, 30_000), where, ac.signal);
      setTimeout(() => ac.abort(), 100);
      const t0 = performance.now();
      assert.equal(failed(await pending), 'aborted');
      assert.ok(performance.now() - t0 < 5000);
      assert.equal(failed(await r.host.runChecker(check('tcp-banner'), where, ac.signal)), 'aborted', 'an aborted signal: no attempt');
    } finally {
      await r.host.stop();
    }
  });

  test('a checker that throws, rejects or answers nonsense fails that attempt only', async () => {
    const r = rig();
    try {
      await started(r, [spec('banner')]);
      assert.equal(failed(await r.host.runChecker(check('tcp-banner', { mode: 'throw' }), where)), 'checker exploded');
      assert.equal(failed(await r.host.runChecker(check('tcp-banner', { mode: 'reject' }), where)), 'checker rejected');
      assert.match(failed(await r.host.runChecker(check('tcp-banner', { mode: 'nonsense' }), where)), /^checker tcp-banner answered up = string, not a boolean$/);
      // params the checker's own schema refuses: its zod error is the reason
      assert.match(failed(await r.host.runChecker(check('tcp-banner', { mode: 'dance' }), where)), /^invalid params: mode: [^\n]+$/);
      const ok = await r.host.runChecker(check('tcp-banner'), where);
      assert.equal(ok.ok, true, failed(ok));
      const s = r.host.status()[0];
      assert.equal(s?.state, 'running');
      assert.equal(s?.restarts, 0);
      assert.ok(!r.events.some((e) => e.type === 'plugin.failed'));
    } finally {
      await r.host.stop();
    }
  });

  test('an unknown checker name fails every attempt and is logged once', async () => {
    const r = rig();
    try {
      // while a plugin is still in its first setup, an unknown name fails but is not logged yet
      r.host.apply([spec('banner')], [], {});
      assert.equal(failed(await r.host.runChecker(check('no-such'), where)), 'no plugin registers checker no-such');
      assert.ok(!r.lines.some((l) => l.includes('no-such')));
      await started(r, [spec('banner')]);
      for (let i = 0; i < 3; i++) assert.equal(failed(await r.host.runChecker(check('no-such'), where)), 'no plugin registers checker no-such');
      const logged = r.lines.filter((l) => l.includes('no plugin registers checker no-such'));
      assert.equal(logged.length, 1, logged.join('\n'));
      assert.match(logged[0] ?? '', /^error: .*real server \[127\.0\.0\.1\]:tcp:8080 of \[192\.0\.2\.100\]:tcp:80/);
    } finally {
      await r.host.stop();
    }
  });

  test('a plugin that crashes fails its attempts (the one in flight at once) until it is back and has registered again', async () => {
    const r = rig({ initialBackoffMs: 1500 });
    try {
      await started(r, [spec('banner')]);
      const t0 = performance.now();
      const inFlight = await r.host.runChecker(check('tcp-banner', { mode: 'crash' }, 20_000), where);
      assert.equal(failed(inFlight), 'plugin banner not running');
      assert.ok(performance.now() - t0 < 5000, 'not left waiting for its timeout');
      // restarting (back-off): the name is still the plugin's, the attempt fails fast
      assert.equal(failed(await r.host.runChecker(check('tcp-banner'), where)), 'plugin banner not running');
      assert.deepEqual(r.host.registeredCheckers(), ['tcp-banner']);
      await until('restarted', () => r.events.some((e) => e.type === 'plugin.restarted'), 15_000);
      const back = await r.host.runChecker(check('tcp-banner', { weight: 3 }), where);
      assert.deepEqual(back, { ...back, ok: true, weight: 3 });

      // a reload (the file edited) is a new lifetime too: it registers again
      assert.ok(r.host.reloadFile('banner'));
      await until('running again', () => r.host.status()[0]?.state === 'running', 15_000);
      const reloaded = await r.host.runChecker(check('tcp-banner'), where);
      assert.equal(reloaded.ok, true, failed(reloaded));
    } finally {
      await r.host.stop();
    }
  });

  test('a name is one plugin\'s: a second registration is logged as an error; removing the first hands it over', async () => {
    const r = rig();
    try {
      await started(r, [spec('banner')]);
      await started(r, [spec('banner'), spec('rival')]);
      await until('the refusal logged', () => r.lines.some((l) => l.includes('plugin rival: checker tcp-banner is registered by plugin banner already')));
      assert.deepEqual(r.host.registeredCheckers(), ['tcp-banner']);
      // the first one keeps answering: make it fail to see whose answer comes back
      assert.equal(failed(await r.host.runChecker(check('tcp-banner', { mode: 'crash' }, 10_000), where)), 'plugin banner not running');
      r.host.apply([spec('rival')], [], {});
      assert.deepEqual(r.host.registeredCheckers(), ['tcp-banner']);
      const ok = await r.host.runChecker(check('tcp-banner', { weight: 9 }), where);
      assert.deepEqual(ok.ok && ok.weight, 9);
      assert.ok(r.lines.some((l) => l.includes('plugin rival: checker tcp-banner is its own now')));
      // and with no plugin left that registers it, the name is unknown
      r.host.apply([], [], {});
      assert.deepEqual(r.host.registeredCheckers(), []);
      assert.equal(failed(await r.host.runChecker(check('tcp-banner'), where)), 'no plugin registers checker tcp-banner');
    } finally {
      await r.host.stop();
    }
  });

  test('a plugin in a process of its own, as nobody (plugin_user), checks the same way', async () => {
    const r = rig();
    try {
      await started(r, [spec('as-nobody', { runAs: { user: 'nobody' } })]);
      assert.equal(r.host.status()[0]?.user, 'nobody');
      banner = 'READY';
      const up = await r.host.runChecker(check('tcp-banner-nobody', { weight: 5 }), where);
      assert.deepEqual(up.ok && up.weight, 5);
      banner = 'DRAINING';
      assert.equal(failed(await r.host.runChecker(check('tcp-banner-nobody'), where)), `banner DRAINING from ${where.realServer}`);
      banner = 'READY';
      assert.equal(failed(await r.host.runChecker(check('tcp-banner-nobody', { mode: 'hang' }, 300), where)), 'no answer within 300 ms');
      assert.equal(failed(await r.host.runChecker(check('tcp-banner-nobody', { mode: 'throw' }), where)), 'checker exploded');
      const again = await r.host.runChecker(check('tcp-banner-nobody'), where);
      assert.equal(again.ok, true, failed(again));
    } finally {
      banner = 'READY';
      await r.host.stop();
    }
  });
});
