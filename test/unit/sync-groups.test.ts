// Sync group coordination over real state machines on a hand-driven clock: a member takes over
// on its own timer only when its siblings want to as well (prefer Backup to thrashing), one
// becoming Master takes the others along, one stepping down takes them down, a member's fault
// holds the whole group, and the group's own state is published once the members agree.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventBus } from '../../src/bus/bus.ts';
import type { VigilEvent } from '../../src/bus/events.ts';
import { configSchema } from '../../src/config/schema.ts';
import { SyncGroups } from '../../src/daemon/sync-groups.ts';
import { VrrpInstance, type InstanceConfig, type Scheduler } from '../../src/vrrp/instance.ts';
import { encodeAdvert } from '../../src/vrrp/packet.ts';

class ManualScheduler implements Scheduler {
  time = 0;
  timers = new Map<number, { at: number; fire: () => void }>();
  private next = 1;
  now = () => this.time;
  setTimer = (after: number, fire: () => void) => {
    const id = this.next++;
    this.timers.set(id, { at: this.time + after, fire });
    return id;
  };
  clearTimer = (h: unknown) => void this.timers.delete(h as number);
  /** Runs every timer due up to `t`, in time order. */
  advance(t: number): void {
    for (;;) {
      const due = [...this.timers.entries()].filter(([, x]) => x.at <= t).sort((a, b) => a[1].at - b[1].at)[0];
      if (!due) break;
      this.timers.delete(due[0]);
      this.time = due[1].at;
      due[1].fire();
    }
    this.time = t;
  }
}

function rig() {
  const sched = new ManualScheduler();
  const bus = new EventBus({ mono: () => sched.time, wall: () => 0 });
  const events: VigilEvent[] = [];
  bus.subscribe((e) => events.push(e));
  const config = configSchema.parse({
    vrrp_instance: {
      VI_1: { interface: 'eth0', virtual_router_id: 1, virtual_ipaddress: [{ address: '192.0.2.101' }] },
      VI_2: { interface: 'eth1', virtual_router_id: 2, virtual_ipaddress: [{ address: '198.51.100.1' }] },
    },
    vrrp_sync_group: { G1: { group: ['VI_1', 'VI_2'] } },
  });
  const instances = new Map<string, VrrpInstance>();
  const moves: Array<[string, string, string]> = [];
  const reasserted: string[] = [];
  const groups: SyncGroups = new SyncGroups(config, {
    bus,
    instance: (n) => instances.get(n),
    waiting: () => false,
    reassert: (name, peer) => void reasserted.push(`${name} vs ${peer}`),
  });
  const make = (name: string, vrid: number, address: string): VrrpInstance => {
    const cfg: InstanceConfig = {
      name,
      version: 3,
      family: 4,
      vrid,
      priority: 100,
      advertIntervalCs: 100,
      preempt: true,
      preemptDelay: 0,
      primaryAddress: '192.0.2.1',
      addresses: [address],
      destinations: ['224.0.0.18'],
      canBecomeMaster: () => groups.canBecomeMaster(name),
    };
    const inst = new VrrpInstance(cfg, sched, { send: () => undefined }, { addAddresses: () => undefined, removeAddresses: () => undefined, announce: () => undefined }, {
      onTransition: (t) => {
        moves.push([name, t.to, t.reason]);
        groups.memberMoved(name, t);
      },
    });
    instances.set(name, inst);
    return inst;
  };
  const v1 = make('VI_1', 1, '192.0.2.101');
  const v2 = make('VI_2', 2, '198.51.100.1');
  return { sched, events, groups, v1, v2, moves, reasserted };
}

/** An advert from a live Master (priority 200) for `vrid`, keeping that member's timer fresh. */
function hear(inst: VrrpInstance, vrid: number, address: string): void {
  const bytes = encodeAdvert({ version: 3, family: 4, vrid, priority: 200, intervalCs: 100, addresses: [address], authType: 'none', authPassword: '' }, { src: '192.0.2.9', dst: '224.0.0.18' });
  inst.receive(bytes, { src: '192.0.2.9', dst: '224.0.0.18' });
}

test('a member whose Master went silent waits while its sibling still hears one; then both go together', () => {
  const { sched, events, v1, v2, moves } = rig();
  v1.start();
  v2.start();
  assert.deepEqual(events.filter((e) => e.type === 'group.transition').map((e) => e.type === 'group.transition' && e.to), ['backup']);
  // VI_2 keeps hearing its Master; VI_1 does not
  for (let t = 500_000; t <= 6_000_000; t += 500_000) {
    sched.advance(t);
    hear(v2, 2, '198.51.100.1');
  }
  assert.equal(v1.state, 'backup', 'VI_1 does not take over alone');
  assert.equal(v1.fsm.wantsMaster, true);
  assert.equal(v2.state, 'backup');
  // VI_2's Master goes silent too: when its timer runs out, both become Master together
  sched.advance(12_000_000);
  assert.equal(v1.state, 'master');
  assert.equal(v2.state, 'master');
  const groupMoves = events.filter((e) => e.type === 'group.transition').map((e) => e.type === 'group.transition' && [e.from, e.to]);
  assert.deepEqual(groupMoves, [
    ['initialize', 'backup'],
    ['backup', 'master'],
  ]);
  // VI_2's own timer decided; VI_1, ready and waiting, followed its group
  assert.deepEqual(moves.filter(([, to]) => to === 'master'), [
    ['VI_2', 'master', 'master-down-timer'],
    ['VI_1', 'master', 'sync-group'],
  ]);
});

test('a Master member stepping down takes its sibling down; a fault of one holds both', () => {
  const { sched, events, groups, v1, v2 } = rig();
  v1.start();
  v2.start();
  sched.advance(10_000_000);
  assert.deepEqual([v1.state, v2.state], ['master', 'master']);
  // a higher-priority Master appears for VI_1 only: both step down
  hear(v1, 1, '192.0.2.101');
  assert.deepEqual([v1.state, v2.state], ['backup', 'backup']);

  // a tracker fault on VI_2 alone: the group goes to FAULT; cleared, back to Backup
  v2.setFault('track-script:chk', true);
  groups.faultsChanged('VI_2');
  assert.deepEqual([v1.state, v2.state], ['fault', 'fault']);
  assert.deepEqual(v1.fsm.activeFaults, ['sync-group:G1']);
  v2.setFault('track-script:chk', false);
  groups.faultsChanged('VI_2');
  assert.deepEqual([v1.state, v2.state], ['backup', 'backup']);
  assert.deepEqual(
    events.filter((e) => e.type === 'group.transition').map((e) => (e as { to: string }).to),
    ['backup', 'master', 'backup', 'fault', 'backup'],
  );
});

test("a Master member's reassertion (a healed split brain) makes its Master siblings re-announce too", () => {
  const { sched, groups, v1, v2, reasserted } = rig();
  v1.start();
  v2.start();
  sched.advance(10_000_000);
  groups.memberReasserted('VI_1', '192.0.2.2', 100);
  assert.deepEqual(reasserted, ['VI_2 vs 192.0.2.2']);
  hear(v1, 1, '192.0.2.101'); // both step down
  groups.memberReasserted('VI_1', '192.0.2.2', 100);
  assert.deepEqual(reasserted, ['VI_2 vs 192.0.2.2'], 'a Backup sibling does not re-announce');
  assert.equal(v2.state, 'backup');
});
