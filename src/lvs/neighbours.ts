// Direct routing's layer 2 facts: which local interface each real server is on, the balancer's
// own MAC there, and the real server's MAC, learnt from the kernel's neighbour table.
//
// DR hands a client's frame to the real server's MAC on the balancer's own link (LVS.md 11.2),
// so a real server must be on a directly connected subnet (`onLink`, also used by vigil -t), and
// its MAC must be known. The kernel resolves it with ARP / Neighbor Discovery whenever something
// sends to the address (the TCP_CHECKs do, every delay_loop); a server with no entry yet is
// prodded with one empty UDP datagram to its discard port (9), which makes the kernel resolve
// the address first. The table is read with `ip -j neigh show` once a second (a child process
// on the engine loop, like nft: nothing blocks an advert); the balancer is told when a MAC
// appears or changes, and applies again. A known MAC is kept when its entry goes (garbage
// collection, FAILED with no address): the real server's checks, not the neighbour cache, say
// whether it serves. A server with no known MAC stays out of the pool, with one log line when
// that starts and one when it ends.

import { execFile } from 'node:child_process';
import { createSocket, type Socket } from 'node:dgram';
import { isIP } from 'node:net';
import { networkInterfaces } from 'node:os';
import type { Logger } from '../daemon/log.ts';

/** One address of a local interface, with its prefix. */
export interface LocalSubnet {
  ifname: string;
  address: string;
  prefix: number;
  family: 4 | 6;
  mac: string;
}

/** The host's interface addresses (loopback and link-local ones left out: DR needs a shared
 * segment with a routable subnet). */
export function localSubnets(): LocalSubnet[] {
  const out: LocalSubnet[] = [];
  for (const [ifname, list] of Object.entries(networkInterfaces())) {
    for (const a of list ?? []) {
      if (a.internal || !a.cidr) continue;
      const family = a.family === 'IPv4' ? 4 : 6;
      if (family === 6 && /^fe80:/i.test(a.address)) continue;
      out.push({ ifname, address: a.address, prefix: Number(a.cidr.split('/')[1]), family, mac: a.mac });
    }
  }
  return out;
}

function toBig(ip: string): bigint {
  if (isIP(ip) === 4) return ip.split('.').reduce((n, o) => (n << 8n) | BigInt(Number(o)), 0n);
  let a = ip.split('%')[0] as string;
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(a);
  if (v4?.[1]) {
    const n = Number(toBig(v4[1]));
    a = a.slice(0, -v4[1].length) + `${(n >>> 16).toString(16)}:${(n & 0xffff).toString(16)}`;
  }
  const [head = '', tail] = a.split('::');
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const groups = tail === undefined ? h : [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t];
  return groups.reduce((n, g) => (n << 16n) | BigInt(parseInt(g || '0', 16)), 0n);
}

/** `address` is inside `subnet`'s prefix (and is not the interface's own address). */
export function inSubnet(address: string, subnet: LocalSubnet): boolean {
  const fam = isIP(address);
  if (fam !== subnet.family) return false;
  const bits = BigInt(fam === 4 ? 32 : 128);
  const host = (1n << (bits - BigInt(subnet.prefix))) - 1n;
  const a = toBig(address);
  const s = toBig(subnet.address);
  return a !== s && (a & ~host) === (s & ~host);
}

/** The interface `address` is directly connected on (the longest matching prefix), or undefined. */
export function onLink(address: string, subnets: LocalSubnet[]): LocalSubnet | undefined {
  let best: LocalSubnet | undefined;
  for (const s of subnets) if (inSubnet(address, s) && (!best || s.prefix > best.prefix)) best = s;
  return best;
}

/** `ifname a.b.c.d/len, ...`, for messages. */
export function describeSubnets(subnets: LocalSubnet[]): string {
  return subnets.length === 0 ? 'none' : subnets.map((s) => `${s.ifname} ${s.address}/${s.prefix}`).join(', ');
}

/** One entry of `ip -j neigh show`. */
export interface NeighbourEntry {
  dst: string;
  dev: string;
  lladdr?: string;
  state?: string[];
}

/** Where a DR backend is: its interface, the balancer's MAC there, and its own MAC. */
export interface Placement {
  ifname: string;
  ownMac: string;
  mac: string;
}

export interface NeighboursOptions {
  log: Logger;
  /** A MAC appeared, changed, or the interface did: the balancer applies again. */
  onChange: () => void;
  /** How often the table is read; default 1000 ms. */
  pollMs?: number;
  /** Reads the neighbour table; default `ip -j neigh show`. */
  read?: () => Promise<NeighbourEntry[]>;
  /** The local subnets; default localSubnets(). */
  subnets?: () => LocalSubnet[];
  /** Makes the kernel resolve `address` (default: one UDP datagram to its port 9). */
  prod?: (address: string) => void;
}

interface Known {
  ifname?: string;
  ownMac?: string;
  mac?: string;
  /** Why it has no placement, as last logged. */
  missing?: string;
}

/** DR placement of the addresses the balancer asks for, kept up to date. */
export class Neighbours {
  private readonly known = new Map<string, Known>();
  private timer: NodeJS.Timeout | undefined;
  private sockets: { 4?: Socket; 6?: Socket } = {};
  private refreshing: Promise<void> | undefined;
  private stopped = false;

  constructor(private readonly o: NeighboursOptions) {}

  /** The addresses to follow (real and sorry servers of DR virtual servers); resolves after one
   * read of the table, so a first apply already has every MAC the kernel knows. */
  async track(addresses: Iterable<string>): Promise<void> {
    const want = new Set(addresses);
    for (const a of [...this.known.keys()]) if (!want.has(a)) this.known.delete(a);
    for (const a of want) if (!this.known.has(a)) this.known.set(a, {});
    if (want.size === 0) {
      clearTimeout(this.timer);
      this.timer = undefined;
      return;
    }
    await this.refresh(false);
    this.schedule();
  }

  /** Where `address` is, if its interface and MAC are known. */
  placement(address: string): Placement | undefined {
    const k = this.known.get(address);
    return k?.ifname && k.ownMac && k.mac ? { ifname: k.ifname, ownMac: k.ownMac, mac: k.mac } : undefined;
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    for (const s of Object.values(this.sockets)) s.close();
    this.sockets = {};
  }

  private schedule(): void {
    if (this.stopped || this.timer || this.known.size === 0) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.refresh(true).finally(() => this.schedule());
    }, this.o.pollMs ?? 1000);
    this.timer.unref();
  }

  /** One read of the table; tells the balancer when anything changed (`notify`). */
  private refresh(notify: boolean): Promise<void> {
    this.refreshing ??= this.readOnce(notify).finally(() => (this.refreshing = undefined));
    return this.refreshing;
  }

  private async readOnce(notify: boolean): Promise<void> {
    let entries: NeighbourEntry[];
    try {
      entries = await (this.o.read ?? readNeighbourTable)();
    } catch (e) {
      this.o.log.warn(`LVS: reading the neighbour table: ${(e as Error).message}`);
      return;
    }
    if (this.stopped) return;
    const subnets = (this.o.subnets ?? localSubnets)();
    let changed = false;
    for (const [address, k] of this.known) {
      const link = onLink(address, subnets);
      let missing: string | undefined;
      if (!link) {
        missing = `it is not on a directly connected subnet here (${describeSubnets(subnets)}); DR reaches real servers on the balancer's own link only`;
        if (k.ifname || k.mac) changed = true;
        k.ifname = undefined;
        k.ownMac = undefined;
        k.mac = undefined;
      } else {
        if (k.ifname !== link.ifname || k.ownMac !== link.mac) {
          // another interface: a MAC learnt on the old one means nothing here
          if (k.ifname !== link.ifname) k.mac = undefined;
          k.ifname = link.ifname;
          k.ownMac = link.mac;
          changed = true;
        }
        const e = entries.find((n) => n.dst === address && n.dev === link.ifname && n.lladdr);
        const mac = e?.lladdr?.toLowerCase();
        if (mac && /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/.test(mac) && mac !== k.mac) {
          if (k.mac) this.o.log.warn(`LVS: real server ${address} moved from MAC ${k.mac} to ${mac} on ${link.ifname}`);
          k.mac = mac;
          changed = true;
        }
        if (!k.mac) {
          missing = `its MAC address on ${link.ifname} is not in the neighbour table yet (resolving)`;
          this.prod(address);
        }
      }
      if (missing !== undefined && missing !== k.missing) this.o.log.warn(`LVS: real server ${address} stays out of the DR pool: ${missing}`);
      else if (missing === undefined && k.missing !== undefined) this.o.log.info(`LVS: real server ${address} is at ${k.mac} on ${k.ifname}: in the DR pool`);
      k.missing = missing;
    }
    if (changed && notify) this.o.onChange();
  }

  private prod(address: string): void {
    if (this.o.prod) return this.o.prod(address);
    const fam = isIP(address) === 6 ? 6 : 4;
    let s = this.sockets[fam];
    if (!s) {
      s = createSocket(fam === 6 ? 'udp6' : 'udp4');
      s.on('error', () => undefined); // unreachable and the like: the next read tells
      s.unref();
      this.sockets[fam] = s;
    }
    s.send(Buffer.alloc(0), 9, address, () => undefined);
  }
}

/** `ip -j neigh show`, both families. */
export function readNeighbourTable(): Promise<NeighbourEntry[]> {
  return new Promise((resolve, reject) => {
    execFile('ip', ['-j', 'neigh', 'show'], { timeout: 5000, maxBuffer: 16 * 1024 * 1024, encoding: 'utf8' }, (err, stdout, stderr) => {
      if (err) return reject(new Error(`ip -j neigh show: ${stderr.trim() || err.message}`));
      try {
        const parsed = JSON.parse(stdout || '[]') as NeighbourEntry[];
        resolve(Array.isArray(parsed) ? parsed : []);
      } catch (e) {
        reject(new Error(`ip -j neigh show: ${(e as Error).message}`));
      }
    });
  });
}
