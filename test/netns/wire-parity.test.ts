// IP-level marking on the wire, vigil beside keepalived (issue 14, "On the wire"): adverts leave
// with TOS 0xc0 (IPv4: multicast, unicast through the kernel's IP header, and unicast from a
// unicast_src_ip that is not the interface's primary address, where vigil writes the IP header
// itself) and traffic class 0xc0 (IPv6); unsolicited Neighbor Advertisements carry the Router
// flag exactly when IPv6 forwarding is on. The same keepalived.conf runs under vigil and under
// Debian's keepalived, each in a fresh namespace pair, with forwarding off and on; tcpdump in
// the peer namespace writes a pcap and both daemons must put the same values on the wire.
// Needs root (network namespaces): fails otherwise.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { isRoot, stopChild, waitForOutput, withPair } from '../lib/netns.ts';
import { exited, startKeepalived, startVigil, type DaemonHandle } from '../lib/daemon.ts';
import { readPcapNa, readPcapVrrp } from '../lib/pcap.ts';
import { VRRP_TOS } from '../../src/vrrp/types.ts';

const CONF = `global_defs {
    router_id wire_parity
}
vrrp_instance M4 {
    state MASTER
    interface eth0
    virtual_router_id 61
    priority 150
    advert_int 1
    virtual_ipaddress {
        192.0.2.100/32
    }
}
vrrp_instance U4 {
    state MASTER
    interface eth0
    virtual_router_id 62
    priority 150
    advert_int 1
    unicast_src_ip 192.0.2.1
    unicast_peer {
        192.0.2.2
    }
    virtual_ipaddress {
        192.0.2.101/32
    }
}
vrrp_instance S4 {
    state MASTER
    interface eth0
    virtual_router_id 63
    priority 150
    advert_int 1
    unicast_src_ip 192.0.2.3
    unicast_peer {
        192.0.2.2
    }
    virtual_ipaddress {
        192.0.2.102/32
    }
}
vrrp_instance M6 {
    state MASTER
    interface eth0
    virtual_router_id 64
    version 3
    priority 150
    advert_int 1
    virtual_ipaddress {
        2001:db8::100/64
    }
}
`;

/** What one daemon put on the wire: per instance, the set of TOS / traffic class values of its
 * adverts, and the NA flags for the IPv6 VIP. */
interface Wire {
  adverts: Record<string, { src: string; dst: string; tos: number[] }>;
  na: { count: number; router: boolean[]; override: boolean[]; solicited: boolean[]; trafficClass: number[]; hopLimit: number[] };
}

const INSTANCES: Record<number, string> = { 61: 'M4', 62: 'U4', 63: 'S4', 64: 'M6' };

async function capture(daemon: 'vigil' | 'keepalived', forwarding: boolean): Promise<Wire> {
  let wire: Wire | undefined;
  await withPair(['r', 'peer'], async ({ lab, dir, a: r, b: peer }) => {
    // a secondary address: S4's unicast_src_ip is not the one the kernel would pick
    lab.exec(r, 'ip', ['addr', 'add', '192.0.2.3/24', 'dev', 'eth0']);
    lab.exec(r, 'sysctl', ['-q', '-w', `net.ipv6.conf.all.forwarding=${forwarding ? 1 : 0}`]);
    assert.equal(lab.exec(r, 'cat', ['/proc/sys/net/ipv6/conf/eth0/forwarding']).trim(), forwarding ? '1' : '0');
    const conf = join(dir, 'keepalived.conf');
    writeFileSync(conf, CONF);
    const pcap = join(dir, 'wire.pcap');
    const dump = lab.spawn(peer, 'tcpdump', ['-i', 'eth0', '-n', '-U', '-w', pcap, 'ip proto 112 or ip6 proto 112 or (icmp6 and ip6[40] == 136)']);
    await waitForOutput(dump, /listening on/, 10_000);
    const d: DaemonHandle = daemon === 'vigil' ? startVigil(lab, r, conf) : startKeepalived(lab, r, conf, dir);
    for (const name of ['M4', 'U4', 'S4', 'M6']) await d.waitFor(new RegExp(`\\(${name}\\) Entering MASTER STATE`), 20_000);
    await new Promise((res) => setTimeout(res, 2200)); // two more adverts each
    d.child.kill('SIGTERM');
    await exited(d.child);
    await new Promise((res) => setTimeout(res, 300)); // the priority-0 adverts reach the pcap
    await stopChild(dump, 'SIGINT');

    const file = readFileSync(pcap);
    const adverts: Wire['adverts'] = {};
    for (const p of readPcapVrrp(file)) {
      const name = INSTANCES[p.vrrp[1] ?? 0];
      if (!name) continue;
      const a = (adverts[name] ??= { src: p.src, dst: p.dst, tos: [] });
      assert.equal(`${p.src} > ${p.dst}`, `${a.src} > ${a.dst}`, `${daemon} ${name}: one source and destination`);
      if (!a.tos.includes(p.tos)) a.tos.push(p.tos);
    }
    const nas = readPcapNa(file).filter((n) => n.target === '2001:db8::100');
    const uniq = <T>(xs: T[]) => [...new Set(xs)];
    wire = {
      adverts,
      na: {
        count: nas.length,
        router: uniq(nas.map((n) => n.router)),
        override: uniq(nas.map((n) => n.override)),
        solicited: uniq(nas.map((n) => n.solicited)),
        trafficClass: uniq(nas.map((n) => n.trafficClass)),
        hopLimit: uniq(nas.map((n) => n.hopLimit)),
      },
    };
  });
  assert.ok(wire);
  return wire;
}

for (const forwarding of [false, true]) {
  test(`TOS / traffic class 0xc0 on adverts, NA router flag ${forwarding ? 'set with' : 'clear without'} IPv6 forwarding: vigil as keepalived`, { timeout: 120_000 }, async () => {
    assert.ok(isRoot, 'this test needs root (ip netns add); CI runs as root');
    const results: Record<string, Wire> = {};
    for (const daemon of ['keepalived', 'vigil'] as const) {
      const w = await capture(daemon, forwarding);
      results[daemon] = w;
      const what = `${daemon}, forwarding ${forwarding ? 'on' : 'off'}: ${JSON.stringify(w)}`;
      assert.deepEqual(
        Object.fromEntries(Object.entries(w.adverts).map(([k, v]) => [k, `${v.src} > ${v.dst}`])),
        { M4: '192.0.2.1 > 224.0.0.18', U4: '192.0.2.1 > 192.0.2.2', S4: '192.0.2.3 > 192.0.2.2', M6: `${w.adverts.M6?.src ?? '?'} > ff02::12` },
        what,
      );
      assert.match(w.adverts.M6?.src ?? '', /^fe80:/, what);
      for (const [name, a] of Object.entries(w.adverts)) assert.deepEqual(a.tos, [VRRP_TOS], `${name} TOS / traffic class; ${what}`);
      assert.ok(w.na.count >= 1, `an unsolicited NA for 2001:db8::100; ${what}`);
      assert.deepEqual(w.na.router, [forwarding], `NA router flag; ${what}`);
      assert.deepEqual(w.na.override, [true], what);
      assert.deepEqual(w.na.solicited, [false], what);
      assert.deepEqual(w.na.hopLimit, [255], what);
    }
    // the same marking from both, NAs included (their traffic class too)
    const marks = (w: Wire) => ({
      adverts: Object.fromEntries(Object.entries(w.adverts).map(([k, v]) => [k, v.tos])),
      na: { ...w.na, count: undefined },
    });
    assert.deepEqual(marks(results.vigil!), marks(results.keepalived!));
  });
}
