// An etcd lab in network namespaces: a real three-member etcd cluster (Debian's etcd-server,
// run directly, data dirs in a temp dir) and N vigil nodes, all on one segment through a bridge:
//
//   e1 192.0.2.11   e2 192.0.2.12   e3 192.0.2.13          (etcd members, client port 2379)
//   n1 192.0.2.21   n2 192.0.2.22   ...                     (vigil nodes, on eth0)
//   sw: the switch namespace, br0 192.0.2.2 (etcdctl runs here, outside every fault)
//
// Faults: kill / restart a member, stop them all, and an nftables partition in a node's own
// namespace that cuts its etcd traffic (port 2379) while the segment stays up for everything
// else. Helpers shared by the netns tests and the benchmark: which nodes hold the VIP, a 10 ms
// sampler for the VIP on two nodes at once, an `ip -ts monitor address` recorder with µs
// add/delete times, a node config writer and `vigil status --json` through the control socket.
//
// Everything is removed by cleanup() (Lab from netns.ts: processes ended by PID, namespaces
// deleted; the temp dir removed), whatever a test does. Addresses: 192.0.2.0/24 only.

import { execFile, execFileSync, type ChildProcess } from 'node:child_process';
import { createWriteStream, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { bridge, Lab, plug, stopChild } from './netns.ts';
import { startVigil, type DaemonHandle } from './daemon.ts';

export const VIP = '192.0.2.100/24';
export const VIP_ADDR = '192.0.2.100';
/** The switch's own address: etcdctl runs in the switch namespace, outside every fault. */
export const ADMIN_IP = '192.0.2.2';
/** An address in the lab's segment that nobody has (the "unreachable endpoint" case). */
export const NOBODY_IP = '192.0.2.250';

const bin = fileURLToPath(new URL('../../bin/vigil', import.meta.url));

export interface EtcdMember {
  name: string;
  ns: string;
  ip: string;
  clientUrl: string;
}

export interface EtcdTls {
  /** The CA that signed the members' and the client's certificates. */
  ca: string;
  /** The client certificate and key (CN vigil), signed by `ca`. */
  cert: string;
  key: string;
  /** A second, unrelated CA: a client trusting it rejects the members' certificates. */
  otherCa: string;
}

export interface EtcdLab {
  lab: Lab;
  members: EtcdMember[];
  endpoints: string[];
  /** The vigil node namespaces, n1..nN. */
  nodes: string[];
  /** Temp dir for configs, logs, certs, data dirs. */
  dir: string;
  /** The switch namespace (bridge br0, 192.0.2.2). */
  switchNs: string;
  tls?: EtcdTls;
  auth?: { user: string; password: string; rootPassword: string };
  /** Node i's address (0-based): 192.0.2.21 + i. */
  nodeIp(i: number): string;
  /** Ends member i's process (default SIGKILL) and waits for its exit. */
  kill(member: number, signal?: NodeJS.Signals): Promise<void>;
  /** Starts member i again on its data dir and waits until the cluster is healthy. */
  restart(member: number): Promise<void>;
  /** Every member down (SIGKILL), waited for. */
  stopAll(): Promise<void>;
  /** Starts every member that is down (data dirs kept) and waits until the cluster is healthy. */
  startAll(): Promise<void>;
  /** Cuts the node's etcd traffic (tcp port 2379 to/from the members) in its own namespace:
   * 'drop' is silent, 'reject' answers with a TCP reset (the client fails at once). */
  partition(nodeNs: string, mode?: 'drop' | 'reject'): void;
  heal(nodeNs: string): void;
  /** etcdctl against the cluster's endpoints (from the switch namespace); returns stdout. */
  etcdctl(args: string[]): string;
  /** Index of etcd's raft leader among the members, undefined when none answers with one. */
  leaderMember(): number | undefined;
  /** Member i's log (stderr and stdout of every run). */
  memberLog(i: number): string;
  cleanup(): Promise<void>;
}


const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** CA, member certificates (IP SANs) and a client certificate, plus a second unrelated CA. */
function makeCerts(dir: string, memberIps: string[]): EtcdTls {
  const d = join(dir, 'pki');
  mkdirSync(d, { recursive: true });
  const ossl = (args: string[]) => execFileSync('openssl', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const ca = (name: string) => {
    ossl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', `/CN=${name}`, '-keyout', join(d, `${name}-key.pem`), '-out', join(d, `${name}.pem`)]);
    return join(d, `${name}.pem`);
  };
  const sign = (name: string, caName: string, ext: string) => {
    const extFile = join(d, `${name}.ext`);
    writeFileSync(extFile, ext);
    ossl(['req', '-newkey', 'rsa:2048', '-nodes', '-subj', `/CN=${name}`, '-keyout', join(d, `${name}-key.pem`), '-out', join(d, `${name}.csr`)]);
    ossl(['x509', '-req', '-in', join(d, `${name}.csr`), '-CA', join(d, `${caName}.pem`), '-CAkey', join(d, `${caName}-key.pem`), '-CAcreateserial', '-days', '2', '-extfile', extFile, '-out', join(d, `${name}.pem`)]);
  };
  const caPath = ca('ca');
  const otherCa = ca('other-ca');
  sign('server', 'ca', `subjectAltName=${memberIps.map((ip) => `IP:${ip}`).join(',')}\nextendedKeyUsage=serverAuth,clientAuth\n`);
  sign('client', 'ca', 'extendedKeyUsage=clientAuth\n');
  return { ca: caPath, cert: join(d, 'client.pem'), key: join(d, 'client-key.pem'), otherCa };
}

export async function startEtcdLab(opts: { nodes: number; tls?: boolean; auth?: { user: string; password: string } }): Promise<EtcdLab> {
  const lab = new Lab();
  const dir = mkdtempSync(join(tmpdir(), 'vigil-etcd-'));
  const procs: Array<ChildProcess | undefined> = [];
  const logs: string[] = [];
  const cleanup = async () => {
    await lab.cleanup();
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const sw = bridge(lab, 'sw');
    lab.exec(sw, 'ip', ['addr', 'add', `${ADMIN_IP}/24`, 'dev', 'br0']);
    const scheme = opts.tls ? 'https' : 'http';
    const members: EtcdMember[] = [1, 2, 3].map((k) => {
      const ns = lab.addNamespace(`e${k}`);
      const ip = `192.0.2.1${k}`;
      plug(lab, sw, ns, 'eth0', `p-e${k}`);
      lab.exec(ns, 'ip', ['addr', 'add', `${ip}/24`, 'dev', 'eth0']);
      return { name: `e${k}`, ns, ip, clientUrl: `${scheme}://${ip}:2379` };
    });
    const nodes: string[] = [];
    const nodeIp = (i: number) => `192.0.2.${21 + i}`;
    for (let i = 0; i < opts.nodes; i++) {
      const ns = lab.addNamespace(`n${i + 1}`);
      plug(lab, sw, ns, 'eth0', `p-n${i + 1}`);
      lab.exec(ns, 'ip', ['addr', 'add', `${nodeIp(i)}/24`, 'dev', 'eth0']);
      nodes.push(ns);
    }
    const tls = opts.tls ? makeCerts(dir, members.map((m) => m.ip)) : undefined;
    const endpoints = members.map((m) => m.clientUrl);
    const initialCluster = members.map((m) => `${m.name}=http://${m.ip}:2380`).join(',');

    const start = (i: number) => {
      const m = members[i] as EtcdMember;
      const args = [
        '--name', m.name,
        '--data-dir', join(dir, 'data', m.name),
        '--listen-peer-urls', `http://${m.ip}:2380`,
        '--initial-advertise-peer-urls', `http://${m.ip}:2380`,
        '--listen-client-urls', m.clientUrl,
        '--advertise-client-urls', m.clientUrl,
        '--initial-cluster', initialCluster,
        '--initial-cluster-state', 'new',
        '--initial-cluster-token', 'vigil-lab',
        '--logger', 'zap',
        '--log-outputs', 'stderr',
      ];
      if (tls) {
        const d = join(dir, 'pki');
        args.push('--cert-file', join(d, 'server.pem'), '--key-file', join(d, 'server-key.pem'), '--client-cert-auth', '--trusted-ca-file', tls.ca);
      }
      const child = lab.spawn(m.ns, 'etcd', args);
      const file = createWriteStream(join(dir, `${m.name}.log`), { flags: 'a' });
      const collect = (d: Buffer) => {
        logs[i] = (logs[i] ?? '') + d.toString();
        file.write(d);
      };
      child.stdout?.on('data', collect);
      child.stderr?.on('data', collect);
      child.once('exit', () => file.end());
      procs[i] = child;
    };

    let rootAuth: string[] = [];
    const ctlBase = (): string[] => {
      const a = [`--endpoints=${endpoints.join(',')}`, '--dial-timeout=2s', '--command-timeout=3s'];
      if (tls) a.push(`--cacert=${tls.ca}`, `--cert=${tls.cert}`, `--key=${tls.key}`);
      return [...a, ...rootAuth];
    };
    const etcdctl = (args: string[]) => lab.exec(sw, 'etcdctl', [...ctlBase(), ...args]);

    /** Every running member answers `endpoint health` (and so the cluster has a leader). */
    const waitHealthy = async (ms = 30_000) => {
      const end = Date.now() + ms;
      let last = '';
      while (Date.now() < end) {
        const running = members.filter((_, i) => procs[i] && procs[i]?.exitCode === null && procs[i]?.signalCode === null);
        try {
          const ep = running.map((m) => m.clientUrl).join(',');
          lab.exec(sw, 'etcdctl', [...ctlBase(), `--endpoints=${ep}`, 'endpoint', 'health']);
          return;
        } catch (e) {
          last = String((e as { stderr?: string }).stderr ?? e);
        }
        await sleep(200);
      }
      throw new Error(`etcd cluster not healthy after ${ms} ms: ${last}\n${logs.map((l, i) => `--- e${i + 1}\n${(l ?? '').slice(-3000)}`).join('\n')}`);
    };

    const leaderMember = (): number | undefined => {
      let out: string;
      try {
        // --hex: member ids as hex strings (they are uint64s, beyond a JS number)
        out = lab.exec(sw, 'etcdctl', [...ctlBase(), '--hex', 'endpoint', 'status', '-w', 'json']);
      } catch (e) {
        out = String((e as { stdout?: string }).stdout ?? '');
      }
      // the ids as strings whatever the printer does with them
      const fixed = out.replace(/"(member_id|leader|cluster_id|raft_term)":\s*(\d+)/g, '"$1":"$2"');
      let rows: Array<{ Endpoint: string; Status: { header: { member_id: string }; leader: string } }>;
      try {
        rows = JSON.parse(fixed);
      } catch {
        return undefined;
      }
      const row = rows.find((r) => String(r.Status.header.member_id) === String(r.Status.leader));
      if (!row) return undefined;
      const idx = members.findIndex((m) => m.clientUrl === row.Endpoint);
      return idx >= 0 ? idx : undefined;
    };

    const kill = async (i: number, signal: NodeJS.Signals = 'SIGKILL') => {
      const child = procs[i];
      if (!child || child.exitCode !== null || child.signalCode !== null) return;
      await new Promise<void>((resolve) => {
        child.once('exit', () => resolve());
        child.kill(signal);
      });
    };

    for (let i = 0; i < members.length; i++) start(i);
    await waitHealthy();

    let auth: EtcdLab['auth'];
    if (opts.auth) {
      const rootPassword = 'root-lab-pw';
      const { user, password } = opts.auth;
      etcdctl(['user', 'add', `root:${rootPassword}`]);
      etcdctl(['role', 'add', 'vigil-role']);
      // readwrite on everything under /vigil/ (the election keys' default prefix)
      etcdctl(['role', 'grant-permission', 'vigil-role', '--prefix=true', 'readwrite', '/vigil/']);
      etcdctl(['user', 'add', `${user}:${password}`]);
      etcdctl(['user', 'grant-role', user, 'vigil-role']);
      etcdctl(['auth', 'enable']);
      rootAuth = [`--user=root:${rootPassword}`];
      auth = { user, password, rootPassword };
    }

    const nftTable = 'vigil_etcd_part';
    const el: EtcdLab = {
      lab,
      members,
      endpoints,
      nodes,
      dir,
      switchNs: sw,
      tls,
      auth,
      nodeIp,
      kill,
      restart: async (i) => {
        await kill(i);
        start(i);
        await waitHealthy();
      },
      stopAll: async () => {
        await Promise.all(members.map((_, i) => kill(i)));
      },
      startAll: async () => {
        members.forEach((_, i) => {
          const c = procs[i];
          if (!c || c.exitCode !== null || c.signalCode !== null) start(i);
        });
        await waitHealthy();
      },
      partition: (ns, mode = 'drop') => {
        const set = `{ ${members.map((m) => m.ip).join(', ')} }`;
        const verdict = mode === 'drop' ? 'drop' : 'reject with tcp reset';
        const nft = (args: string) => lab.exec(ns, 'nft', [args]);
        nft(`add table inet ${nftTable}`);
        nft(`add chain inet ${nftTable} out { type filter hook output priority 0 ; policy accept ; }`);
        nft(`add chain inet ${nftTable} in { type filter hook input priority 0 ; policy accept ; }`);
        nft(`add rule inet ${nftTable} out ip daddr ${set} tcp dport 2379 ${verdict}`);
        // reject: no input rule, as it would drop the resets the output rule sends to our own
        // sockets; every outgoing segment (an ACK too) is reset, so no connection survives
        if (mode === 'drop') nft(`add rule inet ${nftTable} in ip saddr ${set} tcp sport 2379 drop`);
      },
      heal: (ns) => {
        lab.exec(ns, 'nft', [`delete table inet ${nftTable}`]);
      },
      etcdctl,
      leaderMember,
      memberLog: (i) => logs[i] ?? '',
      cleanup,
    };
    return el;
  } catch (e) {
    await cleanup();
    throw e;
  }
}

// ---------------------------------------------------------------------------------------------
// VIP observation

const bare = (vip: string) => vip.split('/')[0] as string;

function holds(out: string, vip: string): boolean {
  const re = new RegExp(`\\sinet6?\\s${bare(vip).replace(/\./g, '\\.')}/`);
  return re.test(out);
}

/** The node namespaces that hold the VIP on eth0 now. */
export function vipHolders(el: EtcdLab, vip: string = VIP_ADDR): string[] {
  return el.nodes.filter((ns) => holds(execFileSync('ip', ['-n', ns, '-o', 'addr', 'show', 'dev', 'eth0'], { encoding: 'utf8' }), vip));
}

function addrShow(ns: string): Promise<string> {
  return new Promise((resolve) => {
    execFile('ip', ['-n', ns, '-o', 'addr', 'show', 'dev', 'eth0'], { encoding: 'utf8' }, (err, stdout) => resolve(err ? '' : stdout));
  });
}

export interface OverlapSample {
  /** Date.now() when the sample was started. */
  t: number;
  holders: string[];
}

export interface OverlapReport {
  samples: number;
  /** Samples with the VIP on two or more nodes. */
  overlaps: OverlapSample[];
  /** Every sample whose holder set differs from the previous one (the timeline). */
  changes: OverlapSample[];
}

export interface OverlapSampler {
  stop(): Promise<OverlapReport>;
}

/** Polls every node every `intervalMs` (10 ms), all nodes at once per sample, until stop():
 * reports any sample that found the VIP on two nodes, and the holder timeline. */
export function sampleOverlap(el: EtcdLab, vip: string = VIP_ADDR, intervalMs = 10): OverlapSampler {
  let running = true;
  let samples = 0;
  const overlaps: OverlapSample[] = [];
  const changes: OverlapSample[] = [];
  let prev = '';
  const loop = (async () => {
    while (running) {
      const t = Date.now();
      const outs = await Promise.all(el.nodes.map((ns) => addrShow(ns)));
      const holders = el.nodes.filter((_, k) => holds(outs[k] as string, vip));
      samples++;
      if (holders.length > 1) overlaps.push({ t, holders });
      const key = holders.join(',');
      if (key !== prev) changes.push({ t, holders });
      prev = key;
      const wait = intervalMs - (Date.now() - t);
      if (wait > 0) await sleep(wait);
    }
  })();
  return {
    stop: async () => {
      running = false;
      await loop;
      return { samples, overlaps, changes };
    },
  };
}

export interface AddrEvent {
  ns: string;
  kind: 'add' | 'del';
  /** Wall-clock time in ms (µs resolution) from `ip -ts monitor`. */
  t: number;
}

export interface AddressMonitor {
  /** The VIP's add/delete events so far, per node, in order. Repeated adds (a lifetime
   * refresh) are kept: `intervals()` folds them. */
  events(): AddrEvent[];
  /** Intervals in which each node held the VIP (end undefined: still held). */
  intervals(): Array<{ ns: string; from: number; to: number | undefined }>;
  /** Total ms during which two or more nodes held the VIP (exact, from the intervals). */
  overlapMs(): number;
  /** The first add on `ns` at or after `t` (ms), if any. */
  firstAdd(ns: string, after: number): number | undefined;
  /** The first delete on `ns` at or after `t` (ms), if any. */
  firstDel(ns: string, after: number): number | undefined;
  stop(): Promise<void>;
}

/** "[2026-11-30T12:00:00.123456]" (local time, as ip prints it) -> ms since the epoch. */
function parseTs(s: string): number {
  const m = /^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)\.(\d{6})$/.exec(s);
  if (!m) return NaN;
  const [, y, mo, d, h, mi, se, us] = m.map(Number) as number[];
  return new Date(y as number, (mo as number) - 1, d, h, mi, se).getTime() + (us as number) / 1000;
}

/** Follows `ip -n NS -ts monitor address` on every node and records the VIP's add and delete
 * times (µs). Start it before the fault; call stop() (or lab cleanup ends it). Resolves once
 * every monitor is running. */
export async function monitorAddresses(el: EtcdLab, vip: string = VIP_ADDR): Promise<AddressMonitor> {
  const events: AddrEvent[] = [];
  const children: ChildProcess[] = [];
  const ip = bare(vip).replace(/\./g, '\\.');
  const re = new RegExp(`^\\[([^\\]]+)\\]\\s*(Deleted\\s+)?\\d+:\\s+\\S+\\s+inet6?\\s+${ip}/`);
  for (const ns of el.nodes) {
    const child = el.lab.spawn(ns, 'ip', ['-ts', 'monitor', 'address', 'dev', 'eth0']);
    children.push(child);
    let buf = '';
    child.stdout?.on('data', (d: Buffer) => {
      buf += d.toString();
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        const m = re.exec(line);
        if (m) events.push({ ns, kind: m[2] ? 'del' : 'add', t: parseTs(m[1] as string) });
      }
    });
  }
  // `ip monitor` has subscribed once it is running; give it a moment to reach its loop
  await sleep(300);
  const intervals = () => {
    const out: Array<{ ns: string; from: number; to: number | undefined }> = [];
    for (const ns of el.nodes) {
      let open: number | undefined;
      for (const e of events.filter((x) => x.ns === ns)) {
        if (e.kind === 'add' && open === undefined) open = e.t;
        else if (e.kind === 'del' && open !== undefined) {
          out.push({ ns, from: open, to: e.t });
          open = undefined;
        }
      }
      if (open !== undefined) out.push({ ns, from: open, to: undefined });
    }
    return out;
  };
  return {
    events: () => [...events],
    intervals,
    overlapMs: () => {
      const iv = intervals();
      const now = Date.now();
      let total = 0;
      for (let a = 0; a < iv.length; a++) {
        for (let b = a + 1; b < iv.length; b++) {
          const x = iv[a] as { ns: string; from: number; to: number | undefined };
          const y = iv[b] as { ns: string; from: number; to: number | undefined };
          if (x.ns === y.ns) continue;
          const lo = Math.max(x.from, y.from);
          const hi = Math.min(x.to ?? now, y.to ?? now);
          if (hi > lo) total += hi - lo;
        }
      }
      return total;
    },
    firstAdd: (ns, after) => events.find((e) => e.ns === ns && e.kind === 'add' && e.t >= after)?.t,
    firstDel: (ns, after) => events.find((e) => e.ns === ns && e.kind === 'del' && e.t >= after)?.t,
    stop: async () => {
      await Promise.all(children.map((c) => stopChild(c)));
    },
  };
}

// ---------------------------------------------------------------------------------------------
// vigil nodes

export interface NodeConfigOptions {
  priority: number;
  /** lease_ttl (default 3). */
  ttl?: number;
  /** Candidate name (default n1..nN, also the router_id). */
  name?: string;
  /** Endpoints (default: the lab's). */
  endpoints?: string[];
  /** quorum_loss policy, renew_interval, request_timeout, key. */
  quorumLoss?: 'release' | 'keep';
  renewInterval?: number;
  requestTimeout?: number;
  key?: string;
  /** TLS (default: the lab's, when it serves https); null leaves it out. */
  tls?: { ca: string; cert: string; key: string } | null;
  /** user/password (default: the lab's, when it has auth); null leaves them out. */
  auth?: { user: string; password: string } | null;
  /** More YAML lines of the instance, indented by 4 (e.g. "    nopreempt: true\n"). */
  instanceExtra?: string;
  /** More YAML lines under election.etcd, indented by 8. */
  etcdExtra?: string;
  /** More top-level YAML (vrrp_track_file, another vrrp_instance entry needs `instancesExtra`). */
  extra?: string;
  /** More instances under vrrp_instance, indented by 2 (their names at 2 spaces). */
  instancesExtra?: string;
}

/** The control socket of node i (0-based). */
export const nodeSocket = (el: EtcdLab, i: number) => join(el.dir, `n${i + 1}.sock`);

/** Writes node i's (0-based) vigil YAML: instance VI_DB on eth0, VIP 192.0.2.100/24, elected on
 * the lab's etcd; the control socket in the lab's dir. Returns the file's path. */
export function writeNodeConfig(el: EtcdLab, i: number, o: NodeConfigOptions): string {
  const name = o.name ?? `n${i + 1}`;
  const tls = o.tls === null ? undefined : (o.tls ?? el.tls);
  const auth = o.auth === null ? undefined : (o.auth ?? el.auth);
  const q = (s: string) => JSON.stringify(s);
  let etcd = `        endpoints: [ ${(o.endpoints ?? el.endpoints).map(q).join(', ')} ]
        lease_ttl: ${o.ttl ?? 3}
        name: ${q(name)}
`;
  if (o.key) etcd += `        key: ${q(o.key)}\n`;
  if (o.renewInterval !== undefined) etcd += `        renew_interval: ${o.renewInterval}\n`;
  if (o.requestTimeout !== undefined) etcd += `        request_timeout: ${o.requestTimeout}\n`;
  if (o.quorumLoss) etcd += `        quorum_loss: ${o.quorumLoss}\n`;
  if (tls) etcd += `        tls: { ca: ${q(tls.ca)}, cert: ${q(tls.cert)}, key: ${q(tls.key)} }\n`;
  if (auth) etcd += `        user: ${q(auth.user)}\n        password: ${q(auth.password)}\n`;
  etcd += o.etcdExtra ?? '';
  const yaml = `global_defs:
  router_id: ${q(name)}
control:
  socket: ${q(nodeSocket(el, i))}
${o.extra ?? ''}vrrp_instance:
  VI_DB:
    interface: eth0
    priority: ${o.priority}
    virtual_ipaddress: [ { address: ${VIP} } ]
${o.instanceExtra ?? ''}    election:
      etcd:
${etcd}${o.instancesExtra ?? ''}`;
  const file = join(el.dir, `n${i + 1}.yaml`);
  writeFileSync(file, yaml);
  return file;
}

/** Starts bin/vigil in node i's namespace on `configFile` (its pid file in the lab's dir). */
export function startNode(el: EtcdLab, i: number, configFile: string): DaemonHandle {
  return startVigil(el.lab, el.nodes[i] as string, configFile, ['-p', join(el.dir, `n${i + 1}.pid`)]);
}

/** `vigil status --json` through node i's control socket (from the host namespace: the socket
 * is a file); undefined when nobody answers. */
export function nodeStatus(el: EtcdLab, i: number): Promise<NodeStatus | undefined> {
  return new Promise((resolve) => {
    execFile(process.execPath, [bin, 'status', '--json', '--socket', nodeSocket(el, i)], { timeout: 10_000 }, (err, stdout) => {
      if (err) return resolve(undefined);
      try {
        resolve(JSON.parse(stdout) as NodeStatus);
      } catch {
        resolve(undefined);
      }
    });
  });
}

/** The parts of `vigil status --json` these tests read: the daemon's own type. */
export type { ElectionStatus } from '../../src/election/etcd-instance.ts';
import type { ElectionStatus } from '../../src/election/etcd-instance.ts';
import type { VigilEvent } from '../../src/bus/events.ts';
export interface NodeInstanceStatus {
  name: string;
  state: string;
  election?: ElectionStatus;
  [k: string]: unknown;
}
export interface NodeStatus {
  engine: { instances: NodeInstanceStatus[] };
  [k: string]: unknown;
}

export interface EventFollower {
  /** The events so far (`vigil events --json`, one object per line). */
  events(): VigilEvent[];
  stop(): Promise<void>;
}

/** Follows `vigil events --json` of node i (run in the switch namespace; the socket is a file).
 * Resolves once the follower has said nothing bad for 300 ms; the lab's cleanup ends it too. */
export async function followEvents(el: EtcdLab, i: number): Promise<EventFollower> {
  const child = el.lab.spawn(el.switchNs, process.execPath, [bin, 'events', '--json', '--socket', nodeSocket(el, i)]);
  // the daemon's own event type: a field the daemon renamed fails the tests' type check
  const events: VigilEvent[] = [];
  let buf = '';
  child.stdout?.on('data', (d: Buffer) => {
    buf += d.toString();
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl).trim();
      buf = buf.slice(nl + 1);
      if (!line) continue;
      try {
        events.push(JSON.parse(line) as VigilEvent);
      } catch {
        // not an event line
      }
    }
  });
  await sleep(300);
  return { events: () => [...events], stop: () => stopChild(child) };
}

/** Node i's status of `instance` (default VI_DB). */
export async function instanceStatus(el: EtcdLab, i: number, instance = 'VI_DB'): Promise<NodeInstanceStatus | undefined> {
  return (await nodeStatus(el, i))?.engine.instances.find((x) => x.name === instance);
}
