// use_vmac: a macvlan interface carrying the VRRP virtual MAC (00-00-5E-00-01-VRID for IPv4,
// 00-00-5E-00-02-VRID for IPv6), created and removed over rtnetlink, as keepalived does, so the
// VIPs move between routers without neighbours having to learn a new MAC.

import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { ipToBytes } from '../vrrp/ipaddr.ts';
import { oneShotRtNetlink } from './rtnetlink.ts';
import type { Family } from '../vrrp/types.ts';
import { interfaceIndex } from './socket.ts';

const IFLA_INFO_KIND = 1;
const IFLA_INFO_DATA = 2;
const IFLA_MACVLAN_MODE = 1;
const MACVLAN_MODE_PRIVATE = 1;
const NLM_F_EXCL = 0x200;
const NLM_F_CREATE = 0x400;
const AF_INET6 = 10;
const SCOPE_LINK = 253;

export function virtualMac(vrid: number, family: Family): Buffer {
  return Buffer.from([0x00, 0x00, 0x5e, 0x00, family === 4 ? 0x01 : 0x02, vrid]);
}

/** keepalived's default name, vrrp.VRID, for both families (keepalived 2.2 names an IPv6 VMAC
 * vrrp.VRID too; scripts and firewall rules written for it keep working). */
export function defaultVmacName(vrid: number, _family?: Family): string {
  return `vrrp.${vrid}`;
}

/** One netlink attribute (struct rtattr), padded to 4 bytes. */
function attr(type: number, payload: Buffer): Buffer {
  const len = 4 + payload.length;
  const b = Buffer.alloc((len + 3) & ~3);
  b.writeUInt16LE(len, 0);
  b.writeUInt16LE(type, 2);
  payload.copy(b, 4);
  return b;
}

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n);
  return b;
}

/** Creates the macvlan (up, private mode) unless an interface of that name with the right MAC
 * is already there. Returns false if it existed.
 *
 * `linkLocal`: IPv6 adverts are to leave from the VMAC (so switches learn the virtual MAC from
 * them), and their source must stay the base interface's link-local address, which the peers
 * know and the advert's checksum covers. The VMAC then gets no link-local of its own (address
 * generation off, set while it is still down: an "up" in the same request would generate one
 * first) and carries that address instead, as keepalived does. */
export async function ensureVmac(base: string, name: string, mac: Buffer, linkLocal?: string): Promise<boolean> {
  const macText = [...mac].map((b) => b.toString(16).padStart(2, '0')).join(':');
  if (existsSync(`/sys/class/net/${name}`)) {
    const have = readFileSync(`/sys/class/net/${name}/address`, 'utf8').trim();
    if (have !== macText) throw new Error(`${name} exists with MAC ${have}, not the virtual MAC ${macText}`);
    // left by a crashed run: make sure it still carries the address adverts leave from
    if (linkLocal) await addLinkLocal(name, linkLocal);
    holdBaseArp(base, name);
    return false;
  }
  const rt = oneShotRtNetlink();
  try {
    // The library types linkinfo as raw bytes: IFLA_INFO_KIND "macvlan", IFLA_INFO_DATA { mode }.
    const linkinfo = Buffer.concat([attr(IFLA_INFO_KIND, Buffer.from('macvlan\0')), attr(IFLA_INFO_DATA, attr(IFLA_MACVLAN_MODE, u32(MACVLAN_MODE_PRIVATE)))]);
    // created down, so that nothing leaves it before it is set up
    await rt.newLink({}, { ifname: name, link: u32(interfaceIndex(base)), address: mac, linkinfo }, { flags: NLM_F_CREATE | NLM_F_EXCL });
    if (linkLocal) {
      writeFileSync(`/proc/sys/net/ipv6/conf/${name}/addr_gen_mode`, '1'); // none
      await addLinkLocal(name, linkLocal);
    } else {
      // An IPv4 VMAC has no use for IPv6, and its router solicitations and MLD reports would
      // carry the virtual MAC from every Backup, teaching switches the wrong port (keepalived
      // turns IPv6 off on it too).
      try {
        writeFileSync(`/proc/sys/net/ipv6/conf/${name}/disable_ipv6`, '1');
      } catch {
        // no IPv6 on this host: nothing to silence
      }
    }
    await rt.setLink({ index: interfaceIndex(name), flags: { up: true }, change: { up: true } });
  } catch (e) {
    throw new Error(`creating ${name} on ${base}: ${(e as Error).message}`);
  } finally {
    rt.socket.close();
  }
  // keepalived's settings for a VMAC: answer ARP only for addresses on the VMAC itself (its
  // VIPs), accept packets sourced from local addresses (our own VIPs), no reverse-path filter,
  // and keep secondary VIPs when the first goes. Not arp_filter: the route back to a client
  // goes out of the base interface, so with it the VMAC would answer no ARP at all.
  const sysctls: Array<[string, string]> = [
    ['arp_ignore', '1'],
    ['accept_local', '1'],
    ['rp_filter', '0'],
    ['promote_secondaries', '1'],
  ];
  for (const [key, value] of sysctls) writeSysctl(name, key, value);
  holdBaseArp(base, name);
  return true;
}

function writeSysctl(ifname: string, key: string, value: string): void {
  try {
    writeFileSync(`/proc/sys/net/ipv4/conf/${ifname}/${key}`, value);
  } catch {
    // IPv6-only hosts or read-only /proc: the VMAC still works, only less strictly
  }
}

function readSysctl(ifname: string, key: string): string | undefined {
  try {
    return readFileSync(`/proc/sys/net/ipv4/conf/${ifname}/${key}`, 'utf8').trim();
  } catch {
    return undefined;
  }
}

// The base interface must not answer ARP for the VIPs on its VMACs: Linux answers for any local
// address on any interface, and a reply with the base MAC would undo what the VMAC is for (the
// client would learn the real MAC). As keepalived does, arp_ignore=1 and arp_filter=1 on the base
// while it has VMACs, and its own values back when the last one goes. Also arp_announce=2: the
// Master's own ARP requests (for a client it answers from a VIP) leave from the base, and with a
// VIP as their sender address they would teach the client the base MAC for the VIP.
const ARP_KEYS = ['arp_ignore', 'arp_filter', 'arp_announce'] as const;
const ARP_VALUES: Record<(typeof ARP_KEYS)[number], string> = { arp_ignore: '1', arp_filter: '1', arp_announce: '2' };
const baseArp = new Map<string, { saved: Map<string, string>; vmacs: Set<string> }>();

function holdBaseArp(base: string, vmac: string): void {
  let held = baseArp.get(base);
  if (!held) {
    const saved = new Map<string, string>();
    for (const key of ARP_KEYS) {
      const v = readSysctl(base, key);
      if (v !== undefined) saved.set(key, v);
    }
    held = { saved, vmacs: new Set() };
    baseArp.set(base, held);
    for (const key of ARP_KEYS) writeSysctl(base, key, ARP_VALUES[key]);
  }
  held.vmacs.add(vmac);
}

function releaseBaseArp(vmac: string): void {
  for (const [base, held] of baseArp) {
    if (!held.vmacs.delete(vmac) || held.vmacs.size > 0) continue;
    for (const [key, value] of held.saved) writeSysctl(base, key, value);
    baseArp.delete(base);
  }
}

/** The base interface's link-local address on the VMAC: no DAD (the base already owns it). */
async function addLinkLocal(name: string, address: string): Promise<void> {
  const rt = oneShotRtNetlink();
  try {
    const bytes = ipToBytes(address);
    await rt.newAddress(
      { family: AF_INET6, prefixlen: 64, index: interfaceIndex(name), scope: SCOPE_LINK },
      { local: bytes, address: bytes, flags: { nodad: true } },
    );
  } catch (e) {
    if (!/EEXIST/.test((e as Error).message)) throw new Error(`adding ${address} to ${name}: ${(e as Error).message}`);
  } finally {
    rt.socket.close();
  }
}

export async function removeVmac(name: string): Promise<void> {
  releaseBaseArp(name);
  if (!existsSync(`/sys/class/net/${name}`)) return;
  const rt = oneShotRtNetlink();
  try {
    await rt.delLink({ index: interfaceIndex(name) });
  } catch (e) {
    if (!/ENODEV/.test((e as Error).message)) throw new Error(`removing ${name}: ${(e as Error).message}`);
  } finally {
    rt.socket.close();
  }
}
