// The load balancer's Prometheus series, under the names of the community keepalived exporter's
// LVS collector (gen2brain/keepalived_exporter: `keepalived_lvs_vip_*` and `keepalived_lvs_rs_*`
// with `addr` = "ip:port" and `proto` = the protocol number), read from the data plane's
// counters at scrape time; and vigil's own state series (`vigil_lvs_*`). The exporter reads
// IPVS, which counts both directions; the nftables data plane counts the packets and bytes of
// balanced connections as it forwards them (nft-ruleset.ts), published as the `in_` series, and
// connections as `conn`.

import { Counter, Gauge, type Registry } from 'prom-client';
import type { VirtualServerStatus } from '../lvs/balancer.ts';
import type { DataPlaneCounters, DesiredState, Service } from '../lvs/model.ts';

export interface LvsSnapshot {
  status: VirtualServerStatus[];
  state: DesiredState;
  counters: DataPlaneCounters | undefined;
}

export interface LvsSource {
  readonly active: boolean;
  status(): VirtualServerStatus[];
  desired(): DesiredState;
  counters(): Promise<DataPlaneCounters>;
}

/** One snapshot per scrape (counters come from `nft`: asked once, and a failure leaves only them
 * out). */
export async function lvsSnapshot(src: LvsSource | undefined): Promise<LvsSnapshot | undefined> {
  if (!src?.active) return undefined;
  return { status: src.status(), state: src.desired(), counters: await src.counters().catch(() => undefined) };
}

const PROTO: Record<string, string> = { tcp: '6', udp: '17' };

function vipLabels(s: Service): Array<{ addr: string; proto: string }> {
  if (s.match.kind === 'fwmark') return [{ addr: `FWM ${s.match.mark}`, proto: '0' }];
  const { port, protocol } = s.match;
  return s.match.addresses.map((a) => ({ addr: `${a.includes(':') ? `[${a}]` : a}:${port ?? 0}`, proto: PROTO[protocol] ?? '0' }));
}

export function registerLvsMetrics(registry: Registry, snapshot: () => LvsSnapshot | undefined): void {
  const registers = [registry];
  const series = (scope: 'vip' | 'rs', what: 'conn' | 'in_packets' | 'in_bytes', help: string) =>
    new Counter({
      name: `keepalived_lvs_${scope}_${what}`,
      help,
      labelNames: ['addr', 'proto'],
      registers,
      collect() {
        this.reset();
        const snap = snapshot();
        if (!snap?.counters) return;
        const pick = what === 'conn' ? 'connections' : what === 'in_packets' ? 'packets' : 'bytes';
        for (const s of snap.state.services) {
          const labels = vipLabels(s);
          if (scope === 'vip') {
            const c = snap.counters.services[s.id];
            // a group's counter covers all its addresses: published once, on its first address
            if (c && labels[0]) this.inc(labels[0], c[pick]);
            continue;
          }
          const proto = labels[0]?.proto ?? '0';
          for (const [id, c] of Object.entries(snap.counters.backends[s.id] ?? {})) {
            const addr = id.includes(':') && !id.includes('.') ? `[${id}]` : id;
            this.inc({ addr: /:\d+$/.test(addr) ? addr : `${addr}:0`, proto }, c[pick]);
          }
        }
      },
    });
  series('vip', 'conn', 'Connections to the virtual server');
  series('vip', 'in_packets', 'Packets of connections to the virtual server');
  series('vip', 'in_bytes', 'Bytes of connections to the virtual server');
  series('rs', 'conn', 'Connections sent to the real server');
  series('rs', 'in_packets', 'Packets of connections sent to the real server');
  series('rs', 'in_bytes', 'Bytes of connections sent to the real server');

  new Gauge({
    name: 'vigil_lvs_real_server_up',
    help: 'Whether the real server is in its virtual server pool (all its checks pass)',
    labelNames: ['virtual_server', 'real_server'],
    registers,
    collect() {
      this.reset();
      for (const vs of snapshot()?.status ?? []) for (const rs of vs.realServers) this.set({ virtual_server: vs.name, real_server: rs.name }, rs.alive ? 1 : 0);
    },
  });
  new Gauge({
    name: 'vigil_lvs_quorum_up',
    help: 'Whether the virtual server has its quorum (0: lost; the sorry server serves if one is set)',
    labelNames: ['virtual_server'],
    registers,
    collect() {
      this.reset();
      for (const vs of snapshot()?.status ?? []) this.set({ virtual_server: vs.name }, vs.quorumUp ? 1 : 0);
    },
  });
}
