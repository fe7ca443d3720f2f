// The balancer's logic: keepalived's checker timeline, the pool with quorum, hysteresis and the
// sorry server, inheritance of checker settings and keepalived's names, and the balancer running
// real TCP_CHECKs against real listeners on loopback, handing each new state to a data plane
// that records it (the nftables data plane itself is tested in the namespace lab).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:net';
import { EventBus } from '../../src/bus/bus.ts';
import type { VigilEvent } from '../../src/bus/events.ts';
import { configSchema, type ConfigInput } from '../../src/config/schema.ts';
import { Balancer } from '../../src/lvs/balancer.ts';
import { CheckerState } from '../../src/lvs/checker-state.ts';
import type { DataPlane, DesiredState } from '../../src/lvs/model.ts';
import type { Check } from '../../src/lvs/checks.ts';
import { expandAddresses, resolveVirtualServers } from '../../src/lvs/resolve.ts';
import { VirtualServerState } from '../../src/lvs/virtual-server.ts';
import { quietLog } from '../lib/host-rig.ts';

const timing = { retry: 2, delayBeforeRetryMs: 10, delayLoopMs: 100, alpha: false };

describe('checker timeline (keepalived check_api.c)', () => {
  test('without alpha: starts up; the very first failure takes it down at once', () => {
    const c = new CheckerState(timing);
    assert.equal(c.up, true);
    assert.deepEqual(c.result(false), { changed: true, up: false, nextInMs: 100 });
    assert.deepEqual(c.result(true), { changed: true, up: true, nextInMs: 100 }, 'one pass brings it back');
  });

  test('once running, retry + 1 consecutive failures take it down, spaced by delay_before_retry; a pass resets', () => {
    const c = new CheckerState(timing);
    c.result(true);
    assert.deepEqual(c.result(false), { changed: false, up: true, nextInMs: 10 });
    assert.deepEqual(c.result(false), { changed: false, up: true, nextInMs: 10 });
    assert.deepEqual(c.result(true), { changed: false, up: true, nextInMs: 100 });
    c.result(false);
    c.result(false);
    assert.deepEqual(c.result(false), { changed: true, up: false, nextInMs: 100 });
    assert.equal(CheckerState.removalBudgetMs({ ...timing, timeoutMs: 50 }), 100 + 3 * 50 + 2 * 10);
  });

  test('with alpha: starts down, one pass brings it up', () => {
    const c = new CheckerState({ ...timing, alpha: true });
    assert.equal(c.up, false);
    assert.deepEqual(c.result(false), { changed: false, up: false, nextInMs: 10 });
    assert.deepEqual(c.result(true), { changed: true, up: true, nextInMs: 100 });
  });
});

function cfg(input: ConfigInput) {
  return configSchema.parse(input);
}

const vsWith = (extra: Record<string, unknown>, rs: Array<Record<string, unknown>>) =>
  cfg({ virtual_server: [{ ip: '192.0.2.100', port: 80, protocol: 'TCP', lb_algo: 'wrr', ...extra, real_server: rs as never }] } as ConfigInput);

describe('resolving the config', () => {
  test("checker settings inherit checker -> real server -> virtual server -> TCP_CHECK's defaults; keepalived's names", () => {
    const [vs] = resolveVirtualServers(
      vsWith({ delay_loop: 6, connect_timeout: 3, retry: 4 }, [
        { ip: '198.51.100.10', port: 8080, weight: 3, delay_before_retry: 2, tcp_check: [{}, { connect_port: 9000, retry: 0 }] },
        { ip: '198.51.100.11', tcp_check: [{ connect_timeout: 1 }] },
      ]),
    );
    assert.equal(vs?.name, '[192.0.2.100]:tcp:80');
    const [a, b] = vs?.realServers ?? [];
    assert.equal(a?.name, '[198.51.100.10]:tcp:8080');
    const tcp = (cs: Check[] | undefined) => (cs ?? []).map((c) => (c.kind === 'tcp' ? c : assert.fail(`${c.kind} is not a TCP check`)));
    assert.deepEqual(tcp(a?.checks).map((c) => [c.name, c.port, c.timeoutMs, c.retry, c.delayBeforeRetryMs, c.delayLoopMs, c.warmupMs]), [
      ['TCP_CHECK 198.51.100.10:8080', 8080, 3000, 4, 2000, 6000, 6000],
      ['TCP_CHECK 198.51.100.10:9000', 9000, 3000, 0, 2000, 6000, 6000],
    ]);
    // a NAT real server with no port takes the virtual server's
    assert.equal(b?.id, '198.51.100.11:80');
    assert.equal(b?.weight, 1);
    assert.deepEqual(tcp(b?.checks).map((c) => [c.port, c.timeoutMs, c.retry, c.delayBeforeRetryMs]), [[80, 1000, 4, 1000]]);
  });

  test('schedulers nftables cannot run fall back to wrr; fo keeps one server; zero port means persistence 360', () => {
    const algo = (a?: string) => resolveVirtualServers(vsWith(a ? { lb_algo: a } : { lb_algo: undefined }, [{ ip: '198.51.100.10' }]))[0];
    assert.equal(algo('wlc')?.algorithm, 'wrr');
    assert.equal(algo()?.algorithm, 'wrr');
    assert.equal(algo('sh')?.algorithm, 'sh');
    assert.equal(algo('fo')?.failover, true);
    const portless = resolveVirtualServers(vsWith({ port: 0 }, [{ ip: '198.51.100.10' }]))[0];
    assert.deepEqual(portless?.persistence, { timeoutS: 360 });
    assert.deepEqual(portless?.services[0]?.match, { kind: 'address', addresses: ['192.0.2.100'], protocol: 'tcp' });
  });

  test('virtual_server_group entries: ranges, blocks, ports, fwmarks', () => {
    assert.deepEqual(expandAddresses('192.0.2.1-3'), ['192.0.2.1', '192.0.2.2', '192.0.2.3']);
    assert.deepEqual(expandAddresses('192.0.2.254-192.0.3.1'), ['192.0.2.254', '192.0.2.255', '192.0.3.0', '192.0.3.1']);
    assert.deepEqual(expandAddresses('192.0.2.8/30'), ['192.0.2.8', '192.0.2.9', '192.0.2.10', '192.0.2.11']);
    assert.deepEqual(expandAddresses('2001:db8::a-c'), ['2001:db8::a', '2001:db8::b', '2001:db8::c']);
    assert.throws(() => expandAddresses('192.0.2.9-3'), /below the start/);
    assert.throws(() => expandAddresses('10.0.0.0/8'), /more than 4096/);
    const c = cfg({
      virtual_server_group: { WEB: [{ address: '192.0.2.1-2', port: 80 }, { address: '192.0.2.9', port: 443 }, { fwmark: 7 }] },
      virtual_server: [{ group: 'WEB', protocol: 'TCP', real_server: [{ ip: '198.51.100.10' }] }],
    } as ConfigInput);
    const [vs] = resolveVirtualServers(c);
    assert.equal(vs?.name, '[WEB]:0');
    assert.deepEqual(vs?.services.map((s) => s.match), [
      { kind: 'fwmark', mark: 7 },
      { kind: 'address', addresses: ['192.0.2.1', '192.0.2.2'], port: 80, protocol: 'tcp' },
      { kind: 'address', addresses: ['192.0.2.9'], port: 443, protocol: 'tcp' },
    ]);
  });
});

describe('the pool (keepalived ipwrapper.c)', () => {
  const three = (extra: Record<string, unknown> = {}) =>
    resolveVirtualServers(
      vsWith({ quorum: 4, hysteresis: 1, ...extra }, [
        { ip: '198.51.100.10', weight: 3, tcp_check: [{}] },
        { ip: '198.51.100.11', weight: 2, tcp_check: [{}] },
        { ip: '198.51.100.12', weight: 1, tcp_check: [{}] },
      ]),
    )[0] as NonNullable<ReturnType<typeof resolveVirtualServers>[0]>;

  test('quorum with hysteresis: gained at quorum + hysteresis, lost below quorum - hysteresis', () => {
    const s = new VirtualServerState(three());
    assert.deepEqual(s.start().map((e) => e.type === 'virtualserver.quorum' && [e.up, e.weight]), [[true, 6]]);
    assert.deepEqual(s.checkChanged(0, 0, false, 'x').map((e) => e.type), ['realserver.down']); // 3 >= 4-1: kept
    const lost = s.checkChanged(1, 0, false, 'y'); // 1 < 3
    assert.deepEqual(lost.map((e) => (e.type === 'virtualserver.quorum' ? `quorum ${e.up} ${e.weight}` : e.type)), ['realserver.down', 'quorum false 1']);
    assert.deepEqual(s.checkChanged(1, 0, true, 'z').map((e) => e.type), ['realserver.up']); // 3 < 4+1: still lost
    const gained = s.checkChanged(0, 0, true, 'w');
    assert.deepEqual(gained.map((e) => (e.type === 'virtualserver.quorum' ? `quorum ${e.up} ${e.weight}` : e.type)), ['realserver.up', 'quorum true 6']);
  });

  test('the sorry server takes over when the quorum is lost, and gives back', () => {
    const s = new VirtualServerState(three({ sorry_server: { ip: '198.51.100.99', port: 8080 } }));
    s.start();
    assert.deepEqual(s.backends().map((b) => [b.address, b.weight]), [['198.51.100.10', 3], ['198.51.100.11', 2], ['198.51.100.12', 1]]);
    s.checkChanged(0, 0, false, 'a');
    s.checkChanged(1, 0, false, 'b');
    assert.deepEqual(s.backends(), [{ id: '198.51.100.99:8080', address: '198.51.100.99', port: 8080, weight: 1 }]);
    s.checkChanged(0, 0, true, 'c');
    s.checkChanged(1, 0, true, 'd');
    assert.equal(s.backends().length, 3);
  });

  test('dynamic weights: a checker\'s share moves the pool weight and the quorum; a down server keeps its share for its return', () => {
    const s = new VirtualServerState(three());
    s.start();
    const w = s.setShare(2, 0, 6, 'MISC_CHECK /x: exit status 9');
    assert.deepEqual(w.map((e) => (e.type === 'realserver.weight' ? [e.realServer, e.previous, e.weight, e.reason] : e.type)), [['[198.51.100.12]:tcp:80', 1, 7, 'MISC_CHECK /x: exit status 9']]);
    assert.deepEqual(s.backends().map((b) => b.weight), [3, 2, 7]);
    assert.equal(s.weight(), 12);
    assert.deepEqual(s.setShare(2, 0, 6, 'same'), [], 'no change, no event');
    // a share that takes the weight to 0 leaves the server out of the pool (clamped, never negative)
    s.setShare(0, 0, -10, 'file');
    assert.deepEqual(s.backends().map((b) => b.address), ['198.51.100.11', '198.51.100.12']);
    // the second at 0 too: 7 left, still >= 4 - 1
    assert.deepEqual(s.setShare(1, 0, -2, 'file').map((e) => e.type), ['realserver.weight']);
    const lost = s.checkChanged(2, 0, false, 'down');
    assert.deepEqual(lost.map((e) => (e.type === 'virtualserver.quorum' ? `quorum ${e.up} ${e.weight}` : e.type)), ['realserver.down', 'quorum false 0']);
    assert.deepEqual(s.setShare(2, 0, 0, 'back to configured'), [], 'a down server changes silently');
    const up = s.checkChanged(2, 0, true, 'up');
    assert.deepEqual(up.map((e) => (e.type === 'realserver.up' ? `up ${e.weight}` : e.type)), ['up 1'], 'back at its configured weight; 1 < 4 + 1: no quorum yet');
  });

  test('dynamic weights alone move the quorum (with its hysteresis) and the sorry server; the sum is clamped per server to 0..2^31-1', () => {
    const s = new VirtualServerState(three({ sorry_server: { ip: '198.51.100.99', port: 8080 } }));
    s.start(); // 6 >= 4 + 1
    const q = (es: ReturnType<typeof s.setShare>) => es.map((e) => (e.type === 'virtualserver.quorum' ? `quorum ${e.up} ${e.weight} sorry ${e.sorryServer}` : e.type === 'realserver.weight' ? `${e.previous}->${e.weight}` : e.type));
    assert.deepEqual(q(s.setShare(0, 0, -2, 'a')), ['3->1'], '4 >= 4 - 1: kept');
    assert.deepEqual(q(s.setShare(1, 0, -1, 'b')), ['2->1'], '3 is not below 4 - 1: kept');
    assert.deepEqual(q(s.setShare(1, 0, -2, 'b')), ['1->0', 'quorum false 2 sorry true']);
    assert.deepEqual(s.backends().map((b) => b.address), ['198.51.100.99'], 'the sorry server serves');
    assert.deepEqual(q(s.setShare(2, 0, 1, 'c')), ['1->2'], '3 < 4 + 1: not yet regained');
    assert.deepEqual(q(s.setShare(0, 0, 0, 'd')), ['1->3', 'quorum true 5 sorry false']);
    assert.deepEqual(s.backends().map((b) => [b.address, b.weight]), [['198.51.100.10', 3], ['198.51.100.12', 2]], 'weight 0 is out of the pool');
    // a server's weight is held in 0..INT32_MAX whatever its shares ask
    const big = new VirtualServerState(three());
    big.start();
    assert.deepEqual(q(big.setShare(0, 0, 2 ** 31 - 1, 'e')), ['3->2147483647']);
    assert.deepEqual(big.status()[0]?.weight, 2 ** 31 - 1);
    assert.deepEqual(q(big.setShare(1, 0, -5, 'f')), ['2->0'], 'never below 0');
  });

  test('fo: only the highest-weight live server is in the pool; alpha starts every server out', () => {
    const fo = new VirtualServerState(three({ lb_algo: 'fo' }));
    fo.start();
    assert.deepEqual(fo.backends().map((b) => b.address), ['198.51.100.10']);
    fo.checkChanged(0, 0, false, 'x');
    assert.deepEqual(fo.backends().map((b) => b.address), ['198.51.100.11']);
    const alpha = new VirtualServerState(three({ alpha: true }));
    assert.deepEqual(alpha.start(), []);
    assert.deepEqual(alpha.backends(), []);
  });
});

class RecordingDataPlane implements DataPlane {
  states: DesiredState[] = [];
  removed = 0;
  apply(state: DesiredState): Promise<void> {
    this.states.push(structuredClone(state));
    return Promise.resolve();
  }
  remove(): Promise<void> {
    this.removed++;
    return Promise.resolve();
  }
  counters() {
    return Promise.resolve({ services: {}, backends: {} });
  }
}

function listen(): Promise<Server> {
  return new Promise((resolve) => {
    const s = createServer((c) => c.end());
    s.listen(0, '127.0.0.1', () => resolve(s));
  });
}
const portOf = (s: Server) => (s.address() as { port: number }).port;

async function until(what: string, fn: () => boolean, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!fn()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('the balancer with real TCP_CHECKs on loopback', () => {
  test('a real server whose service stops leaves the pool within its retry budget and rejoins when it is back', async () => {
    const a = await listen();
    const b = await listen();
    const bus = new EventBus();
    const events: VigilEvent[] = [];
    bus.subscribe((e) => events.push(e));
    const dp = new RecordingDataPlane();
    const lines: string[] = [];
    const balancer = new Balancer({ bus, log: quietLog(lines), dataPlane: dp, random: () => 0 });
    const check = { connect_timeout: 0.2, retry: 1, delay_before_retry: 0.05, delay_loop: 0.1, warmup: 0 };
    const config = cfg({
      virtual_server: [
        {
          ip: '192.0.2.100',
          port: 80,
          protocol: 'TCP',
          lb_algo: 'rr',
          real_server: [
            { ip: '127.0.0.1', port: portOf(a), tcp_check: [check] },
            { ip: '127.0.0.1', port: portOf(b), weight: 2, tcp_check: [check] },
          ],
        },
      ],
    } as ConfigInput);
    try {
      const r = await balancer.apply(config);
      assert.deepEqual(r.started, ['[192.0.2.100]:tcp:80']);
      const backends = () => dp.states.at(-1)?.services[0]?.backends.map((x) => x.port) ?? [];
      assert.deepEqual(backends(), [portOf(a), portOf(b)], 'both in the pool from the start (no alpha)');
      assert.deepEqual(dp.states[0]?.services[0]?.match, { kind: 'address', addresses: ['192.0.2.100'], port: 80, protocol: 'tcp' });

      const stoppedAt = Date.now();
      const bPort = portOf(b);
      await new Promise<void>((res) => b.close(() => res()));
      await until('b removed', () => !backends().includes(bPort));
      const took = Date.now() - stoppedAt;
      // first check 1 s after start, then delay_loop 100 + 2 attempts x (refused at once) + 50
      assert.ok(took < 1000 + CheckerState.removalBudgetMs({ retry: 1, delayBeforeRetryMs: 50, delayLoopMs: 100, alpha: false, timeoutMs: 200 }) + 500, `removed after ${took} ms`);
      const down = events.find((e) => e.type === 'realserver.down');
      assert.ok(down?.type === 'realserver.down');
      assert.equal(down.realServer, `[127.0.0.1]:tcp:${bPort}`);
      assert.match(down.reason, new RegExp(`TCP_CHECK 127\\.0\\.0\\.1:${bPort}: connection refused`));
      assert.ok(lines.some((l) => l.includes(`removing real server [127.0.0.1]:tcp:${bPort}`)));

      // it comes back on the same port
      const back = createServer((c) => c.end());
      await new Promise<void>((res) => back.listen(bPort, '127.0.0.1', () => res()));
      try {
        await until('b back', () => backends().includes(bPort));
        assert.ok(events.some((e) => e.type === 'realserver.up' && e.realServer.endsWith(`:${bPort}`)));
        // a reload with the same config keeps it running: no new events, same pool
        const n = events.length;
        const again = await balancer.apply(config);
        assert.deepEqual(again.kept, ['[192.0.2.100]:tcp:80']);
        assert.equal(events.length, n);
        assert.deepEqual(backends(), [portOf(a), bPort]);
      } finally {
        back.close();
      }
      await balancer.stop();
      assert.equal(dp.removed, 1);
    } finally {
      await balancer.stop();
      a.close();
    }
  });

  test('ha_suspend: while the virtual address is on no local interface the checks are frozen; once it is, they run', async () => {
    const bus = new EventBus();
    const events: VigilEvent[] = [];
    bus.subscribe((e) => events.push(e));
    const dp = new RecordingDataPlane();
    let local = new Set<string>();
    let probes = 0;
    const balancer = new Balancer({
      bus,
      log: quietLog([]),
      dataPlane: dp,
      random: () => 0,
      localAddresses: () => {
        probes++;
        return local;
      },
    });
    // nothing listens on port 9 of loopback: every check that runs fails
    const config = cfg({
      virtual_server: [
        {
          ip: '192.0.2.100',
          port: 80,
          protocol: 'TCP',
          ha_suspend: true,
          real_server: [{ ip: '127.0.0.1', port: 9, tcp_check: [{ connect_timeout: 0.2, retry: 0, delay_loop: 0.1, warmup: 0 }] }],
        },
      ],
    } as ConfigInput);
    try {
      await balancer.apply(config);
      await until('a few suspended rounds', () => probes >= 4, 5000);
      assert.equal(events.filter((e) => e.type === 'realserver.down').length, 0, 'no check ran while the address was elsewhere');
      assert.equal(balancer.status()[0]?.realServers[0]?.alive, true, 'its state is frozen');
      local = new Set(['192.0.2.100']); // this node became Master: the address is here now
      await until('the check ran and failed', () => events.some((e) => e.type === 'realserver.down'), 5000);
    } finally {
      await balancer.stop();
    }
  });
});
