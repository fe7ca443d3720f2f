// Runs Debian's keepalived as the only router of a virtual router in a namespace, captures
// what it puts on the wire from a peer namespace with tcpdump, and stops it cleanly (so the
// priority-0 advert is captured too). Used by the interop test on every CI run and by
// scripts/capture-keepalived-vectors.ts to refresh the fixed vectors.

import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Lab, stopChild, waitForOutput } from './netns.ts';
import { readPcapVrrp, type CapturedVrrp } from './pcap.ts';

export interface KeepalivedCase {
  name: string;
  version: 2 | 3;
  family: 4 | 6;
  vrid: number;
  priority: number;
  advertIntervalS: number;
  vips: string[];
  authPass?: string;
  /** Address of keepalived's interface (IPv4 cases); IPv6 cases use the link-local. */
  routerAddress: string;
}

export const KEEPALIVED_CASES: KeepalivedCase[] = [
  {
    name: 'v2-noauth',
    version: 2,
    family: 4,
    vrid: 51,
    priority: 150,
    advertIntervalS: 1,
    vips: ['192.0.2.100', '192.0.2.101', '198.51.100.7'],
    routerAddress: '192.0.2.1',
  },
  {
    name: 'v2-pass',
    version: 2,
    family: 4,
    vrid: 52,
    priority: 120,
    advertIntervalS: 1,
    vips: ['192.0.2.110', '192.0.2.111'],
    authPass: 's3cret',
    routerAddress: '192.0.2.1',
  },
  {
    name: 'v3-ipv4',
    version: 3,
    family: 4,
    vrid: 53,
    priority: 200,
    advertIntervalS: 1,
    vips: ['203.0.113.10', '203.0.113.11', '203.0.113.12'],
    routerAddress: '192.0.2.1',
  },
  {
    name: 'v3-ipv6',
    version: 3,
    family: 6,
    vrid: 54,
    priority: 100,
    advertIntervalS: 1,
    vips: ['2001:db8::100', '2001:db8:0:1::abcd'],
    routerAddress: 'fe80::1',
  },
];

export interface CapturedCase {
  keepalivedVersion: string;
  packets: CapturedVrrp[];
}

export function keepalivedVersion(): string {
  // keepalived prints its version on stderr
  const r = spawnSync('keepalived', ['--version'], { encoding: 'utf8' });
  const out = `${r.stdout}${r.stderr}`;
  return /Keepalived v(\S+)/.exec(out)?.[1] ?? 'unknown';
}

function keepalivedConf(c: KeepalivedCase): string {
  const lines = [
    'global_defs {',
    `  router_id vigil_capture_${c.name}`,
    c.version === 3 ? '  vrrp_version 3' : '',
    '}',
    `vrrp_instance VI_${c.vrid} {`,
    '  state MASTER',
    '  interface eth0',
    `  virtual_router_id ${c.vrid}`,
    `  priority ${c.priority}`,
    `  advert_int ${c.advertIntervalS}`,
    c.version === 3 ? '  version 3' : '',
    c.authPass ? `  authentication {\n    auth_type PASS\n    auth_pass ${c.authPass}\n  }` : '',
    '  virtual_ipaddress {',
    ...c.vips.map((v) => `    ${v}${v.includes(':') ? '/64' : '/32'}`),
    '  }',
    '}',
  ];
  return lines.filter(Boolean).join('\n') + '\n';
}

/** Runs one case: keepalived until it has sent `adverts` adverts, then SIGTERM. */
export async function captureKeepalived(c: KeepalivedCase, adverts = 2): Promise<CapturedCase> {
  const lab = new Lab();
  const dir = mkdtempSync(join(tmpdir(), 'vigil-ka-'));
  try {
    const router = lab.addNamespace('ka');
    const peer = lab.addNamespace('peer');
    lab.veth(router, 'eth0', peer, 'eth0');
    if (c.family === 4) {
      lab.exec(router, 'ip', ['addr', 'add', `${c.routerAddress}/24`, 'dev', 'eth0']);
      lab.exec(peer, 'ip', ['addr', 'add', '192.0.2.2/24', 'dev', 'eth0']);
    } else {
      lab.exec(router, 'ip', ['addr', 'add', `${c.routerAddress}/64`, 'dev', 'eth0', 'scope', 'link']);
      lab.exec(peer, 'ip', ['addr', 'add', '2001:db8::2/64', 'dev', 'eth0']);
    }
    const conf = join(dir, 'keepalived.conf');
    writeFileSync(conf, keepalivedConf(c));
    const pcap = join(dir, 'capture.pcap');
    const filter = c.family === 4 ? 'ip proto 112' : 'ip6 proto 112';
    const tcpdump = lab.spawn(peer, 'tcpdump', ['-i', 'eth0', '-n', '-U', '-w', pcap, filter]);
    await waitForOutput(tcpdump, /listening on/, 10_000);
    const ka = lab.spawn(router, 'keepalived', [
      '--dont-fork',
      '--log-console',
      '--log-detail',
      '--no-syslog',
      '--vrrp',
      '-f',
      conf,
      '-p',
      join(dir, 'keepalived.pid'),
      '-r',
      join(dir, 'vrrp.pid'),
    ]);
    // keepalived logs each transition; wait for mastership plus the adverts we want
    await waitForOutput(ka, /Entering MASTER STATE/, 15_000);
    await new Promise((r) => setTimeout(r, (adverts - 1) * c.advertIntervalS * 1000 + 300));
    await stopChild(ka);
    await new Promise((r) => setTimeout(r, 300)); // let tcpdump write the priority-0 advert
    await stopChild(tcpdump, 'SIGINT');
    return { keepalivedVersion: keepalivedVersion(), packets: readPcapVrrp(readFileSync(pcap)) };
  } finally {
    await lab.cleanup();
    rmSync(dir, { recursive: true, force: true });
  }
}
