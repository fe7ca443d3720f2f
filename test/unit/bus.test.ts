// The event bus (envelope, order, a throwing subscriber contained) and the reload diff's
// classification of instance changes.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { EventBus } from '../../src/bus/bus.ts';
import { EVENT_SCHEMA_VERSION, orderingKey, type VigilEvent } from '../../src/bus/events.ts';
import { configSchema, type Config } from '../../src/config/schema.ts';
import { classifyChange } from '../../src/daemon/reload-diff.ts';

describe('event bus', () => {
  test('stamps a versioned envelope with a gapless sequence and both clocks', () => {
    let mono = 1000;
    const bus = new EventBus({ mono: () => (mono += 5), wall: () => Date.UTC(2026, 10, 25, 3, 0, 0) });
    const seen: VigilEvent[] = [];
    bus.subscribe((e) => seen.push(e));
    bus.publish({ type: 'config.rejected', file: 'x', errors: [] });
    bus.publish({ type: 'plugin.started', plugin: 'p', restarts: 0 });
    assert.deepEqual(
      seen.map((e) => [e.v, e.seq, e.time, e.mono]),
      [
        [EVENT_SCHEMA_VERSION, 1, '2026-11-25T03:00:00.000Z', 1005],
        [EVENT_SCHEMA_VERSION, 2, '2026-11-25T03:00:00.000Z', 1010],
      ],
    );
  });

  test('subscribers see events in publication order; a type filter applies; one that throws does not stop the others', () => {
    const errors: unknown[] = [];
    const bus = new EventBus(undefined, (e) => errors.push(e));
    const all: number[] = [];
    const plugins: string[] = [];
    bus.subscribe(() => {
      throw new Error('bad subscriber');
    });
    bus.subscribe((e) => all.push(e.seq));
    const off = bus.subscribe((e) => plugins.push(e.type), ['plugin.started']);
    bus.publish({ type: 'plugin.started', plugin: 'a', restarts: 0 });
    bus.publish({ type: 'config.rejected', file: 'x', errors: [] });
    off();
    bus.publish({ type: 'plugin.started', plugin: 'b', restarts: 0 });
    assert.deepEqual(all, [1, 2, 3]);
    assert.deepEqual(plugins, ['plugin.started']);
    assert.equal(errors.length, 3);
    assert.equal(bus.subscriberErrors, 3);
  });

  test('ordering keys: per instance, per group, per kind otherwise', () => {
    assert.equal(orderingKey({ type: 'instance.fault', instance: 'VI_1', source: 's', active: true, faults: ['s'] }), 'instance:VI_1');
    assert.equal(orderingKey({ type: 'group.transition', group: 'G', from: 'backup', to: 'master', reason: 'member' }), 'group:G');
    assert.equal(orderingKey({ type: 'plugin.started', plugin: 'p', restarts: 0 }), 'plugin');
  });
});

describe('reload diff', () => {
  const base = (): Config =>
    configSchema.parse({
      vrrp_instance: {
        VI_1: { interface: 'eth0', virtual_router_id: 51, priority: 100, virtual_ipaddress: [{ address: '192.0.2.100/24' }] },
      },
    });
  const classify = (change: (c: Config) => void, changeOld?: (c: Config) => void) => {
    const a = base();
    const b = base();
    changeOld?.(a);
    change(b);
    return classifyChange(a, a.vrrp_instance['VI_1']!, b, b.vrrp_instance['VI_1']!);
  };

  test('nothing changed: unchanged', () => assert.equal(classify(() => undefined), 'unchanged'));
  for (const [what, change] of [
    ['priority', (c: Config) => (c.vrrp_instance['VI_1']!.priority = 120)],
    ['nopreempt', (c: Config) => (c.vrrp_instance['VI_1']!.nopreempt = true)],
    ['preempt_delay', (c: Config) => (c.vrrp_instance['VI_1']!.preempt_delay = 10)],
    ['a new VIP', (c: Config) => c.vrrp_instance['VI_1']!.virtual_ipaddress.push({ address: '192.0.2.101/24' })],
    ['a track_script', (c: Config) => c.vrrp_instance['VI_1']!.track_script.push({ name: 'chk' })],
    ['a notify script', (c: Config) => (c.vrrp_instance['VI_1']!.notify_master = '/bin/true')],
    ['the global garp delay', (c: Config) => (c.global_defs.vrrp_garp_master_delay = 1)],
  ] as const) {
    test(`${what}: in place`, () => assert.equal(classify(change), 'in-place'));
  }
  for (const [what, change] of [
    ['VRID', (c: Config) => (c.vrrp_instance['VI_1']!.virtual_router_id = 52)],
    ['interface', (c: Config) => (c.vrrp_instance['VI_1']!.interface = 'eth1')],
    ['advert_int', (c: Config) => (c.vrrp_instance['VI_1']!.advert_int = 2)],
    ['version', (c: Config) => (c.vrrp_instance['VI_1']!.version = 3)],
    ['password', (c: Config) => (c.vrrp_instance['VI_1']!.authentication = { auth_type: 'PASS', auth_pass: 'x' })],
    ['unicast peers', (c: Config) => c.vrrp_instance['VI_1']!.unicast_peer.push('192.0.2.2')],
    ['becoming the address owner', (c: Config) => (c.vrrp_instance['VI_1']!.priority = 255)],
    ['the multicast group', (c: Config) => (c.global_defs.vrrp_mcast_group4 = '224.0.0.19')],
  ] as const) {
    test(`${what}: re-created`, () => assert.equal(classify(change), 'recreate'));
  }
});
