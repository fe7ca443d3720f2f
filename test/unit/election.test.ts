// The etcd election's pure parts: who claims, who steps aside (decide.ts), the lease arithmetic
// (timing.ts), and the config: the form, keepalived.conf through its overlay, and the
// checks that refuse what cannot be safe.

import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { formatDiagnostic, type Diagnostic } from '../../src/config/diagnostics.ts';
import { loadConfigFile, type LoadOptions } from '../../src/config/load.ts';
import { best, challenger, parseCandidate, shouldClaim, type Candidate } from '../../src/election/decide.ts';
import { describeEtcdError } from '../../src/election/etcd-client.ts';
import { electionTiming, holdFor, KERNEL_SLACK_US, lifetimeRefresh, lostRenewalsTolerated, REFRESH_LEAD_US, validLifetime } from '../../src/election/timing.ts';
import { builtinSections } from '../../src/plugins/sections.ts';
import { instanceStatus } from '../../src/daemon/status.ts';
import { hostname } from 'node:os';

const c = (name: string, priority: number, fault = false): Candidate => ({ name, priority, fault });

describe('who holds the leadership', () => {
  test('the highest priority claims a free leadership; the others do not', () => {
    const all = [c('n1', 100), c('n2', 150), c('n3', 120)];
    assert.equal(shouldClaim(c('n2', 150), all), true);
    assert.equal(shouldClaim(c('n1', 100), all), false);
    assert.equal(shouldClaim(c('n3', 120), all), false);
  });

  test('equal priorities: the name orders the race, the same way on every node', () => {
    const all = [c('b', 100), c('a', 100)];
    assert.equal(best(all)?.name, 'a');
    assert.equal(shouldClaim(c('a', 100), all), true);
    assert.equal(shouldClaim(c('b', 100), all), false);
  });

  test('a candidate in FAULT or at priority 0 never claims, and is passed over', () => {
    assert.equal(shouldClaim(c('n1', 200, true), [c('n1', 200, true), c('n2', 100)]), false);
    assert.equal(shouldClaim(c('n2', 100), [c('n1', 200, true), c('n2', 100)]), true);
    assert.equal(shouldClaim(c('n1', 0), [c('n1', 0)]), false);
  });

  test('its own key not read back yet: a node judges with what it knows of itself', () => {
    assert.equal(shouldClaim(c('n1', 150), [c('n2', 100)]), true);
    // a stale view of itself (priority lowered since) does not count against it
    assert.equal(shouldClaim(c('n1', 90), [c('n1', 150), c('n2', 100)]), false);
  });

  test('preemption: only a strictly higher live priority is a challenger', () => {
    const me = c('n1', 150);
    assert.equal(challenger(me, [me, c('n2', 150)]), undefined);
    assert.equal(challenger(me, [me, c('n2', 200, true)]), undefined);
    assert.equal(challenger(me, [me, c('n2', 149)]), undefined);
    assert.equal(challenger(me, [me, c('n2', 151), c('n3', 180)])?.name, 'n3');
  });

  test('a malformed candidate key takes no part', () => {
    assert.equal(parseCandidate('not json'), undefined);
    assert.equal(parseCandidate('{"name":"x"}'), undefined);
    assert.equal(parseCandidate('{"name":"x","priority":1.5}'), undefined);
    assert.deepEqual(parseCandidate('{"name":"x","priority":5,"fault":true}'), c('x', 5, true));
  });
});

describe('the lease arithmetic', () => {
  test('D = sent + TTL(1 - 0.001) - 0.2 s', () => {
    assert.equal(holdFor(3_000_000), 2_797_000);
    assert.equal(holdFor(10_000_000), 9_790_000);
  });

  test('defaults: renew every TTL/6, each request bounded by that; TTL 3 rides out 3 lost renewals', () => {
    const t = electionTiming({ lease_ttl: 3 });
    assert.equal(t.renewUs, 500_000);
    assert.equal(t.requestUs, 500_000);
    assert.equal(lostRenewalsTolerated(t), 3);
    // renewing every TTL/3 (etcd clients' default) with 1 s requests tolerates none
    assert.equal(lostRenewalsTolerated(electionTiming({ lease_ttl: 3, renew_interval: 1 })), 0);
  });

  test("the kernel lifetime ends at least 0.5 s before D, in whole seconds, 0 when D is near or past", () => {
    assert.equal(validLifetime(0, 2_797_000), 2);
    assert.equal(validLifetime(0, 1_400_000), 0);
    assert.equal(validLifetime(5_000_000, 2_797_000), 0);
  });

  test('the lifetime is re-set just before its whole seconds drop, so it ends near D - 0.5 s, not up to a second sooner', () => {
    const D = 2_797_000; // a renewal sent at 0, TTL 3
    const best = D - KERNEL_SLACK_US - REFRESH_LEAD_US;
    // set on the answer (10 ms), 2 s end at 2.01 s; re-set at 0.247 s they end at 2.247 s
    assert.equal(0 + 10_000 + validLifetime(10_000, D) * 1e6, 2_010_000);
    assert.deepEqual(lifetimeRefresh(10_000, D), { at: best - 2_000_000, ends: best });
    // a slow answer (past 0.297 s): 1 s left now, the best moment is a second on
    assert.deepEqual(lifetimeRefresh(300_000, D), { at: 1_247_000, ends: best });
    // within the lead of the drop: now is the moment
    assert.deepEqual(lifetimeRefresh(280_000, D), { at: 280_000, ends: 2_280_000 });
    // whatever the moment asked at, the lifetime never ends past D - 0.5 s
    for (let now = 0; now < D; now += 7_919) {
      const r = lifetimeRefresh(now, D);
      if (!r) {
        assert.equal(validLifetime(now, D), 0);
        continue;
      }
      assert.ok(r.at >= now && r.ends <= D - KERNEL_SLACK_US && r.ends >= best, `${now}: ${JSON.stringify(r)}`);
      assert.equal(r.ends - r.at, validLifetime(r.at, D) * 1e6, `${now}: the lifetime at the moment is what it ends by`);
    }
  });

  test('etcd errors read as causes an operator can act on', () => {
    assert.match(describeEtcdError(new Error('etcdserver: authentication failed, invalid user ID or password')), /authentication failed/);
    assert.match(describeEtcdError(new Error('14 UNAVAILABLE: No connection established. Last error: connect ECONNREFUSED 192.0.2.9:2379')), /connection refused/);
    assert.match(describeEtcdError(new Error('14 UNAVAILABLE: ... certificate verify failed')), /^TLS: /);
    assert.match(describeEtcdError(new Error('4 DEADLINE_EXCEEDED: Deadline exceeded')), /request_timeout/);
  });
});

const dir = mkdtempSync(join(tmpdir(), 'vigil-election-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const host: LoadOptions = { interfaces: new Map([['eth0', ['192.0.2.1']]]), configId: 'node1', plugins: builtinSections() };
const lines = (ds: Diagnostic[]) => ds.map(formatDiagnostic).map((l) => l.slice(l.indexOf(': ') + 2));
let n = 0;

function yaml(election: string[], extra: string[] = []): ReturnType<typeof loadConfigFile> {
  const f = join(dir, `c${n++}.yaml`);
  const text = ['vrrp_instance:', '  VI_DB:', '    interface: eth0', '    priority: 150', '    virtual_ipaddress: [ { address: 192.0.2.100/24 } ]', ...extra.map((l) => `    ${l}`), '    election:', '      etcd:', ...election.map((l) => `        ${l}`), ''].join('\n');
  writeFileSync(f, text, { mode: 0o600 });
  return loadConfigFile(f, host);
}

describe('the election section', () => {
  test("the issue's form loads, without a virtual_router_id, with the defaults", () => {
    const r = yaml(['endpoints: [ "http://192.0.2.250:2379" ]', 'lease_ttl: 3']);
    assert.deepEqual(lines(r.diagnostics), []);
    const etcd = r.config?.vrrp_instance.VI_DB?.election?.etcd;
    assert.deepEqual(etcd, { endpoints: ['http://192.0.2.250:2379'], lease_ttl: 3, quorum_loss: 'release' });
  });

  test('a VRRP instance still needs its virtual_router_id', () => {
    const f = join(dir, `c${n++}.yaml`);
    writeFileSync(f, 'vrrp_instance:\n  VI_1:\n    interface: eth0\n    virtual_ipaddress: [ { address: 192.0.2.100/24 } ]\n', { mode: 0o600 });
    assert.deepEqual(lines(loadConfigFile(f, host).diagnostics), ['vrrp_instance.VI_1.virtual_router_id: required: must be 1..255 (only an instance elected on etcd goes without)']);
  });

  test('refused: a TTL under etcd’s minimum, a renewal that cannot come before the deadline, a scheme unlike tls, half a credential', () => {
    assert.match(lines(yaml(['endpoints: [ "http://192.0.2.250:2379" ]', 'lease_ttl: 1']).diagnostics).join('\n'), /lease_ttl: etcd grants at least 2 s/);
    assert.match(lines(yaml(['endpoints: [ "http://192.0.2.250:2379" ]', 'lease_ttl: 3', 'renew_interval: 3']).diagnostics).join('\n'), /renew_interval: 3 s leaves no time to renew/);
    assert.match(lines(yaml(['endpoints: [ "https://192.0.2.250:2379" ]']).diagnostics).join('\n'), /endpoints: an https:\/\/ endpoint needs tls/);
    assert.match(lines(yaml(['endpoints: [ "http://192.0.2.250:2379" ]', 'user: vigil']).diagnostics).join('\n'), /user: user and password go together/);
    assert.match(lines(yaml(['endpoints: [ "ftp://192.0.2.250" ]']).diagnostics).join('\n'), /not an http/);
    assert.match(lines(yaml(['endpoints: [ "https://192.0.2.250:2379" ]', 'tls: { ca: /nonexistent/ca.pem }']).diagnostics).join('\n'), /tls.ca: cannot read \/nonexistent\/ca.pem: ENOENT/);
  });

  test('warned: one lost renewal would release; wire-only settings are ignored', () => {
    const w = lines(yaml(['endpoints: [ "http://192.0.2.250:2379" ]', 'lease_ttl: 3', 'renew_interval: 1'], ['unicast_peer: [ 192.0.2.2 ]']).diagnostics);
    assert.ok(w.some((l) => /warning: with a 3 s lease, one lost renewal releases/.test(l)), w.join('\n'));
    assert.ok(w.some((l) => /unicast_peer: warning: ignored: VI_DB is elected on etcd/.test(l)), w.join('\n'));
  });

  test('not in a sync group', () => {
    const r = yaml(['endpoints: [ "http://192.0.2.250:2379" ]']);
    assert.ok(r.config);
    const f = join(dir, `c${n++}.yaml`);
    writeFileSync(f, ['vrrp_sync_group:', '  G:', '    group: [ VI_DB ]', 'vrrp_instance:', '  VI_DB:', '    interface: eth0', '    virtual_ipaddress: [ { address: 192.0.2.100/24 } ]', '    election: { etcd: { endpoints: [ "http://192.0.2.250:2379" ] } }', ''].join('\n'), { mode: 0o600 });
    assert.match(lines(loadConfigFile(f, host).diagnostics).join('\n'), /election: an instance elected on etcd cannot be in vrrp_sync_group G/);
  });

  test('keepalived.conf reaches it through its overlay', () => {
    const conf = join(dir, `k${n++}.conf`);
    writeFileSync(conf, 'vrrp_instance VI_DB {\n    interface eth0\n    virtual_router_id 51\n    priority 150\n    virtual_ipaddress {\n        192.0.2.100/24\n    }\n}\n');
    writeFileSync(conf + '.vigil.yaml', 'vrrp_instance:\n  VI_DB:\n    election:\n      etcd:\n        endpoints: [ "http://192.0.2.250:2379" ]\n        lease_ttl: 4\n', { mode: 0o600 });
    const r = loadConfigFile(conf, host);
    assert.deepEqual(lines(r.diagnostics), []);
    assert.equal(r.config?.vrrp_instance.VI_DB?.election?.etcd?.lease_ttl, 4);
  });

  test('status of an instance not running yet names the candidate as the engine will: name, else router_id, else the host name', () => {
    const nameIn = (r: ReturnType<typeof loadConfigFile>) => {
      assert.ok(r.config, lines(r.diagnostics).join('\n'));
      const trackers = { adjustments: {}, faults: [], effective: 150 };
      return instanceStatus(r.config, 'VI_DB', r.config.vrrp_instance.VI_DB!, undefined, false, trackers, []).election?.name;
    };
    const ep = 'endpoints: [ "http://192.0.2.250:2379" ]';
    assert.equal(nameIn(yaml([ep, 'name: db-a'])), 'db-a');
    assert.equal(nameIn(yaml([ep])), hostname());
    const f = join(dir, `c${n++}.yaml`);
    writeFileSync(f, ['global_defs: { router_id: lb-7 }', 'vrrp_instance:', '  VI_DB:', '    interface: eth0', '    priority: 150', '    virtual_ipaddress: [ { address: 192.0.2.100/24 } ]', `    election: { etcd: { ${ep} } }`, ''].join('\n'), { mode: 0o600 });
    assert.equal(nameIn(loadConfigFile(f, host)), 'lb-7');
  });
});
