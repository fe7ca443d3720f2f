// A load-balancer lab in network namespaces, keepalived's classic LVS-NAT layout:
//
//   client 192.0.2.200 --- front bridge --- lb1 192.0.2.1 / lb2 192.0.2.2       (VIP 192.0.2.100)
//                                           lb1 198.51.100.1 / lb2 198.51.100.2  (gateway VIP .254)
//   rs1..rsN 198.51.100.11.. --- back bridge ---+
//
// The real servers route through the gateway VIP, so replies come back through whichever
// balancer is Master (LVS NAT never rewrites the source). Each real server runs a small HTTP
// server (fixtures/http-name-server.mjs) that answers with its own name. Everything is removed by
// cleanup(), whatever happens (Lab from netns.ts: processes ended by PID, namespaces deleted).

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ChildProcess } from 'node:child_process';
import { bridge, Lab, plug, waitForOutput } from './netns.ts';

export const HTTP_SERVER = fileURLToPath(new URL('./fixtures/http-name-server.mjs', import.meta.url));
export const VIP = '192.0.2.100';
export const GATEWAY_VIP = '198.51.100.254';

export interface LvsLab {
  lab: Lab;
  dir: string;
  client: string;
  lbs: string[];
  rs: string[];
  /** The address of real server i (0-based). */
  rsAddress(i: number): string;
  /** Starts (or restarts) real server i's HTTP server on `port` (default 8080). */
  startServer(i: number, port?: number): Promise<ChildProcess>;
  /** The running HTTP servers, by `i:port`. */
  servers: Map<string, ChildProcess>;
}


export async function withLvsLab(opts: { balancers?: number; realServers?: number }, fn: (l: LvsLab) => Promise<void>): Promise<void> {
  const lab = new Lab();
  const dir = mkdtempSync(join(tmpdir(), 'vigil-lvs-'));
  const servers = new Map<string, ChildProcess>();
  try {
    const front = bridge(lab, 'front');
    const back = bridge(lab, 'back');
    const client = lab.addNamespace('client');
    plug(lab, front, client, 'eth0', 'p-client');
    lab.exec(client, 'ip', ['addr', 'add', '192.0.2.200/24', 'dev', 'eth0']);
    const lbs: string[] = [];
    for (let i = 1; i <= (opts.balancers ?? 2); i++) {
      const ns = lab.addNamespace(`lb${i}`);
      plug(lab, front, ns, 'eth0', `p-lb${i}f`);
      plug(lab, back, ns, 'eth1', `p-lb${i}b`);
      lab.exec(ns, 'ip', ['addr', 'add', `192.0.2.${i}/24`, 'dev', 'eth0']);
      lab.exec(ns, 'ip', ['addr', 'add', `198.51.100.${i}/24`, 'dev', 'eth1']);
      lab.exec(ns, 'sysctl', ['-q', '-w', 'net.ipv4.ip_forward=1']);
      lbs.push(ns);
    }
    const rs: string[] = [];
    const rsAddress = (i: number) => `198.51.100.${11 + i}`;
    for (let i = 0; i < (opts.realServers ?? 3); i++) {
      const ns = lab.addNamespace(`rs${i + 1}`);
      plug(lab, back, ns, 'eth0', `p-rs${i + 1}`);
      lab.exec(ns, 'ip', ['addr', 'add', `${rsAddress(i)}/24`, 'dev', 'eth0']);
      lab.exec(ns, 'ip', ['route', 'add', 'default', 'via', GATEWAY_VIP]);
      rs.push(ns);
    }
    const startServer = async (i: number, port = 8080): Promise<ChildProcess> => {
      const child = lab.spawn(rs[i] as string, process.execPath, [HTTP_SERVER, `rs${i + 1}`, rsAddress(i), String(port)]);
      await waitForOutput(child, /listening/, 10_000);
      servers.set(`${i}:${port}`, child);
      return child;
    };
    await fn({ lab, dir, client, lbs, rs, rsAddress, startServer, servers });
  } finally {
    await lab.cleanup();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** keepalived.conf for balancer `i` (1-based): the two VIPs in a sync group, and `vs` (the
 * virtual_server blocks). `globalDefs`: more global_defs lines (e.g. enable_script_security). */
export function balancerConf(i: number, vs: string, opts: { advertInt?: number; globalDefs?: string } = {}): string {
  const prio = i === 1 ? 150 : 100;
  const inst = (name: string, iface: string, vrid: number, vip: string) => `vrrp_instance ${name} {
    interface ${iface}
    virtual_router_id ${vrid}
    priority ${prio}
    advert_int ${opts.advertInt ?? 1}
    virtual_ipaddress {
        ${vip}
    }
}
`;
  return `global_defs {
    router_id lb${i}
${opts.globalDefs ?? ''}}
vrrp_sync_group VG {
    group {
        VI_FRONT
        VI_BACK
    }
}
${inst('VI_FRONT', 'eth0', 51, `${VIP}/24`)}${inst('VI_BACK', 'eth1', 52, `${GATEWAY_VIP}/24`)}${vs}`;
}
