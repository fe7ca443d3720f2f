// Sync groups. First the pure coordinator (src/vrrp/sync-group.ts) alone, on hand-written member
// views: no state machine, no clock, no I/O. Then the coordinator with its driver
// (src/daemon/sync-group-driver.ts, as the engine uses it) over real state machines on a
// hand-driven clock: a member takes over on its own timer only when its siblings want to as well
// (prefer Backup to thrashing), one becoming Master takes the others along, one stepping down
// takes them down, a member's fault holds the whole group, and the group's own state is
// published once the members agree.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventBus } from '../../src/bus/bus.ts';
import type { VigilEvent } from '../../src/bus/events.ts';
import { configSchema } from '../../src/config/schema.ts';
import { SyncGroupDriver, syncGroupMembers } from '../../src/daemon/sync-group-driver.ts';
import type { State, Transition } from '../../src/vrrp/fsm.ts';
import { SyncGroupCoordinator, type MemberView } from '../../src/vrrp/sync-group.ts';
import { VrrpInstance, type InstanceConfig, type Scheduler } from '../../src/vrrp/instance.ts';
import { encodeAdvert } from '../../src/vrrp/packet.ts';

// --- the coordinator alone ------------------------------------------------------------------

const member = (state: State | undefined, more: Partial<MemberView> = {}): MemberView => ({ state, waiting: false, wantsMaster: false, faults: [], ...more });
const move = (from: State, to: State, reason: Transition['reason']): Transition => ({ from, to, reason, priority: 100, at: 0 });

function coordinator(views: Record<string, MemberView>) {
  const c = new SyncGroupCoordinator({ G1: ['A', 'B', 'C'] });
  const view = (n: string): MemberView => views[n] ?? member(undefined);
  return { c, view };
}

test('coordinator: a member may take over alone only when every sibling runs and is Master or wants to be', () => {
  const views = { A: member('backup'), B: member('backup', { wantsMaster: true }), C: member('master') };
  const { c, view } = coordinator(views);
  assert.equal(c.canBecomeMaster('A', view), true);
  views.C = member('backup');
  assert.equal(c.canBecomeMaster('A', view), false, 'C still hears its Master');
  views.C = member(undefined);
  assert.equal(c.canBecomeMaster('A', view), false, 'C does not run');
  assert.equal(c.canBecomeMaster('not-in-a-group', view), true);
});

test('coordinator: a member moving on its own is followed; a move by the group moves nobody', () => {
  const views = { A: member('master'), B: member('backup'), C: member('fault') };
  const { c, view } = coordinator(views);
  assert.deepEqual(c.followers('A', move('backup', 'master', 'master-down-timer'), view), [{ type: 'sync', member: 'B', to: 'master', detail: 'G1: A master-down-timer' }]);
  assert.deepEqual(c.followers('A', move('backup', 'master', 'sync-group'), view), [], 'no echo');
  views.B = member('master');
  views.A = member('backup');
  assert.deepEqual(c.followers('A', move('master', 'backup', 'higher-priority-seen'), view), [{ type: 'sync', member: 'B', to: 'backup', detail: 'G1: A higher-priority-seen' }]);
  assert.deepEqual(c.followers('A', move('fault', 'backup', 'fault-cleared'), view), [], 'only a Master stepping down takes the others down');
});

test("coordinator: any member's own fault, or a member waiting for its interface, holds the others; only changes are asked for", () => {
  const views: Record<string, MemberView> = { A: member('fault', { faults: ['track-script:chk'] }), B: member('backup'), C: member(undefined) };
  const { c, view } = coordinator(views);
  assert.deepEqual(c.faultInputs('A', view), [
    { type: 'fault', member: 'A', source: 'sync-group:G1', active: true },
    { type: 'fault', member: 'B', source: 'sync-group:G1', active: true },
  ]);
  views.A = member('fault', { faults: ['sync-group:G1', 'track-script:chk'] });
  views.B = member('fault', { faults: ['sync-group:G1'] });
  assert.deepEqual(c.faultInputs('B', view), [], 'already held');
  // A's own fault clears: the group's source alone does not hold it
  views.A = member('fault', { faults: ['sync-group:G1'] });
  assert.deepEqual(c.faultInputs('A', view), [
    { type: 'fault', member: 'A', source: 'sync-group:G1', active: false },
    { type: 'fault', member: 'B', source: 'sync-group:G1', active: false },
  ]);
  views.C = member(undefined, { waiting: true });
  assert.equal(c.faultInputs('C', view).length, 0, 'everyone is held already');
  views.A = member('backup');
  views.B = member('backup');
  assert.deepEqual(c.faultInputs('C', view).map((i) => i.type === 'fault' && [i.member, i.active]), [['A', true], ['B', true]], 'a waiting member holds the running ones');
});

test('coordinator: the group state settles when the members agree, and a reassertion asks Master siblings only', () => {
  const views = { A: member('backup'), B: member('initialize'), C: member('backup') };
  const { c, view } = coordinator(views);
  assert.equal(c.settle('A', move('initialize', 'backup', 'startup'), view), undefined, 'B has not started');
  views.B = member('backup');
  assert.deepEqual(c.settle('B', move('initialize', 'backup', 'startup'), view), { group: 'G1', from: 'initialize', to: 'backup', reason: 'startup', instance: 'B' });
  assert.equal(c.settle('B', move('initialize', 'backup', 'startup'), view), undefined, 'no change, no event');
  views.C = member('fault', { faults: ['x'] });
  assert.deepEqual(c.settle('C', move('backup', 'fault', 'fault'), view)?.to, 'fault');
  for (const n of ['A', 'B', 'C'] as const) views[n] = member('initialize');
  assert.deepEqual(c.settle('C', move('fault', 'initialize', 'shutdown'), view), { group: 'G1', from: 'fault', to: 'initialize', reason: 'shutdown', instance: 'C' });
  views.A = member('master');
  views.C = member('master');
  assert.deepEqual(c.reassertions('A', '192.0.2.9', 50, view), [{ type: 'reassert', member: 'C', peer: '192.0.2.9', peerPriority: 50 }]);
  // a reload keeps a group's state, and forgets a removed group
  c.configure({ G1: ['A', 'C'] });
  assert.equal(c.groupState('G1'), 'initialize');
  assert.equal(c.group('B'), undefined);
  c.configure({});
  assert.equal(c.groupState('G1'), undefined);
});

// --- the coordinator driving real state machines --------------------------------------------

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
  const groups: SyncGroupDriver = new SyncGroupDriver(syncGroupMembers(config), {
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
        groups.moved(name, t);
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
  groups.reasserted('VI_1', '192.0.2.2', 100);
  assert.deepEqual(reasserted, ['VI_2 vs 192.0.2.2']);
  hear(v1, 1, '192.0.2.101'); // both step down
  groups.reasserted('VI_1', '192.0.2.2', 100);
  assert.deepEqual(reasserted, ['VI_2 vs 192.0.2.2'], 'a Backup sibling does not re-announce');
  assert.equal(v2.state, 'backup');
});
