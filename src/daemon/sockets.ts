// Socket and VMAC wiring: one receiving socket per interface and family, shared by the
// instances on it (frames dispatched by VRID), and the sockets an instance sends from when the
// shared one will not do (use_vmac, or an IPv4 source other than the kernel's choice). Every
// frame goes through vrrp/receive.ts: a decoded advert to its instance, a drop counted by the
// instance it was for, or, before any instance, under the interface.

import type { VrrpInstanceConfig } from '../config/schema.ts';
import { VrrpSocket } from '../net/socket.ts';
import { defaultVmacName, ensureVmac, virtualMac } from '../net/vmac.ts';
import type { InstanceConfig, VrrpInstance } from '../vrrp/instance.ts';
import { receiveFrame, type DropReason, type Frame } from '../vrrp/receive.ts';
import type { Family } from '../vrrp/types.ts';
import type { Logger } from './log.ts';

export interface SocketPorts {
  log: Logger;
  /** A frame dropped before any instance (broken IP header, not VRRP, a VRID nobody here has). */
  interfaceDrop(ifname: string, reason: DropReason, detail: string): void;
}

interface Shared {
  socket: VrrpSocket;
  byVrid: Map<number, VrrpInstance>;
}

/** Where an instance's adverts leave from, and its VMAC if it has one. */
export interface InstanceSockets {
  vmac: string | undefined;
  /** Its own send (and, on a VMAC, receive) socket; undefined = the shared one. */
  ownSocket: VrrpSocket | undefined;
  /** Call once the instance exists, before any frame can reach it. */
  attach(instance: VrrpInstance): void;
}

export class SocketRegistry {
  private readonly shared = new Map<string, Shared>();

  constructor(private readonly ports: SocketPorts) {}

  /** The shared socket of an interface and family, opened on first use. */
  socketFor(key: string, ifname: string, family: Family): VrrpSocket {
    let entry = this.shared.get(key);
    if (!entry) {
      const byVrid = new Map<number, VrrpInstance>();
      entry = { socket: new VrrpSocket({ family, interface: ifname, ...this.receiving(ifname, (vrid) => byVrid.get(vrid)) }), byVrid };
      this.shared.set(key, entry);
    }
    return entry.socket;
  }

  register(key: string, vrid: number, instance: VrrpInstance): void {
    this.shared.get(key)?.byVrid.set(vrid, instance);
  }

  unregister(key: string, vrid: number): void {
    this.shared.get(key)?.byVrid.delete(vrid);
  }

  /** use_vmac: the instance's macvlan with the virtual MAC, created (or reused after a crash).
   * An IPv6 advert's source must stay the link-local address the checksum was computed with:
   * the VMAC carries that very address when adverts leave from it (see ensureVmac). */
  async ensureVmac(name: string, inst: VrrpInstanceConfig, cfg: InstanceConfig): Promise<string> {
    const vmac = vmacName(inst, cfg);
    const linkLocal = sendsFromVmac(inst, cfg) && cfg.family === 6 ? cfg.primaryAddress : undefined;
    if (await ensureVmac(inst.interface, vmac, virtualMac(cfg.vrid, cfg.family), linkLocal)) this.ports.log.info(`(${name}) created ${vmac} on ${inst.interface}`);
    return vmac;
  }

  /** The socket an instance sends from when the shared one will not do. `primary` is the
   * address the kernel would choose; `vmac` its macvlan (ensureVmac), if any. */
  instanceSockets(inst: VrrpInstanceConfig, cfg: InstanceConfig, primary: string, vmac: string | undefined): InstanceSockets {
    const { log } = this.ports;
    // use_vmac: VIPs live on a macvlan with the virtual MAC, and adverts leave from it (unless
    // vmac_xmit_base) so their source MAC is the virtual one; adverts are received on the base
    // interface's shared socket. A non-link-local IPv6 source (unicast_src_ip) stays on the
    // base interface.
    let ownSocket: VrrpSocket | undefined;
    let target: VrrpInstance | undefined; // set by attach(), before any packet can arrive
    if (vmac && sendsFromVmac(inst, cfg)) {
      // This socket also listens. A multicast frame whose source MAC is the MAC of a local
      // macvlan is taken for that macvlan's own and handed to it alone, not to the base
      // interface: the peers' adverts, sent from this same VMAC, arrive here. (Adverts of a
      // peer without a VMAC still arrive on the base interface's socket.)
      // IPv4: the VMAC's only addresses are the VIPs (none at all before the first takeover),
      // so the kernel would pick one of them as the source; the advert's source must be the
      // base interface's address, which peers know and a v3 checksum covers: this socket
      // writes its own IP header.
      ownSocket = new VrrpSocket({
        family: cfg.family,
        interface: vmac,
        ...(cfg.family === 4 ? { source: cfg.primaryAddress } : {}),
        ...this.receiving(vmac, (vrid) => (vrid === cfg.vrid ? target : undefined)),
      });
    }
    // unicast_src_ip / mcast_src_ip other than the address the kernel would choose: a send
    // socket that writes its own IP header
    if (!ownSocket && cfg.family === 4 && cfg.primaryAddress !== primary) {
      const source = cfg.primaryAddress;
      ownSocket = new VrrpSocket({ family: 4, interface: inst.interface, group: null, source, onFrame: () => undefined, onError: (e) => log.warn(`${inst.interface} (from ${source}): ${e.message}`) });
    }
    const receives = Boolean(ownSocket && vmac);
    return {
      vmac,
      ownSocket,
      attach: (instance) => {
        if (receives) target = instance;
      },
    };
  }

  async close(): Promise<void> {
    await Promise.all([...this.shared.values()].map((s) => s.socket.close()));
    this.shared.clear();
  }

  /** A receiving socket's handlers: every frame parsed in vrrp/receive.ts, then delivered. */
  private receiving(ifname: string, instanceFor: (vrid: number) => VrrpInstance | undefined) {
    return {
      onFrame: (frame: Frame) => {
        const r = receiveFrame(frame, instanceFor);
        if (r.ok) r.target.accept(r.advert, r.from);
        else if (r.target) r.target.rejected(r.reason, r.detail);
        else this.ports.interfaceDrop(ifname, r.reason, r.detail);
      },
      onError: (e: Error) => this.ports.log.warn(`${ifname}: ${e.message}`),
    };
  }
}

function vmacName(inst: VrrpInstanceConfig, cfg: InstanceConfig): string {
  return typeof inst.use_vmac === 'string' ? inst.use_vmac : defaultVmacName(cfg.vrid, cfg.family);
}

/** Adverts leave from the VMAC (so their source MAC is the virtual one) unless vmac_xmit_base,
 * or an IPv6 source that is not link-local (it stays on the base interface). */
function sendsFromVmac(inst: VrrpInstanceConfig, cfg: InstanceConfig): boolean {
  return !inst.vmac_xmit_base && (cfg.family === 4 || /^fe[89ab]/i.test(cfg.primaryAddress));
}
