// The load balancer's desired data-plane state: what the kernel should do right now, derived by
// the balancer (balancer.ts) from the config and the checkers' verdicts. A data-plane backend
// (nft-dataplane.ts today; IPVS on kernels that have it, later) turns it into kernel state. It is
// plain data, compared and logged as such: a backend applies a whole state atomically and
// idempotently (DESIGN.md rule 3), so applying the same state twice changes nothing.

export type Protocol = 'tcp' | 'udp';

/** How a service picks a backend for a new connection. `wrr`: weighted round robin; `rr`: round
 * robin, weights ignored; `sh` / `dh`: a hash of the source / destination address (with
 * `hashPort` also the source port for sh); `mh`: a Maglev-style table of the source (flows stay
 * on their backend when another one leaves). Connection-counting schedulers (lc, wlc, ...) are
 * not expressible and never reach a data plane (the config layer maps them to wrr, with a
 * warning). */
export type Algorithm = 'rr' | 'wrr' | 'sh' | 'dh' | 'mh';

/** How a chosen backend is reached. `nat` (the default): the first packet of a connection is
 * DNATed (conntrack does the rest, replies come back through the balancer). `dr` (keepalived's
 * direct routing): every packet to the service, as it enters `ifname`, gets the backend's MAC as
 * its destination and the balancer's as its source and is sent back out of `ifname` unchanged
 * above layer 2; the backend holds the virtual address itself and answers the client directly.
 * Stateless (no conntrack at netdev ingress): every packet is hashed on its flow to a fixed slot
 * table, so packets of one flow always reach the same backend. */
export type Forwarding = 'nat' | 'dr';

/** What a service matches: addresses (one for `virtual_server IP PORT`, several for a group),
 * with a port (absent: every port, persistence services only) and protocol; or a firewall mark
 * (`virtual_server fwmark N`, the mark set by the operator's own rules before NAT). */
export type ServiceMatch =
  | { kind: 'address'; addresses: string[]; port?: number; protocol: Protocol }
  | { kind: 'fwmark'; mark: number };

export interface Backend {
  /** Stable and unique within its service, e.g. `192.0.2.10:8080`. */
  id: string;
  address: string;
  /** Absent: the client's destination port is kept. */
  port?: number;
  /** > 0: a backend with weight 0 (inhibited, quorum lost, ...) is simply left out of the state. */
  weight: number;
  /** DR: the backend's MAC address on the service's interface (`02:00:5e:00:01:0a`); required
   * there, ignored by NAT. The port must then be absent or the service's port. */
  mac?: string;
}

export interface Service {
  /** Stable and unique, safe as part of an nftables name: [a-z0-9_]. */
  id: string;
  family: 4 | 6;
  match: ServiceMatch;
  algorithm: Algorithm;
  /** sh: hash the source port too (keepalived's sh-port). */
  hashPort?: boolean;
  /** Persistence: a client (masked by `granularity`, an IPv4 netmask or IPv6 prefix length)
   * keeps its backend for `timeoutS` seconds after its last new connection. */
  persistence?: { timeoutS: number; granularity?: string };
  /** Also source-NAT to the balancer's address (one-armed setups, where the backends do not
   * route their replies through the balancer). LVS NAT does not; off by default. */
  snat?: boolean;
  /** Absent: `nat`. */
  forwarding?: Forwarding;
  /** DR: the interface the backends are on, where the service's packets arrive and leave. */
  ifname?: string;
  /** DR: the balancer's own MAC address on `ifname` (the source of the forwarded frames). */
  ownMac?: string;
  /** DR: every configured backend, in the pool or not, with its configured weight: the slot
   * table is theirs, and only the slots of those out of the pool are handed to the others, so a
   * backend leaving moves exactly its own flows (and every node computes the same table).
   * Absent: the table of the pool alone (a backend leaving moves a few percent of the rest). */
  slotBase?: Array<{ id: string; weight: number }>;
  /** The backends in the pool now, in config order: the live real servers, or the sorry server.
   * Empty: new connections to the service are not balanced (they reach the balancer itself). */
  backends: Backend[];
}

export interface DesiredState {
  services: Service[];
}

/** Counters of one service or backend, as read back from the kernel. */
export interface Counters {
  packets: number;
  bytes: number;
  /** New connections (counted once per connection). */
  connections: number;
}

export interface DataPlaneCounters {
  services: Record<string, Counters>;
  /** By service id, then backend id. */
  backends: Record<string, Record<string, Counters>>;
}

/** What the balancer needs of a data plane. */
export interface DataPlane {
  /** Makes the kernel state exactly `state`, in one atomic transaction. Rejects with the
   * backend's own error text when the kernel refuses it (and then nothing changed). */
  apply(state: DesiredState): Promise<void>;
  /** Removes everything this data plane owns (clean stop). */
  remove(): Promise<void>;
  counters(): Promise<DataPlaneCounters>;
}
