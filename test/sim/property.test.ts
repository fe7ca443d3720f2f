// Property: whatever happens (kills, restarts, clean stops, partitions, heals, priority
// changes), once the LAN has been quiet for 4 x Master_Down_Interval every connected segment
// has exactly one Master per VRID among its live routers, and only that Master holds the
// virtual addresses.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { SECOND, SimLan, type SimNode } from './lan.ts';
import { masterDownInterval } from '../../src/vrrp/timers.ts';
import type { VrrpVersion } from '../../src/vrrp/types.ts';

type Op =
  | { kind: 'kill'; node: number }
  | { kind: 'stop'; node: number }
  | { kind: 'restart'; node: number }
  | { kind: 'partition'; cut: number[] }
  | { kind: 'heal' }
  | { kind: 'priority'; node: number; priority: number }
  | { kind: 'wait'; micros: number };

const NODES = 4;
const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ kind: fc.constant('kill' as const), node: fc.nat(NODES - 1) }),
  fc.record({ kind: fc.constant('stop' as const), node: fc.nat(NODES - 1) }),
  fc.record({ kind: fc.constant('restart' as const), node: fc.nat(NODES - 1) }),
  fc.record({ kind: fc.constant('partition' as const), cut: fc.subarray([0, 1, 2, 3], { minLength: 1, maxLength: 3 }) }),
  fc.record({ kind: fc.constant('heal' as const) }),
  fc.record({ kind: fc.constant('priority' as const), node: fc.nat(NODES - 1), priority: fc.integer({ min: 1, max: 254 }) }),
  fc.record({ kind: fc.constant('wait' as const), micros: fc.integer({ min: 0, max: 8 * SECOND }) }),
);

const scenarioArb = fc.record({
  version: fc.constantFrom<VrrpVersion>(2, 3),
  ipv6: fc.boolean(),
  intervalCs: fc.constantFrom(100, 200),
  priorities: fc.array(fc.integer({ min: 1, max: 254 }), { minLength: NODES, maxLength: NODES }),
  /** A second VRID shares the wire with other priorities (its packets must not disturb the first). */
  ops: fc.array(fc.array(opArb, { minLength: 1, maxLength: 4 }), { minLength: 3, maxLength: 8 }),
});

let virtualMicros = 0;
let runs = 0;

function quietPeriod(version: VrrpVersion, intervalCs: number): number {
  // the longest Master_Down_Interval any router can have (priority 1), four times over
  return 4 * masterDownInterval(version, 1, intervalCs);
}

function checkConverged(lan: SimLan, vrids: number[]): void {
  const segments = new Map<number, SimNode[]>();
  for (const n of lan.nodes.filter((x) => x.alive)) {
    const seg = lan.segmentOf(n);
    segments.set(seg, [...(segments.get(seg) ?? []), n]);
  }
  for (const [seg, members] of segments) {
    for (const vrid of vrids) {
      const group = members.filter((n) => n.config.vrid === vrid);
      if (group.length === 0) continue;
      const masters = group.filter((n) => n.state === 'master');
      const holders = group.filter((n) => n.holdsAddresses);
      const states = group.map((n) => `${n.name}:${n.state}/${n.instance.fsm.priority}`).join(' ');
      assert.equal(masters.length, 1, `segment ${seg} VRID ${vrid}: ${states}`);
      assert.deepEqual(holders, masters, `segment ${seg} VRID ${vrid}: only the Master holds the VIPs`);
    }
  }
}

test('after every quiet period, exactly one Master per VRID in each segment', () => {
  const started = performance.now();
  fc.assert(
    fc.property(scenarioArb, (s) => {
      runs++;
      const lan = new SimLan();
      const family = s.ipv6 && s.version === 3 ? 6 : 4;
      const addr = (i: number) => (family === 6 ? `2001:db8::${i + 1}` : `192.0.2.${i + 1}`);
      const vrid1 = s.priorities.map((priority, i) =>
        lan.addNode({ name: `R${i}`, address: addr(i), priority, version: s.version, advertIntervalCs: s.intervalCs }),
      );
      // VRID 2 on the same wire, with its own routers
      for (let i = 0; i < 2; i++) {
        lan.addNode({
          name: `V2-${i}`,
          address: addr(10 + i),
          vrid: 2,
          priority: 50 + i * 100,
          version: s.version,
          advertIntervalCs: s.intervalCs,
          addresses: [family === 6 ? '2001:db8::200' : '192.0.2.200'],
        });
      }
      lan.startAll();
      const quiet = quietPeriod(s.version, s.intervalCs);
      let now = quiet;
      lan.run(now);
      checkConverged(lan, [1, 2]);
      for (const burst of s.ops) {
        for (const op of burst) {
          const node = 'node' in op ? vrid1[op.node] : undefined;
          switch (op.kind) {
            case 'kill':
              node?.kill();
              break;
            case 'stop':
              node?.stop();
              break;
            case 'restart':
              if (node && !node.alive) node.start();
              break;
            case 'partition':
              lan.partition(op.cut.map((i) => `R${i}`));
              break;
            case 'heal':
              lan.heal();
              break;
            case 'priority':
              node?.setPriority(op.priority);
              break;
            case 'wait':
              now += op.micros;
              lan.run(now);
              break;
          }
        }
        now += quiet;
        lan.run(now);
        checkConverged(lan, [1, 2]);
      }
      virtualMicros += now;
    }),
    { numRuns: 300, seed: 5798 },
  );
  const wallMs = performance.now() - started;
  const virtualSeconds = virtualMicros / SECOND;
  console.log(
    `sim property: ${runs} schedules, ${virtualSeconds.toFixed(0)} virtual s in ${wallMs.toFixed(0)} ms wall ` +
      `(${(virtualSeconds / (wallMs / 1000)).toFixed(0)}x real time)`,
  );
  assert.ok(virtualSeconds >= 10_000, `simulated ${virtualSeconds} virtual seconds, want >= 10,000`);
});
