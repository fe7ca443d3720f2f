// Failover scenarios on the simulated LAN, each asserting exact virtual times.
//
// Reference figures (VRRPv3, 1 s adverts), from RFC 5798 6.1, truncated to microseconds:
//   priority 200: Skew_Time 218,750 us, Master_Down_Interval 3,218,750 us
//   priority 100: Skew_Time 609,375 us, Master_Down_Interval 3,609,375 us
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { SECOND, SimLan, type SimNode } from './lan.ts';
import { encodeAdvert } from '../../src/vrrp/packet.ts';
import { masterDownInterval } from '../../src/vrrp/timers.ts';

const MDI_200 = 3_218_750;
const MDI_100 = 3_609_375;
const SKEW_100 = 609_375;

function pair(opts: { aPreempt?: boolean; aPreemptDelay?: number } = {}) {
  const lan = new SimLan();
  const a = lan.addNode({
    name: 'A',
    address: '192.0.2.1',
    priority: 200,
    preempt: opts.aPreempt ?? true,
    preemptDelay: opts.aPreemptDelay ?? 0,
  });
  const b = lan.addNode({ name: 'B', address: '192.0.2.2', priority: 100 });
  lan.startAll();
  return { lan, a, b };
}

function only<T>(xs: T[]): T {
  assert.equal(xs.length, 1, `expected exactly one, got ${xs.length}`);
  return xs[0] as T;
}

describe('simulated LAN scenarios (VRRPv3, IPv4, 1 s adverts)', () => {
  test('first election: the higher priority wins at its Master_Down_Interval', () => {
    const { lan, a, b } = pair();
    lan.run(MDI_200 - 1);
    assert.equal(lan.masters().length, 0, 'nobody is Master before the interval runs out');
    assert.equal(a.state, 'backup');
    lan.run(60 * SECOND);
    const t = only(lan.transitionsOf('A', 'master'));
    assert.equal(t.at, MDI_200);
    assert.equal(t.reason, 'master-down-timer');
    assert.deepEqual(lan.transitionsOf('B', 'master'), [], 'B never becomes Master');
    assert.equal(b.state, 'backup');
    assert.ok(a.holdsAddresses && !b.holdsAddresses);
    assert.equal(a.announcements, 1);
    // one advert at takeover, then one a second: 3.21875 s .. 59.21875 s
    assert.equal(a.instance.counters.advertsSent, 57);
    assert.equal(b.instance.counters.advertsReceived, 57);
  });

  test('master killed: the backup takes over exactly Master_Down_Interval after the last advert', () => {
    const { lan, a, b } = pair();
    lan.run(10 * SECOND);
    a.kill(); // last advert went out at 9.21875 s
    lan.run(40 * SECOND);
    const t = only(lan.transitionsOf('B', 'master'));
    assert.equal(t.at, 9_218_750 + MDI_100);
    assert.equal(t.reason, 'master-down-timer');
    assert.equal(t.detail, '192.0.2.1');
    assert.ok(b.holdsAddresses);
  });

  test('master stops cleanly: the backup takes over after Skew_Time', () => {
    const { lan, a, b } = pair();
    lan.run(10 * SECOND);
    a.stop();
    assert.equal(only(lan.transitionsOf('A', 'initialize')).reason, 'shutdown');
    assert.equal(a.holdsAddresses, false, 'a stopping Master gives its addresses up');
    assert.equal(a.instance.counters.priorityZeroSent, 1);
    lan.run(40 * SECOND);
    const t = only(lan.transitionsOf('B', 'master'));
    assert.equal(t.at, 10 * SECOND + SKEW_100);
    assert.equal(t.reason, 'priority-zero');
    assert.ok(b.holdsAddresses);
  });

  test('a higher priority that returns preempts after its own Master_Down_Interval', () => {
    const { lan, a, b } = pair();
    lan.run(10 * SECOND);
    a.kill();
    lan.run(20 * SECOND);
    a.start();
    lan.run(60 * SECOND);
    const [first, second] = lan.transitionsOf('A', 'master');
    assert.equal(first?.at, MDI_200);
    assert.equal(second?.at, 20 * SECOND + MDI_200);
    assert.equal(second?.reason, 'preempted');
    const demoted = lan.transitionsOf('B', 'backup').at(-1);
    assert.equal(demoted?.at, 20 * SECOND + MDI_200);
    assert.equal(demoted?.reason, 'higher-priority-seen');
    // B's adverts at 20.828125, 21.828125 and 22.828125 s were discarded by A while it waited.
    assert.equal(a.instance.counters.discarded['lower-priority'], 3);
    assert.equal(only(lan.masters()), a);
    assert.ok(a.holdsAddresses && !b.holdsAddresses);
  });

  test('nopreempt: the returning higher priority leaves the current Master alone', () => {
    const { lan, a, b } = pair({ aPreempt: false });
    lan.run(10 * SECOND);
    a.kill();
    lan.run(20 * SECOND);
    a.start();
    lan.run(120 * SECOND);
    assert.equal(lan.transitionsOf('A', 'master').length, 1, 'only the first election');
    assert.equal(only(lan.masters()), b);
    assert.equal(a.state, 'backup');
  });

  test('preempt_delay: a lower-priority Master is tolerated for the delay, then preempted', () => {
    const { lan, a } = pair({ aPreemptDelay: 10 * SECOND });
    lan.run(10 * SECOND);
    a.kill();
    lan.run(20 * SECOND);
    a.start(); // the window runs 20 s .. 30 s; B advertises at 12.828125 s + k
    lan.run(30 * SECOND);
    assert.equal(lan.transitionsOf('A', 'master').length, 1, 'no preemption inside the window');
    lan.run(60 * SECOND);
    const t = lan.transitionsOf('A', 'master')[1];
    // the last advert accepted was B's at 29.828125 s; the one at 30.828125 s was discarded
    assert.equal(t?.at, 29_828_125 + MDI_200);
    assert.equal(t?.reason, 'preempted');
  });

  test('equal priorities: the higher primary address wins, whoever starts first', () => {
    for (const order of [
      ['A', 'B'],
      ['B', 'A'],
    ]) {
      const lan = new SimLan();
      const specs = {
        A: { name: 'A', address: '192.0.2.9' },
        B: { name: 'B', address: '192.0.2.10' }, // numerically higher, textually lower
      } as const;
      for (const name of order) lan.addNode(specs[name as 'A' | 'B']);
      lan.startAll();
      lan.run(30 * SECOND);
      assert.equal(only(lan.masters()).name, 'B', `start order ${order.join(',')}`);
      assert.equal(lan.transitionsOf('B', 'master')[0]?.at, MDI_100);
      const aMaster = lan.transitionsOf('A', 'master');
      const aBackup = lan.transitionsOf('A', 'backup');
      // Both timers expire at the same instant; A may hold the role for zero time before it
      // hears B, but never longer.
      if (aMaster.length > 0) {
        assert.equal(aMaster.length, 1);
        assert.equal(aBackup.at(-1)?.at, MDI_100);
        assert.equal(aBackup.at(-1)?.reason, 'equal-priority-higher-address');
      }
      assert.equal(lan.node('A').holdsAddresses, false);
    }
  });

  test('partition then heal: one Master again within one advert interval of the heal', () => {
    const { lan, a, b } = pair();
    lan.run(10 * SECOND);
    lan.partition(['A'], ['B']);
    lan.run(20 * SECOND);
    assert.equal(lan.masters().length, 2, 'both sides of the split elect a Master');
    assert.equal(lan.transitionsOf('B', 'master')[0]?.at, 9_218_750 + MDI_100);
    const heal = 20_500_000;
    lan.run(heal);
    lan.heal();
    lan.run(heal + SECOND);
    assert.equal(only(lan.masters()), a);
    const back = lan.transitionsOf('B', 'backup').at(-1);
    assert.ok(back && back.at > heal && back.at <= heal + SECOND, `B yields at ${back?.at}`);
    // B's first advert after the heal (its adverts run at 12_828_125 + n s) reaches A, which
    // reasserts at once (issue 8): B yields then, not at A's next scheduled advert (21_218_750)
    assert.equal(back?.at, 20_828_125, "at B's first advert after the heal, answered by A at once");
    assert.ok(a.holdsAddresses && !b.holdsAddresses);
  });

  test('split-brain healing: the rightful Master reasserts at once, exact event sequence on both nodes', () => {
    const { lan, a, b } = pair();
    lan.run(10 * SECOND);
    lan.partition(['A'], ['B']);
    lan.run(20_500_000);
    lan.heal();
    lan.run(25 * SECOND);
    const healAt = 20_828_125; // B's first advert after the heal
    const after = (n: SimNode) => n.log.filter((e) => e.at >= 20_500_000);
    assert.deepEqual(after(a), [
      { at: healAt, what: 'announce-lower-priority' },
      { at: healAt, what: 'reasserted', peer: '192.0.2.2' },
    ]);
    assert.deepEqual(after(b), []);
    assert.deepEqual(
      lan.transitions.filter((t) => t.at >= 20_500_000).map((t) => [t.node, t.from, t.to, t.reason, t.at]),
      [['B', 'master', 'backup', 'higher-priority-seen', healAt]],
    );
    assert.equal(a.instance.counters.reassertions, 1, 'one reassertion: B stepped down at once');
    assert.equal(only(lan.masters()), a);
  });

  test("split-brain healing when the rightful Master's advert crosses first: the lower one's last advert (higher_prio_send_advert) still triggers the reassertion", () => {
    const lan = new SimLan();
    const a = lan.addNode({ name: 'A', address: '192.0.2.1', priority: 200, higherPrioSendAdvert: true });
    lan.addNode({ name: 'B', address: '192.0.2.2', priority: 100, higherPrioSendAdvert: true });
    lan.startAll();
    lan.run(10 * SECOND);
    lan.partition(['A'], ['B']);
    lan.run(20_900_000);
    lan.heal();
    lan.run(25 * SECOND);
    const aAdvert = 21_218_750; // A's first advert after the heal, before B's at 21_828_125
    assert.deepEqual(
      lan.transitions.filter((t) => t.at >= 20_900_000).map((t) => [t.node, t.from, t.to, t.reason, t.at]),
      [['B', 'master', 'backup', 'higher-priority-seen', aAdvert]],
    );
    assert.deepEqual(
      a.log.filter((e) => e.at >= 20_900_000),
      [
        { at: aAdvert, what: 'announce-lower-priority' },
        { at: aAdvert, what: 'reasserted', peer: '192.0.2.2' },
      ],
    );
    assert.equal(only(lan.masters()), a);
  });

  test('reassertion is rate-limited: a peer that keeps claiming gets at most one answer per advert interval', () => {
    const { lan, a } = pair();
    lan.run(10 * SECOND);
    assert.equal(a.state, 'master');
    // a misconfigured peer: lower priority, claims Master, never steps down, 10 adverts a second
    const rogue = encodeAdvert({ version: 3, family: 4, vrid: 1, priority: 50, intervalCs: 10, addresses: ['192.0.2.100'], authType: 'none', authPassword: '' }, { src: '192.0.2.66', dst: '224.0.0.18' });
    for (let t = 0; t < 3 * SECOND; t += 100_000) {
      lan.run(10 * SECOND + t + 50_000);
      a.instance.receive(rogue, { src: '192.0.2.66', dst: '224.0.0.18' });
    }
    assert.equal(a.instance.counters.reassertions, 3, '3 s of rogue adverts: 3 reassertions, not 30');
    assert.equal(a.instance.counters.discarded['reassert-rate-limited'], 27);
    assert.equal(a.state, 'master');
  });

  test('partition then heal with equal priorities converges on the higher address', () => {
    const lan = new SimLan();
    lan.addNode({ name: 'A', address: '192.0.2.1' });
    lan.addNode({ name: 'B', address: '192.0.2.2' });
    lan.startAll();
    lan.run(10 * SECOND);
    lan.partition(['A'], ['B']);
    lan.run(30 * SECOND);
    assert.equal(lan.masters().length, 2);
    const heal = 30_250_000;
    lan.run(heal);
    lan.heal();
    lan.run(heal + SECOND);
    assert.equal(only(lan.masters()).name, 'B');
    const back = lan.transitionsOf('A', 'backup').at(-1);
    assert.ok(back && back.at > heal && back.at <= heal + SECOND);
  });

  for (const size of [3, 5]) {
    test(`${size}-node group: each kill hands the role to the next priority at its exact time`, () => {
      const lan = new SimLan();
      const prios = [200, 180, 160, 140, 120].slice(0, size);
      const nodes = prios.map((priority, i) =>
        lan.addNode({ name: `R${i}`, address: `192.0.2.${i + 1}`, priority }),
      );
      lan.startAll();
      lan.run(masterDownInterval(3, 200, 100));
      assert.equal(only(lan.masters()), nodes[0]);
      let lastAdvert = masterDownInterval(3, 200, 100);
      for (let i = 0; i < size - 1; i++) {
        // let the Master advertise a while, then kill it just after an advert
        lastAdvert += 5 * SECOND;
        lan.run(lastAdvert + 1);
        nodes[i]?.kill();
        const next = nodes[i + 1];
        assert.ok(next);
        const expected = lastAdvert + masterDownInterval(3, next.config.priority, 100);
        lan.run(expected - 1);
        assert.equal(lan.masters().length, 0, 'silence until the next in line times out');
        lan.run(expected);
        assert.equal(only(lan.masters()), next);
        assert.equal(lan.transitionsOf(next.name, 'master')[0]?.at, expected);
        assert.equal(nodes.filter((n) => n.holdsAddresses).length, 1);
        lastAdvert = expected;
      }
      // everybody back: the top priority preempts and everyone else is Backup
      for (const n of nodes) if (!n.alive) n.start();
      lan.run(lastAdvert + 30 * SECOND);
      assert.equal(only(lan.masters()), nodes[0]);
      assert.equal(nodes.filter((n) => n.holdsAddresses).length, 1);
    });
  }

  test('VRRPv2 and IPv6 groups fail over the same way', () => {
    for (const [version, addrA, addrB] of [
      [2, '192.0.2.1', '192.0.2.2'],
      [3, '2001:db8::1', '2001:db8::2'],
    ] as const) {
      const lan = new SimLan();
      const a = lan.addNode({ name: 'A', address: addrA, priority: 200, version });
      lan.addNode({ name: 'B', address: addrB, priority: 100, version });
      lan.startAll();
      lan.run(10 * SECOND);
      assert.equal(only(lan.masters()), a);
      a.kill();
      lan.run(40 * SECOND);
      // v2 skew is (256 - priority) / 256 s whatever the interval, which at 1 s is the same
      const t = only(lan.transitionsOf('B', 'master'));
      assert.equal(t.at, 9_218_750 + MDI_100, `v${version} ${addrA}`);
    }
  });
});
