// `npm run bench`: prints figures, asserts nothing (speed goals live here, not in tests).
//
//   codec     encode / decode throughput of typical adverts
//   sim       virtual-to-wall time ratio of the simulated LAN with a 5-router group
import { performance } from 'node:perf_hooks';
import { decodeAdvert, encodeAdvert } from '../src/vrrp/packet.ts';
import type { Advert } from '../src/vrrp/types.ts';
import { SECOND, SimLan } from '../test/sim/lan.ts';

function rate(n: number, ms: number): string {
  return `${Math.round((n / ms) * 1000).toLocaleString('en-US')}/s`;
}

function benchCodec(): void {
  const cases: Array<[string, Advert, { src: string; dst: string }]> = [
    [
      'v2 IPv4, 3 VIPs, password',
      {
        version: 2,
        family: 4,
        vrid: 51,
        priority: 150,
        intervalCs: 100,
        addresses: ['192.0.2.100', '192.0.2.101', '192.0.2.102'],
        authType: 'simple',
        authPassword: 'secret',
      },
      { src: '192.0.2.1', dst: '224.0.0.18' },
    ],
    [
      'v3 IPv6, 2 VIPs',
      {
        version: 3,
        family: 6,
        vrid: 52,
        priority: 100,
        intervalCs: 100,
        addresses: ['2001:db8::100', '2001:db8::101'],
        authType: 'none',
        authPassword: '',
      },
      { src: 'fe80::1', dst: 'ff02::12' },
    ],
  ];
  for (const [name, advert, ep] of cases) {
    const n = 200_000;
    let bytes = encodeAdvert(advert, ep);
    let t = performance.now();
    for (let i = 0; i < n; i++) bytes = encodeAdvert(advert, ep);
    const encMs = performance.now() - t;
    const opts = {
      family: advert.family,
      ...ep,
      ttl: 255,
      auth: { type: advert.authType, password: advert.authPassword },
    };
    t = performance.now();
    let ok = 0;
    for (let i = 0; i < n; i++) if (decodeAdvert(bytes, opts).ok) ok++;
    const decMs = performance.now() - t;
    if (ok !== n) throw new Error(`${name}: ${n - ok} decodes failed`);
    console.log(`codec  ${name.padEnd(28)} encode ${rate(n, encMs).padStart(12)}  decode ${rate(n, decMs).padStart(12)}`);
  }
}

function benchSim(): void {
  const lan = new SimLan();
  [200, 180, 160, 140, 120].forEach((priority, i) =>
    lan.addNode({ name: `R${i}`, address: `192.0.2.${i + 1}`, priority }),
  );
  lan.startAll();
  const virtual = 100_000 * SECOND;
  const heapBefore = process.memoryUsage().heapUsed;
  const t = performance.now();
  // a failover every 1,000 virtual seconds keeps every code path busy
  for (let at = 1000 * SECOND; at <= virtual; at += 1000 * SECOND) {
    lan.run(at);
    const m = lan.masters()[0];
    m?.kill();
    lan.run(at + 10 * SECOND);
    m?.start();
  }
  const ms = performance.now() - t;
  const heapMiB = (process.memoryUsage().heapUsed - heapBefore) / 2 ** 20;
  console.log(
    `sim    5 routers, ${virtual / SECOND} virtual s: ${ms.toFixed(0)} ms wall, ` +
      `${Math.round(virtual / 1000 / ms).toLocaleString('en-US')}x real time, ` +
      `${lan.packetsDelivered.toLocaleString('en-US')} packets, ${lan.transitions.length} transitions, ` +
      `heap +${heapMiB.toFixed(1)} MiB`,
  );
}

benchCodec();
benchSim();
