// The state machine driven input by input, with its actions and transitions checked as data.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { VrrpFsm, type Action, type FsmConfig } from '../../src/vrrp/fsm.ts';
import { masterDownInterval, skewTime } from '../../src/vrrp/timers.ts';
import { compareAddresses } from '../../src/vrrp/address-order.ts';
import type { Advert } from '../../src/vrrp/types.ts';

function make(over: Partial<FsmConfig> = {}) {
  let now = 0;
  const clock = { now: () => now };
  const fsm = new VrrpFsm(
    {
      version: 3,
      vrid: 7,
      priority: 100,
      advertIntervalCs: 100,
      preempt: true,
      preemptDelay: 0,
      primaryAddress: '192.0.2.2',
      ...over,
    },
    clock,
  );
  return { fsm, setNow: (t: number) => (now = t) };
}

function advert(priority: number, over: Partial<Advert> = {}): Advert {
  return {
    version: 3,
    family: 4,
    vrid: 7,
    priority,
    intervalCs: 100,
    addresses: ['192.0.2.100'],
    authType: 'none',
    authPassword: '',
    ...over,
  };
}

const types = (actions: Action[]) => actions.map((a) => a.type);

describe('timers', () => {
  test('v3 skew time and master-down interval, truncated to microseconds', () => {
    assert.equal(skewTime(3, 100, 100), 609_375);
    assert.equal(masterDownInterval(3, 100, 100), 3_609_375);
    assert.equal(skewTime(3, 200, 100), 218_750);
    assert.equal(skewTime(3, 150, 100), 414_062); // 414,062.5 truncated
    assert.equal(masterDownInterval(3, 254, 5), 150_000 + 390); // 2 * 5 cs / 256 = 390.6 us
    // the interval scales v3 skew: 2 s adverts double it
    assert.equal(skewTime(3, 100, 200), 1_218_750);
  });

  test('v2 skew time ignores the advert interval', () => {
    assert.equal(skewTime(2, 100, 100), 609_375);
    assert.equal(skewTime(2, 100, 300), 609_375);
    assert.equal(masterDownInterval(2, 100, 300), 9_609_375);
  });
});

describe('address ordering for the tie-break', () => {
  test('compares numerically, not as text', () => {
    assert.ok(compareAddresses('192.0.2.10', '192.0.2.9') > 0);
    assert.ok(compareAddresses('2001:db8::10', '2001:db8::9') > 0);
    assert.ok(compareAddresses('2001:db8::1:0', '2001:db8::ffff') > 0);
    assert.equal(compareAddresses('2001:db8:0:0::1', '2001:db8::1'), 0);
    assert.ok(compareAddresses('::ffff:192.0.2.2', '::ffff:192.0.2.1') > 0);
    assert.throws(() => compareAddresses('192.0.2.1', 'nope'), /not an IP address/);
  });
});

describe('state machine', () => {
  test('startup without owner priority: Backup with Master_Down_Timer', () => {
    const { fsm } = make();
    const r = fsm.step({ type: 'startup' });
    assert.equal(fsm.state, 'backup');
    assert.deepEqual(r.actions, [{ type: 'start-timer', timer: 'master-down', after: 3_609_375 }]);
    assert.deepEqual(r.transitions, [{ from: 'initialize', to: 'backup', reason: 'startup', priority: 100, at: 0 }]);
  });

  test('startup after a slow start: the time since exec is credited, at most half an advert interval', () => {
    const after = (elapsed: number, over: Partial<FsmConfig> = {}) => {
      const { fsm } = make(over);
      const a = fsm.step({ type: 'startup', elapsed }).actions[0];
      return a?.type === 'start-timer' ? a.after : undefined;
    };
    // vigil listening 0.4 s after exec: the timer ends where it would have from the exec
    assert.equal(after(400_000), 3_609_375 - 400_000);
    // never more than half an interval: the Backup still hears two adverts of a Master there
    assert.equal(after(5_000_000), 3_609_375 - 500_000);
    assert.equal(after(400_000, { advertIntervalCs: 5 }), masterDownInterval(3, 100, 5) - 25_000);
    // the higher priority of two nodes started together still fires first
    assert.ok(after(400_000, { priority: 200 })! < masterDownInterval(3, 150, 100) - 15_000);
    assert.equal(after(-5), 3_609_375, 'a clock oddity credits nothing');
  });

  test('address owner (255) starts as Master: advert, addresses, announce, Adver_Timer', () => {
    const { fsm } = make({ priority: 255 });
    const r = fsm.step({ type: 'startup' });
    assert.equal(fsm.state, 'master');
    assert.deepEqual(types(r.actions), ['stop-timer', 'send-advert', 'add-addresses', 'announce', 'start-timer']);
    assert.deepEqual(r.actions[1], { type: 'send-advert', priority: 255 });
    assert.deepEqual(r.actions[4], { type: 'start-timer', timer: 'adver', after: 1_000_000 });
    assert.equal(r.transitions[0]?.reason, 'address-owner');
  });

  test('the owner priority is never adjusted; others stay within 1..254', () => {
    const owner = make({ priority: 255 }).fsm;
    owner.step({ type: 'priority', priority: 10 });
    assert.equal(owner.priority, 255);
    const { fsm } = make();
    fsm.step({ type: 'priority', priority: 300 });
    assert.equal(fsm.priority, 254);
    fsm.step({ type: 'priority', priority: -40 });
    assert.equal(fsm.priority, 1);
  });

  test('Master_Down_Timer firing makes a Backup Master', () => {
    const { fsm, setNow } = make();
    fsm.step({ type: 'startup' });
    setNow(3_609_375);
    const r = fsm.step({ type: 'timer', timer: 'master-down' });
    assert.equal(fsm.state, 'master');
    assert.deepEqual(r.transitions[0], {
      from: 'backup',
      to: 'master',
      reason: 'master-down-timer',
      priority: 100,
      at: 3_609_375,
    });
    assert.ok(types(r.actions).includes('send-advert'));
  });

  test('Backup: an advert from a higher priority restarts the timer and the v3 interval is learned', () => {
    const { fsm } = make();
    fsm.step({ type: 'startup' });
    const r = fsm.step({ type: 'advert', advert: advert(150, { intervalCs: 200 }), from: '192.0.2.1' });
    assert.equal(fsm.learnedMasterIntervalCs, 200);
    assert.deepEqual(r.actions, [{ type: 'start-timer', timer: 'master-down', after: masterDownInterval(3, 100, 200) }]);
    assert.equal(fsm.masterAddress, '192.0.2.1');
  });

  test('Backup: a lower priority is discarded while preempting, accepted with nopreempt', () => {
    const pre = make().fsm;
    pre.step({ type: 'startup' });
    assert.deepEqual(pre.step({ type: 'advert', advert: advert(50), from: '192.0.2.1' }).actions, [
      { type: 'discard', reason: 'lower-priority' },
    ]);
    const nopre = make({ preempt: false }).fsm;
    nopre.step({ type: 'startup' });
    assert.deepEqual(types(nopre.step({ type: 'advert', advert: advert(50), from: '192.0.2.1' }).actions), [
      'start-timer',
    ]);
  });

  test('Backup: a priority-0 advert shortens the wait to Skew_Time; takeover reason says so', () => {
    const { fsm } = make();
    fsm.step({ type: 'startup' });
    const r = fsm.step({ type: 'advert', advert: advert(0), from: '192.0.2.1' });
    assert.deepEqual(r.actions, [{ type: 'start-timer', timer: 'master-down', after: 609_375 }]);
    assert.equal(fsm.step({ type: 'timer', timer: 'master-down' }).transitions[0]?.reason, 'priority-zero');
  });

  test('v2: an advert with another interval is dropped and counted, not learned', () => {
    const { fsm } = make({ version: 2 });
    fsm.step({ type: 'startup' });
    const r = fsm.step({ type: 'advert', advert: advert(150, { version: 2, intervalCs: 200 }), from: '192.0.2.1' });
    assert.deepEqual(r.actions, [{ type: 'discard', reason: 'interval-mismatch' }]);
    assert.equal(fsm.learnedMasterIntervalCs, 100);
  });

  test('Master: higher priority or equal priority from a higher address demotes; lower is discarded', () => {
    for (const [prio, from, expect] of [
      [150, '192.0.2.1', 'higher-priority-seen'],
      [100, '192.0.2.3', 'equal-priority-higher-address'],
      [100, '192.0.2.1', null],
      [99, '192.0.2.200', null],
    ] as const) {
      const { fsm } = make();
      fsm.step({ type: 'startup' });
      fsm.step({ type: 'timer', timer: 'master-down' });
      const r = fsm.step({ type: 'advert', advert: advert(prio), from });
      if (expect) {
        assert.equal(fsm.state, 'backup');
        assert.equal(r.transitions[0]?.reason, expect);
        assert.deepEqual(types(r.actions), ['stop-timer', 'remove-addresses', 'start-timer']);
      } else {
        // not outranked: stays Master and reasserts itself (issue 8), as keepalived does
        assert.equal(fsm.state, 'master');
        assert.deepEqual(r.actions, [
          { type: 'discard', reason: 'not-outranked' },
          { type: 'send-advert', priority: 100 },
          { type: 'start-timer', timer: 'adver', after: 1_000_000 },
          { type: 'announce', cause: 'lower-priority' },
          { type: 'reasserted', peer: from, peerPriority: prio },
        ]);
      }
    }
  });

  test('Master with higher_prio_send_advert: one last advert of its own, then Backup', () => {
    const { fsm } = make({ higherPrioSendAdvert: true });
    fsm.step({ type: 'startup' });
    fsm.step({ type: 'timer', timer: 'master-down' });
    const r = fsm.step({ type: 'advert', advert: advert(150), from: '192.0.2.9' });
    assert.equal(fsm.state, 'backup');
    assert.deepEqual(r.actions[0], { type: 'send-advert', priority: 100 });
    assert.deepEqual(types(r.actions), ['send-advert', 'stop-timer', 'remove-addresses', 'start-timer']);
  });

  test('Master with lower_prio_no_advert: re-announces but sends no extra advert', () => {
    const { fsm } = make({ lowerPrioNoAdvert: true });
    fsm.step({ type: 'startup' });
    fsm.step({ type: 'timer', timer: 'master-down' });
    const r = fsm.step({ type: 'advert', advert: advert(50), from: '192.0.2.9' });
    assert.deepEqual(types(r.actions), ['discard', 'announce', 'reasserted']);
  });

  test('Master: a priority-0 advert from another router is answered at once', () => {
    const { fsm } = make();
    fsm.step({ type: 'startup' });
    fsm.step({ type: 'timer', timer: 'master-down' });
    const r = fsm.step({ type: 'advert', advert: advert(0), from: '192.0.2.9' });
    assert.deepEqual(r.actions, [
      { type: 'send-advert', priority: 100 },
      { type: 'start-timer', timer: 'adver', after: 1_000_000 },
    ]);
  });

  test('Master: Adver_Timer sends an advert with the current effective priority', () => {
    const { fsm } = make();
    fsm.step({ type: 'startup' });
    fsm.step({ type: 'timer', timer: 'master-down' });
    fsm.step({ type: 'priority', priority: 90 });
    assert.deepEqual(fsm.step({ type: 'timer', timer: 'adver' }).actions[0], { type: 'send-advert', priority: 90 });
  });

  test('shutdown of a Master: priority-0 advert, addresses removed, timers stopped, Initialize', () => {
    const { fsm } = make();
    fsm.step({ type: 'startup' });
    fsm.step({ type: 'timer', timer: 'master-down' });
    const r = fsm.step({ type: 'shutdown' });
    assert.equal(fsm.state, 'initialize');
    assert.deepEqual(r.actions.slice(0, 2), [{ type: 'send-advert', priority: 0 }, { type: 'remove-addresses' }]);
    assert.equal(r.transitions[0]?.reason, 'shutdown');
    // stale timers that still fire change nothing
    assert.deepEqual(fsm.step({ type: 'timer', timer: 'adver' }), { actions: [], transitions: [] });
  });

  test('fault: Master resigns; several sources hold it; the last clear returns to Backup', () => {
    const { fsm } = make();
    fsm.step({ type: 'startup' });
    fsm.step({ type: 'timer', timer: 'master-down' });
    const r = fsm.step({ type: 'fault', source: 'eth0', active: true });
    assert.equal(fsm.state, 'fault');
    assert.deepEqual(r.actions.slice(0, 2), [{ type: 'send-advert', priority: 0 }, { type: 'remove-addresses' }]);
    assert.equal(r.transitions[0]?.detail, 'eth0');
    fsm.step({ type: 'fault', source: 'chk_nginx', active: true });
    assert.deepEqual(fsm.step({ type: 'advert', advert: advert(50), from: '192.0.2.1' }).actions, [
      { type: 'discard', reason: 'not-listening' },
    ]);
    assert.deepEqual(fsm.step({ type: 'fault', source: 'eth0', active: false }).transitions, []);
    assert.equal(fsm.state, 'fault');
    const back = fsm.step({ type: 'fault', source: 'chk_nginx', active: false });
    assert.equal(fsm.state, 'backup');
    assert.equal(back.transitions[0]?.reason, 'fault-cleared');
    assert.deepEqual(fsm.activeFaults, []);
  });

  test('a fault present at startup starts the instance in Fault; the owner returns to Master', () => {
    const { fsm } = make({ priority: 255 });
    fsm.step({ type: 'fault', source: 'eth0', active: true });
    assert.equal(fsm.state, 'initialize');
    fsm.step({ type: 'startup' });
    assert.equal(fsm.state, 'fault');
    fsm.step({ type: 'fault', source: 'eth0', active: false });
    assert.equal(fsm.state, 'master');
  });

  test('preempt_delay: lower-priority adverts are accepted until the window elapses', () => {
    const { fsm } = make({ preemptDelay: 5_000_000 });
    const start = fsm.step({ type: 'startup' });
    assert.deepEqual(start.actions[0], { type: 'start-timer', timer: 'preempt-delay', after: 5_000_000 });
    assert.deepEqual(types(fsm.step({ type: 'advert', advert: advert(50), from: '192.0.2.1' }).actions), [
      'start-timer',
    ]);
    fsm.step({ type: 'timer', timer: 'preempt-delay' });
    assert.deepEqual(fsm.step({ type: 'advert', advert: advert(50), from: '192.0.2.1' }).actions, [
      { type: 'discard', reason: 'lower-priority' },
    ]);
    assert.equal(fsm.step({ type: 'timer', timer: 'master-down' }).transitions[0]?.reason, 'preempted');
  });

  test('rejects a base priority outside 1..255', () => {
    assert.throws(() => make({ priority: 0 }), /priority must be 1..255/);
    assert.throws(() => make({ priority: 256 }), /priority must be 1..255/);
  });
});
