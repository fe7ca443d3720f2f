// PING_CHECK's socket (an unprivileged ICMP datagram socket, ping-check.ts) is allowed only to a
// process whose group is inside net.ipv4.ping_group_range (it governs ICMPv6 too). The kernel's
// default, "1 0", allows nobody, root included. keepalived widens the range to take in group 0
// when it starts a PING_CHECK; vigil does the same, once, and says so in the log, so a config
// that works under keepalived works here. It is a per-network-namespace sysctl: the daemon's own.

import { readFileSync, writeFileSync } from 'node:fs';

const PATH = '/proc/sys/net/ipv4/ping_group_range';

/** Makes the range include this process's group; returns what changed (for the log), or
 * undefined when nothing had to, or an error text when it could not. */
export function allowPingSockets(path = PATH, gid = process.getgid?.() ?? 0): { changed?: string; error?: string } {
  try {
    const [lo = NaN, hi = NaN] = readFileSync(path, 'utf8').trim().split(/\s+/).map(Number);
    if (lo <= gid && gid <= hi) return {};
    const next = `${Math.min(lo, gid)} ${Math.max(hi, gid)}`;
    writeFileSync(path, next);
    return { changed: `net.ipv4.ping_group_range '${lo} ${hi}' -> '${next}' (PING_CHECK's ICMP sockets; keepalived does the same)` };
  } catch (e) {
    return { error: `cannot allow ICMP sockets through net.ipv4.ping_group_range: ${(e as Error).message}` };
  }
}
