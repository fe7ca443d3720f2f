// track-interface on real links in a namespace of its own: a link set admin down and up, a veth
// whose peer goes down (admin up but no carrier: not IFF_RUNNING, so down for keepalived), an
// interface that does not exist yet, then appears, is renamed away and back, and is deleted.
// The plugin runs in a runner process inside the namespace and reports as JSON lines.
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { deriveTrackInterface } from '../../src/config/plugin-sections/track-interface.ts';
import { linkEffect } from '../../plugins/track-interface/config.ts';
import { configSchema } from '../../src/config/schema.ts';
import type { InstanceInfo } from '../../src/plugins/api.ts';
import { Lab, waitForOutput } from '../lib/netns.ts';
import { needs } from '../lib/require.ts';

const RUNNER = fileURLToPath(new URL('./fixtures/track-interface-runner.ts', import.meta.url));

const instances: InstanceInfo[] = [
  { name: 'VI_1', vrid: 51, interface: 'd0', family: 4, version: 2, priority: 100, virtualAddresses: ['192.0.2.100/24'] },
  { name: 'VI_2', vrid: 52, interface: 'd0', family: 4, version: 2, priority: 100, virtualAddresses: ['192.0.2.101/24'] },
];

interface Reported {
  weights: Record<string, number>;
  faults: Record<string, Set<string>>;
  logs: string[];
}

function follow(child: ChildProcess): Reported {
  const rep: Reported = { weights: {}, faults: {}, logs: [] };
  let buf = '';
  child.stdout?.on('data', (d: Buffer) => {
    buf += d.toString();
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      if (!line.startsWith('{')) continue;
      const m = JSON.parse(line) as { t: string; instance: string; source: string; weight: number; active: boolean; msg: string };
      if (m.t === 'adjust') rep.weights[`${m.instance}/${m.source}`] = m.weight;
      else if (m.t === 'fault') {
        const set = (rep.faults[m.instance] ??= new Set());
        if (m.active) set.add(m.source);
        else set.delete(m.source);
      } else if (m.t === 'log') rep.logs.push(m.msg);
    }
  });
  return rep;
}

async function waitFor(what: string, cond: () => boolean, rep: Reported, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; state: ${JSON.stringify(snapshot(rep))}\nlogs:\n${rep.logs.join('\n')}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

function snapshot(rep: Reported) {
  return {
    weights: Object.fromEntries(Object.entries(rep.weights).filter(([, w]) => w !== 0)),
    faults: Object.fromEntries(
      Object.entries(rep.faults)
        .map(([k, v]): [string, string[]] => [k, [...v].sort()])
        .filter(([, v]) => v.length > 0),
    ),
  };
}

test('linkEffect: keepalived weight and reverse semantics for a link', () => {
  assert.deepEqual(linkEffect(false, 0, false), { fault: true, adjust: 0 });
  assert.deepEqual(linkEffect(true, 0, false), { fault: false, adjust: 0 });
  assert.deepEqual(linkEffect(true, 0, true), { fault: true, adjust: 0 });
  assert.deepEqual(linkEffect(true, 10, false), { fault: false, adjust: 10 });
  assert.deepEqual(linkEffect(false, 10, false), { fault: false, adjust: 0 });
  assert.deepEqual(linkEffect(true, 10, true), { fault: false, adjust: -10 });
  assert.deepEqual(linkEffect(false, -20, false), { fault: false, adjust: -20 });
  assert.deepEqual(linkEffect(true, -20, false), { fault: false, adjust: 0 });
  assert.deepEqual(linkEffect(false, -20, true), { fault: false, adjust: 20 });
});

test('the section from the config: own interface unless dont_track_primary, own track_interface entry ignored, sync group rules', () => {
  const cfg = configSchema.parse({
    vrrp_instance: {
      A: { interface: 'eth0', virtual_router_id: 1, track_interface: [{ name: 'eth0', weight: 5 }, { name: 'eth1', weight: -10, reverse: true }] },
      B: { interface: 'eth0', virtual_router_id: 2, dont_track_primary: true, track_interface: [{ name: 'eth2' }] },
      S1: { interface: 'eth0', virtual_router_id: 3, track_interface: [{ name: 'eth3', weight: 7 }] },
      S2: { interface: 'eth9', virtual_router_id: 4, dont_track_primary: true },
      O: { interface: 'eth0', virtual_router_id: 5, priority: 255, dont_track_primary: true, track_interface: [{ name: 'eth4', weight: 3 }, { name: 'eth5' }] },
    },
    vrrp_sync_group: { G: { group: ['S1', 'S2'], track_interface: [{ name: 'eth0', weight: 4 }, { name: 'eth9', weight: -2 }] } },
  });
  assert.deepEqual(deriveTrackInterface(cfg)?.tracks, [
    { instance: 'A', interface: 'eth1', weight: -10, reverse: true },
    { instance: 'A', interface: 'eth0', weight: 0, reverse: false },
    { instance: 'B', interface: 'eth2', weight: 0, reverse: false },
    { instance: 'S1', interface: 'eth3', weight: 0, reverse: false },
    { instance: 'S1', interface: 'eth0', weight: 0, reverse: false },
    { instance: 'O', interface: 'eth5', weight: 0, reverse: false },
    { instance: 'S2', interface: 'eth0', weight: 4, reverse: false },
    { instance: 'S1', interface: 'eth9', weight: -2, reverse: false },
    { instance: 'S2', interface: 'eth9', weight: -2, reverse: false },
  ]);
  assert.equal(deriveTrackInterface(configSchema.parse({ vrrp_instance: { X: { interface: 'eth0', virtual_router_id: 1, dont_track_primary: true } } })), undefined);
});

test('links followed through rtnetlink: admin down, carrier loss, late creation, rename and deletion', { ...needs('root', 'ip') }, async () => {
  const lab = new Lab();
  try {
    const ns = lab.addNamespace('ti');
    const ip = (...args: string[]) => lab.exec(ns, 'ip', args);
    // veth pairs throughout (the dummy module is not everywhere); a veth is RUNNING only while
    // its peer is up too
    ip('link', 'add', 'd0', 'type', 'veth', 'peer', 'name', 'd0p');
    ip('link', 'set', 'd0p', 'up');
    ip('link', 'set', 'd0', 'up');
    ip('link', 'add', 'v0', 'type', 'veth', 'peer', 'name', 'v1');
    ip('link', 'set', 'v0', 'up');
    ip('link', 'set', 'v1', 'up');
    ip('addr', 'add', '192.0.2.1/24', 'dev', 'd0');

    const config = {
      tracks: [
        { instance: 'VI_1', interface: 'd0' },
        { instance: 'VI_1', interface: 'v0', weight: -20 },
        { instance: 'VI_2', interface: 'v0', weight: 10 },
        { instance: 'VI_2', interface: 'late0', weight: 0 },
        { instance: 'VI_2', interface: 'd0', weight: 0, reverse: true },
      ],
    };
    const child = lab.spawn(ns, process.execPath, ['--import', 'tsx', RUNNER, JSON.stringify(config), JSON.stringify(instances)]);
    const rep = follow(child);
    child.stderr?.on('data', (d: Buffer) => rep.logs.push(`stderr: ${d.toString()}`));
    await waitForOutput(child, /"t":"ready"/, 20_000);

    // initial state, read at setup: v0 up (+10 for VI_2), late0 missing (FAULT), d0 up
    // (FAULT for VI_2 through `reverse`)
    assert.deepEqual(snapshot(rep), {
      weights: { 'VI_2/track_interface:v0': 10 },
      faults: { VI_2: ['track_interface:d0', 'track_interface:late0'] },
    });

    ip('link', 'set', 'd0', 'down');
    await waitFor('d0 down', () => rep.faults.VI_1?.has('track_interface:d0') === true, rep);
    assert.deepEqual(snapshot(rep), {
      weights: { 'VI_2/track_interface:v0': 10 },
      faults: { VI_1: ['track_interface:d0'], VI_2: ['track_interface:late0'] },
    });
    ip('link', 'set', 'd0', 'up');
    await waitFor('d0 up', () => rep.faults.VI_1?.size === 0, rep);
    assert.deepEqual(snapshot(rep).faults, { VI_2: ['track_interface:d0', 'track_interface:late0'] });

    // the peer goes down: v0 stays administratively up but loses its carrier (no IFF_RUNNING)
    ip('link', 'set', 'v1', 'down');
    await waitFor('v0 without carrier', () => rep.weights['VI_1/track_interface:v0'] === -20, rep);
    assert.deepEqual(snapshot(rep).weights, { 'VI_1/track_interface:v0': -20 });
    assert.match(ip('link', 'show', 'v0'), /[<,]UP[,>]/);
    ip('link', 'set', 'v1', 'up');
    await waitFor('v0 carrier back', () => rep.weights['VI_2/track_interface:v0'] === 10, rep);
    assert.deepEqual(snapshot(rep).weights, { 'VI_2/track_interface:v0': 10 });

    // an interface created after the start is followed
    ip('link', 'add', 'late0', 'type', 'veth', 'peer', 'name', 'late0p');
    ip('link', 'set', 'late0p', 'up');
    ip('link', 'set', 'late0', 'up');
    await waitFor('late0 appears up', () => rep.faults.VI_2?.has('track_interface:late0') === false, rep);

    // renamed away: the tracked name no longer exists (down); renamed back and up: up again
    ip('link', 'set', 'late0', 'down');
    ip('link', 'set', 'late0', 'name', 'other0');
    ip('link', 'set', 'other0', 'up');
    await waitFor('late0 renamed away', () => rep.faults.VI_2?.has('track_interface:late0') === true, rep);
    assert.ok(rep.logs.some((l) => /interface name has changed from late0 to other0/.test(l)));
    ip('link', 'set', 'other0', 'down');
    ip('link', 'set', 'other0', 'name', 'late0');
    ip('link', 'set', 'late0', 'up');
    await waitFor('late0 back', () => rep.faults.VI_2?.has('track_interface:late0') === false, rep);

    // deleted (with its peer): down
    ip('link', 'del', 'late0');
    await waitFor('late0 deleted', () => rep.faults.VI_2?.has('track_interface:late0') === true, rep);
    assert.deepEqual(snapshot(rep), {
      weights: { 'VI_2/track_interface:v0': 10 },
      faults: { VI_2: ['track_interface:d0', 'track_interface:late0'] },
    });
  } finally {
    await lab.cleanup();
  }
});
