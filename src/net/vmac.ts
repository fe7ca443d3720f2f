// use_vmac: a macvlan interface carrying the VRRP virtual MAC (00-00-5E-00-01-VRID for IPv4,
// 00-00-5E-00-02-VRID for IPv6), created and removed over rtnetlink, as keepalived does, so the
// VIPs move between routers without neighbours having to learn a new MAC.

import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { oneShotRtNetlink } from './rtnetlink.ts';
import type { Family } from '../vrrp/types.ts';
import { interfaceIndex } from './socket.ts';

const IFLA_INFO_KIND = 1;
const IFLA_INFO_DATA = 2;
const IFLA_MACVLAN_MODE = 1;
const MACVLAN_MODE_PRIVATE = 1;
const NLM_F_EXCL = 0x200;
const NLM_F_CREATE = 0x400;

export function virtualMac(vrid: number, family: Family): Buffer {
  return Buffer.from([0x00, 0x00, 0x5e, 0x00, family === 4 ? 0x01 : 0x02, vrid]);
}

/** keepalived's default names: vrrp.VRID, vrrp6.VRID. */
export function defaultVmacName(vrid: number, family: Family): string {
  return `${family === 4 ? 'vrrp' : 'vrrp6'}.${vrid}`;
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
 * is already there. Returns false if it existed. */
export async function ensureVmac(base: string, name: string, mac: Buffer): Promise<boolean> {
  const macText = [...mac].map((b) => b.toString(16).padStart(2, '0')).join(':');
  if (existsSync(`/sys/class/net/${name}`)) {
    const have = readFileSync(`/sys/class/net/${name}/address`, 'utf8').trim();
    if (have !== macText) throw new Error(`${name} exists with MAC ${have}, not the virtual MAC ${macText}`);
    return false;
  }
  const rt = oneShotRtNetlink();
  try {
    // The library types linkinfo as raw bytes: IFLA_INFO_KIND "macvlan", IFLA_INFO_DATA { mode }.
    const linkinfo = Buffer.concat([attr(IFLA_INFO_KIND, Buffer.from('macvlan\0')), attr(IFLA_INFO_DATA, attr(IFLA_MACVLAN_MODE, u32(MACVLAN_MODE_PRIVATE)))]);
    await rt.newLink(
      { flags: { up: true }, change: { up: true } },
      { ifname: name, link: u32(interfaceIndex(base)), address: mac, linkinfo },
      { flags: NLM_F_CREATE | NLM_F_EXCL },
    );
  } catch (e) {
    throw new Error(`creating ${name} on ${base}: ${(e as Error).message}`);
  } finally {
    rt.socket.close();
  }
  // keepalived's settings for a VMAC: answer ARP only for addresses on the VMAC itself, and
  // accept packets sourced from local addresses (our own VIPs)
  const sysctls: Array<[string, string]> = [
    ['arp_ignore', '1'],
    ['arp_filter', '1'],
    ['accept_local', '1'],
    ['rp_filter', '0'],
  ];
  for (const [key, value] of sysctls) {
    try {
      writeFileSync(`/proc/sys/net/ipv4/conf/${name}/${key}`, value);
    } catch {
      // IPv6-only hosts or read-only /proc: the VMAC still works, only less strictly
    }
  }
  return true;
}

export async function removeVmac(name: string): Promise<void> {
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
