// The load balancer's /metrics series: the keepalived exporter's LVS names and labels, from a
// data plane's counters, and vigil's pool state.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Registry } from 'prom-client';
import { registerLvsMetrics, type LvsSnapshot } from '../../src/control/lvs-metrics.ts';

test('keepalived_lvs_vip_* and keepalived_lvs_rs_* carry addr and proto as the exporter does; vigil_lvs_* the pool', async () => {
  const snap: LvsSnapshot = {
    status: [
      {
        name: '[192.0.2.100]:tcp:80',
        quorumUp: true,
        weight: 3,
        quorum: 1,
        sorryServerActive: false,
        realServers: [
          { name: '[198.51.100.11]:tcp:8080', alive: true, weight: 3, checks: [] },
          { name: '[198.51.100.12]:tcp:8080', alive: false, weight: 2, checks: [] },
        ],
      },
    ],
    state: {
      services: [
        { id: 'vs1', family: 4, match: { kind: 'address', addresses: ['192.0.2.100'], port: 80, protocol: 'tcp' }, algorithm: 'wrr', backends: [{ id: '198.51.100.11:8080', address: '198.51.100.11', port: 8080, weight: 3 }] },
        { id: 'fw', family: 4, match: { kind: 'fwmark', mark: 5 }, algorithm: 'rr', backends: [] },
      ],
    },
    counters: {
      services: { vs1: { packets: 10, bytes: 1000, connections: 4 }, fw: { packets: 1, bytes: 60, connections: 1 } },
      backends: { vs1: { '198.51.100.11:8080': { packets: 9, bytes: 900, connections: 3 } } },
    },
  };
  const registry = new Registry();
  registerLvsMetrics(registry, () => snap);
  const text = await registry.metrics();
  assert.match(text, /keepalived_lvs_vip_conn\{addr="192\.0\.2\.100:80",proto="6"\} 4/);
  assert.match(text, /keepalived_lvs_vip_in_bytes\{addr="192\.0\.2\.100:80",proto="6"\} 1000/);
  assert.match(text, /keepalived_lvs_vip_conn\{addr="FWM 5",proto="0"\} 1/);
  assert.match(text, /keepalived_lvs_rs_conn\{addr="198\.51\.100\.11:8080",proto="6"\} 3/);
  assert.match(text, /keepalived_lvs_rs_in_packets\{addr="198\.51\.100\.11:8080",proto="6"\} 9/);
  assert.match(text, /vigil_lvs_real_server_up\{virtual_server="\[192\.0\.2\.100\]:tcp:80",real_server="\[198\.51\.100\.12\]:tcp:8080"\} 0/);
  assert.match(text, /vigil_lvs_quorum_up\{virtual_server="\[192\.0\.2\.100\]:tcp:80"\} 1/);
});
