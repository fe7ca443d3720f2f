// Refreshes test/vectors/keepalived.json: the exact VRRP messages Debian's keepalived puts on
// the wire for each case in test/lib/keepalived-capture.ts (adverts and the priority-0 advert
// it sends on SIGTERM). Needs root (network namespaces), keepalived and tcpdump:
//
//   ./scripts/install-test-deps.sh && node --import tsx scripts/capture-keepalived-vectors.ts
import { writeFileSync } from 'node:fs';
import { captureKeepalived, KEEPALIVED_CASES } from '../test/lib/keepalived-capture.ts';

async function main(): Promise<void> {
  const cases = [];
  let version = '';
  for (const c of KEEPALIVED_CASES) {
    const r = await captureKeepalived(c);
    version = r.keepalivedVersion;
    const packets = r.packets.map((p) => ({ src: p.src, dst: p.dst, ttl: p.ttl, hex: p.vrrp.toString('hex') }));
    // one steady advert and the priority-0 goodbye are all a fixed vector needs
    const unique = packets.filter((p, i) => packets.findIndex((q) => q.hex === p.hex) === i);
    cases.push({ ...c, packets: unique });
    console.log(`${c.name}: ${packets.length} packets, ${unique.length} distinct`);
  }
  const out = { keepalivedVersion: version, capturedWith: 'scripts/capture-keepalived-vectors.ts', cases };
  writeFileSync(new URL('../test/vectors/keepalived.json', import.meta.url), JSON.stringify(out, null, 2) + '\n');
}

await main();
