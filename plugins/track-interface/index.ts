// keepalived's track_interface: the instances follow the state of links, learnt from rtnetlink
// notifications (RTNLGRP_LINK), never by polling. Up means IFF_UP and IFF_RUNNING, as
// keepalived's FLAGS_UP: administratively up *and* operationally up (carrier). A link that
// does not exist is down; one deleted, or renamed away, goes down; one created or renamed to a
// tracked name is followed from then on.
//
//   weight 0:  down -> FAULT (with `reverse`: up -> FAULT), source `track_interface:IF`
//   weight +N: +N while up (with `reverse`: -N while up)
//   weight -N: -N while down (with `reverse`: +N while down)

import { createRtNetlink, rt, type NetlinkMessage, type RtNetlinkSocket } from 'netlink';
import { definePlugin } from 'vigil/plugin';
import { configSchema, linkEffect } from './config.ts';

const RTM_NEWLINK = 16;
const RTM_DELLINK = 17;
const NLMSG_ERROR = 2;
const NLMSG_OVERRUN = 4;

interface Link {
  name: string;
  up: boolean;
}

export default definePlugin({
  apiVersion: 1,
  name: 'track-interface',
  configSchema,
  async setup(ctx) {
    const tracks = ctx.config.tracks.map((t) => ({ ...t, fault: false, adjust: 0 }));
    const tracked = new Set(tracks.map((t) => t.interface));
    const links = new Map<number, Link>();
    const source = (ifname: string) => `track_interface:${ifname}`;
    const lastLogged = new Map<string, boolean>();

    const isUp = (name: string) => [...links.values()].some((l) => l.name === name && l.up);

    /** Re-evaluates every tracking entry; tells the engine only what changed. */
    const apply = () => {
      for (const name of tracked) {
        const up = isUp(name);
        if (lastLogged.get(name) !== up) {
          // keepalived: "Netlink reports IF up/down"
          if (lastLogged.has(name) || !up) ctx.log.info(`${name} is ${up ? 'up' : 'down'}`);
          lastLogged.set(name, up);
        }
      }
      for (const t of tracks) {
        const e = linkEffect(isUp(t.interface), t.weight, t.reverse);
        if (e.fault !== t.fault) {
          ctx.setFault(t.instance, source(t.interface), e.fault);
          t.fault = e.fault;
        }
        if (e.adjust !== t.adjust) {
          ctx.adjustPriority(t.instance, source(t.interface), e.adjust);
          t.adjust = e.adjust;
        }
      }
    };

    const fromMessage = (data: Buffer): { index: number; link: Link } | undefined => {
      const m = rt.parseLinkMessage(data);
      const index = m.data.index;
      const name = m.attrs.ifname;
      if (index === undefined || name === undefined) return undefined;
      return { index, link: { name, up: m.data.flags?.up === true && m.data.flags?.running === true } };
    };

    const sock: RtNetlinkSocket = createRtNetlink();
    try {
      // a burst of link changes (hundreds of interfaces) must fit, or the kernel drops them
      sock.socket.setRecvBufferSize(4 * 1024 * 1024);
    } catch {
      // capped by net.core.rmem_max; ENOBUFS below re-reads everything
    }
    let closed = false;
    ctx.onStop(() => {
      closed = true;
      sock.socket.close();
    });

    // Notifications that arrive while a dump is running may be older or newer than the dump;
    // if any did, dump again, until one completes undisturbed. Later ones apply in order.
    let dumping = false;
    let disturbed = false;
    const resync = async (): Promise<void> => {
      if (dumping) {
        disturbed = true;
        return;
      }
      dumping = true;
      try {
        do {
          disturbed = false;
          // a dump whose reply was cut short by an overflow never completes: time out, retry
          const dump = await sock.getLinks(undefined, undefined, { timeout: 5000 }).catch((e: Error) => {
            if (!/Timeout/.test(e.message)) throw e;
            disturbed = true;
            return [];
          });
          links.clear();
          for (const m of dump) {
            const index = m.data.index;
            const name = m.attrs.ifname;
            if (index !== undefined && name !== undefined) links.set(index, { name, up: m.data.flags?.up === true && m.data.flags?.running === true });
          }
        } while (disturbed && !closed);
      } finally {
        dumping = false;
      }
      apply();
    };

    // This listener runs inside the netlink module's native callback, where a thrown exception
    // aborts the process (not just this worker): nothing may escape it.
    sock.socket.on('message', (msgs: NetlinkMessage[]) => {
      try {
        onMessages(msgs);
      } catch (e) {
        ctx.log.error(`link notification: ${(e as Error).message}; re-reading all links`);
        resync().catch((err: unknown) => ctx.log.error(`re-reading links: ${(err as Error).message}`));
      }
    });
    const onMessages = (msgs: NetlinkMessage[]): void => {
      if (dumping) {
        disturbed = true;
        return;
      }
      for (const msg of msgs) {
        if (msg.type === NLMSG_OVERRUN || msg.type === NLMSG_ERROR) continue;
        if (msg.type !== RTM_NEWLINK && msg.type !== RTM_DELLINK) continue;
        const parsed = fromMessage(msg.data);
        if (!parsed) continue;
        const old = links.get(parsed.index);
        if (msg.type === RTM_DELLINK) {
          links.delete(parsed.index);
          if (tracked.has(parsed.link.name)) ctx.log.info(`interface ${parsed.link.name} deleted`);
        } else {
          if (old && old.name !== parsed.link.name && (tracked.has(old.name) || tracked.has(parsed.link.name))) {
            ctx.log.info(`interface name has changed from ${old.name} to ${parsed.link.name}`);
          }
          links.set(parsed.index, parsed.link);
        }
      }
      apply();
    };
    // ENOBUFS: the kernel dropped notifications (a burst of link changes); the only way to
    // know the state again is to ask for all of it.
    sock.socket.on('error', (e) => {
      if (closed) return;
      ctx.log.warn(`rtnetlink: ${e.message}; re-reading all links`);
      resync().catch((err: unknown) => ctx.log.error(`re-reading links: ${(err as Error).message}`));
    });

    sock.addMembership('LINK');
    await resync();
    for (const name of tracked) if (![...links.values()].some((l) => l.name === name)) ctx.log.warn(`tracked interface ${name} does not exist (down until it appears)`);
  },
});
