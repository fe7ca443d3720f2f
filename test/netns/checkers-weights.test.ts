// Issue 12 end to end, the checkers that decide from outside the wire: MISC_CHECK with
// misc_dynamic, FILE_CHECK and a checker written as a TypeScript plugin, in the LVS lab
// (test/lib/lvs-lab.ts), one vigil from keepalived.conf (the plugin directory in its
// FILE.vigil.yaml overlay). Through the data plane, counting which real server answers:
// - misc_dynamic: a script exiting 2 + W (W written by the test) sets each real server's weight,
//   and the client's connections follow 3:1, then 1:3, then all to one (weight 0); exit 1 takes
//   a server out (with MISC_CHECK's reason) within its budget, exit 0 brings it back at its
//   configured weight;
// - FILE_CHECK (track_file, weight 0): a non-zero value takes the server out, 0 brings it back;
// - a plugin checker (`PLUGIN_CHECK { checker flagfile; connect_port N; param flag FILE }`, one
//   root-owned file in plugins_dir) moves its server out with its own reason and back in;
// - the bus (`vigil events --json`) carries each down with that reason.
// Needs root: fails otherwise.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startVigil, type DaemonHandle } from '../lib/daemon.ts';
import { balancerConf, VIP, withLvsLab, type LvsLab } from '../lib/lvs-lab.ts';
import { client, escape, followEvents, logAfter, MARGIN_MS, type SeenEvent } from './fixtures/checker-lab.ts';

/** MISC_CHECK's timing here: a run every second, 2 s to finish, no retry (keepalived's default). */
const MISC = { delayLoop: 1, timeout: 2, retry: 0 };
const MISC_BUDGET_MS = 1000 * (MISC.delayLoop + (MISC.retry + 1) * MISC.timeout);

/** Exits with the number in the file it is given: 0 up, 1 down, 2 + W up at weight W. */
const WEIGHT_SCRIPT = `#!/bin/sh
exit "$(cat "$1")"
`;

/** The checker plugin: down while its `flag` file exists (saying so), else up when the real
 * server accepts a TCP connection within the time it is given. */
const PLUGIN = `
import { definePlugin } from 'vigil/plugin';
import { z } from 'zod';
import { existsSync } from 'node:fs';
import { connect } from 'node:net';

export default definePlugin({
  name: 'flag-check',
  configSchema: z.object({}).default({}),
  setup(ctx) {
    ctx.registerChecker('flagfile', async (target, { signal, timeoutMs }) => {
      const flag = String(target.params.flag);
      if (existsSync(flag)) return { up: false, reason: 'flag file present' };
      return await new Promise((resolve) => {
        const s = connect({ host: target.host, port: target.port, signal, timeout: timeoutMs });
        s.once('connect', () => { s.destroy(); resolve({ up: true }); });
        s.once('timeout', () => { s.destroy(); resolve({ up: false, reason: 'no connection' }); });
        s.once('error', (e) => resolve({ up: false, reason: e.message }));
      });
    });
  },
});
`;

function config(l: LvsLab, dir: string): string {
  const misc = (i: number) => `    real_server ${l.rsAddress(i)} 8080 {
        weight 1
        MISC_CHECK {
            misc_path "${join(dir, 'weight.sh')} ${join(dir, `w-rs${i + 1}`)}"
            misc_dynamic
            misc_timeout ${MISC.timeout}
            delay_loop ${MISC.delayLoop}
            warmup 0
        }
    }
`;
  const vs = (port: number, body: string) => `virtual_server ${VIP} ${port} {
    delay_loop 1
    lb_algo wrr
    lb_kind NAT
    protocol TCP
${body}}
`;
  return `track_file tf {
    file "${join(dir, 'tf')}"
    weight 0
}
${vs(80, misc(0) + misc(1))}${vs(
    8090,
    `    real_server ${l.rsAddress(2)} 8080 {
        FILE_CHECK {
            track_file tf
        }
    }
`,
  )}${vs(
    8091,
    `    real_server ${l.rsAddress(2)} 8081 {
        PLUGIN_CHECK {
            checker flagfile
            connect_port 8081
            param flag ${join(dir, 'plugin-down')}
            connect_timeout 1
            retry 1
            delay_before_retry 0.5
            delay_loop 1
            warmup 0
        }
    }
`,
  )}`;
}

/** The share of `name` among `n` connections through VIP:80 once it settles near `share`
 * (weights move at the next script run), then measured on a fresh run. */
async function settle(l: LvsLab, want: Record<string, number>, n = 400): Promise<Record<string, number>> {
  const near = (counts: Record<string, number>, total: number, tol: number) => Object.entries(want).every(([k, v]) => Math.abs((counts[k] ?? 0) / total - v) <= tol);
  const deadline = Date.now() + 15_000;
  for (;;) {
    const r = await client(l, 'http', VIP, 80, 100, 2000);
    if (r.failed === 0 && near(r.counts, 100, 0.15)) break;
    if (Date.now() > deadline) throw new Error(`the shares never reached ${JSON.stringify(want)}: last ${JSON.stringify(r)}`);
    await new Promise((res) => setTimeout(res, 500));
  }
  const r = await client(l, 'http', VIP, 80, n, 2000);
  assert.equal(r.failed, 0, JSON.stringify(r.errors));
  assert.ok(near(r.counts, n, 0.08), `${n} connections: ${JSON.stringify(r.counts)}, expected shares ${JSON.stringify(want)} within 8 points`);
  return r.counts;
}

/** Waits for the removal of `rs` from `vs` in the log after `from`; its reason. */
async function removed(d: DaemonHandle, from: number, vs: string, rs: string, ms: number): Promise<string> {
  const m = await logAfter(d, from, new RegExp(`${escape(vs)}: removing real server ${escape(rs)} \\((.*)\\)`), ms);
  return m[1] ?? '';
}

function downEvent(events: SeenEvent[], vs: string, rs: string): SeenEvent | undefined {
  return events.filter((e) => e.type === 'realserver.down' && e.virtualServer === vs && e.realServer === rs).at(-1);
}

/** The reason of the realserver.down for `rs` of `vs` among the bus events from index `from`
 * on, waiting up to `ms` for one: the bus (a `vigil events` child) may carry it a little after
 * the log line the test waited for. undefined if none came. */
async function downReason(events: () => SeenEvent[], from: number, vs: string, rs: string, ms = 5000): Promise<string | undefined> {
  const deadline = Date.now() + ms;
  for (;;) {
    const e = downEvent(events().slice(from), vs, rs);
    if (e || Date.now() > deadline) return e?.reason;
    await new Promise((r) => setTimeout(r, 100));
  }
}

test('misc_dynamic moves the traffic, MISC_CHECK / FILE_CHECK / a plugin checker move real servers out and in', { timeout: 240_000, concurrency: true }, async (t) => {
  assert.equal(process.getuid?.(), 0, 'this test needs root (network namespaces, nftables, root-owned plugin)');
  await withLvsLab({ balancers: 1, realServers: 3 }, async (l) => {
    const dir = l.dir;
    await Promise.all([l.startServer(0), l.startServer(1), l.startServer(2), l.startServer(2, 8081)]);
    writeFileSync(join(dir, 'weight.sh'), WEIGHT_SCRIPT);
    chmodSync(join(dir, 'weight.sh'), 0o755);
    writeFileSync(join(dir, 'w-rs1'), '0');
    writeFileSync(join(dir, 'w-rs2'), '0');
    writeFileSync(join(dir, 'tf'), '0');
    // the plugin: root's, writable by root only (the plugin-security rule)
    mkdirSync(join(dir, 'plugins'), { mode: 0o755 });
    writeFileSync(join(dir, 'plugins', 'flag-check.ts'), PLUGIN, { mode: 0o644 });
    const conf = join(dir, 'lb1.conf');
    writeFileSync(conf, balancerConf(1, config(l, dir), { globalDefs: '    enable_script_security\n    script_user root\n' }));
    writeFileSync(`${conf}.vigil.yaml`, `global_defs:\n  plugins_dir: ${join(dir, 'plugins')}\n`);

    const lb1 = startVigil(l.lab, l.lbs[0] as string, conf);
    await lb1.waitFor(/\(VI_BACK\) Entering MASTER STATE/);
    await lb1.waitFor(/LVS: data plane holds 3 service\(s\)/);
    await lb1.waitFor(/plugin flag-check: started/);
    const ev = await followEvents(l.lab, l.lbs[0] as string, conf);
    await new Promise((r) => setTimeout(r, 3000)); // every checker has run

    const vs80 = `[${VIP}]:tcp:80`;
    const rs1 = `[${l.rsAddress(0)}]:tcp:8080`;
    await Promise.all([
      t.test('misc_dynamic: the script exit codes set the weights the traffic follows', async () => {
        const w = (a: string, b: string) => {
          writeFileSync(join(dir, 'w-rs1'), a);
          writeFileSync(join(dir, 'w-rs2'), b);
        };
        // both at the configured weight 1
        console.log('1:1', await settle(l, { rs1: 0.5, rs2: 0.5 }));
        w('5', '3'); // weights 3 and 1
        console.log('3:1', await settle(l, { rs1: 0.75, rs2: 0.25 }));
        w('3', '5'); // 1 and 3
        console.log('1:3', await settle(l, { rs1: 0.25, rs2: 0.75 }));
        w('0', '2'); // rs1 back to its configured 1, rs2 at 0: no new connections
        console.log('1:0', await settle(l, { rs1: 1, rs2: 0 }));

        // exit 1: rs1 out within MISC_CHECK's budget, with its reason; rs2 (configured 1) serves
        const from = lb1.log().length;
        const seen = ev.events().length;
        const t0 = Date.now();
        w('1', '0');
        const reason = await removed(lb1, from, vs80, rs1, MISC_BUDGET_MS + MARGIN_MS);
        console.log(`MISC_CHECK exit 1: removed after ${Date.now() - t0} ms: ${reason}`);
        assert.match(reason, /^MISC_CHECK .*: .*exit(ed)?( status| code)? 1\b/, 'the reason names MISC_CHECK and the exit status');
        await settle(l, { rs2: 1 }, 100);
        assert.equal(await downReason(ev.events, seen, vs80, rs1), reason, 'realserver.down carries the reason');
        // exit 0: back, at its configured weight
        w('0', '0');
        await settle(l, { rs1: 0.5, rs2: 0.5 });
      }),
      t.test('FILE_CHECK: a non-zero value takes the real server out, 0 brings it back', async () => {
        const vs = `[${VIP}]:tcp:8090`;
        const rs = `[${l.rsAddress(2)}]:tcp:8080`;
        assert.deepEqual((await client(l, 'http', VIP, 8090, 3)).counts, { rs3: 3 });
        const from = lb1.log().length;
        const seen = ev.events().length;
        const t0 = Date.now();
        writeFileSync(join(dir, 'tf'), '1\n');
        const reason = await removed(lb1, from, vs, rs, 2000 + MARGIN_MS);
        console.log(`FILE_CHECK 1: removed after ${Date.now() - t0} ms: ${reason}`);
        assert.match(reason, /FILE_CHECK/);
        assert.equal(await downReason(ev.events, seen, vs, rs), reason, 'realserver.down carries the reason');
        const from2 = lb1.log().length;
        writeFileSync(join(dir, 'tf'), '0\n');
        await logAfter(lb1, from2, new RegExp(`${escape(vs)}: enabling real server ${escape(rs)} `), 2000 + MARGIN_MS);
        assert.deepEqual((await client(l, 'http', VIP, 8090, 3)).counts, { rs3: 3 });
      }),
      t.test('a TypeScript checker plugin moves its real server out and back in', async () => {
        const vs = `[${VIP}]:tcp:8091`;
        const rs = `[${l.rsAddress(2)}]:tcp:8081`;
        assert.deepEqual((await client(l, 'http', VIP, 8091, 3)).counts, { rs3: 3 }, 'in the pool while the plugin says up');
        const from = lb1.log().length;
        const seen = ev.events().length;
        const t0 = Date.now();
        writeFileSync(join(dir, 'plugin-down'), '');
        // the budget of its timing: 1 + 2 x 1 + 0.5
        const reason = await removed(lb1, from, vs, rs, 3500 + MARGIN_MS);
        console.log(`plugin checker: removed after ${Date.now() - t0} ms: ${reason}`);
        assert.match(reason, /flagfile.*: flag file present$/, "the plugin's own reason");
        assert.equal(await downReason(ev.events, seen, vs, rs), reason, 'realserver.down carries the reason');
        const from2 = lb1.log().length;
        rmSync(join(dir, 'plugin-down'));
        await logAfter(lb1, from2, new RegExp(`${escape(vs)}: enabling real server ${escape(rs)} `), 3500 + MARGIN_MS);
        assert.deepEqual((await client(l, 'http', VIP, 8091, 3)).counts, { rs3: 3 }, 'back in the pool');
      }),
    ]);
  });
});
