// The etcd side of the election: one etcd3 client per instance, with what the election needs
// from it as plain calls (grant, one renewal, read the election's keys, claim, resign, watch),
// each bounded by the instance's request_timeout, and errors turned into words an operator can
// act on. etcd3 (and gRPC under it) is loaded only when a config has an etcd instance: a VRRP
// daemon never pays for it.
//
// etcd3's own lease keepalive is not used: its "lost" signal comes after the server may
// already have revoked the lease, and it times the lease on the wall clock (ELECTION.md 1.5).
// The election times the lease itself (timing.ts); here a renewal is one request, answered or
// not.

import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import type * as Cockatiel from 'cockatiel';
import type * as Etcd3Types from 'etcd3';
import type { IOptions } from 'etcd3';
import { monoMicros } from '../clock.ts';
import type { EtcdElectionConfig } from '../config/election-schema.ts';

type Etcd3Module = typeof Etcd3Types;
type Etcd3 = InstanceType<Etcd3Module['Etcd3']>;

let quieted = false;
let loaded: Promise<[Etcd3Module, typeof Cockatiel]> | undefined;

/** gRPC sets the TLS server name to the endpoint's address, which Node reports once per
 * connection as DEP0123 (RFC 6066 names no IP addresses) on stderr. Certificates for etcd
 * members carry IP SANs and are verified against them all the same; the warning says nothing
 * an operator can act on, so that one code is dropped. */
function quietIpServername(): void {
  const emit = process.emitWarning.bind(process) as (...args: unknown[]) => void;
  process.emitWarning = ((warning: unknown, ...rest: unknown[]) => {
    if (rest.some((r) => r === 'DEP0123' || (typeof r === 'object' && r !== null && (r as { code?: string }).code === 'DEP0123'))) return;
    emit(warning, ...rest);
  }) as typeof process.emitWarning;
}
const etcd3 = (): Promise<[Etcd3Module, typeof Cockatiel]> => (loaded ??= Promise.all([import('etcd3'), import('cockatiel')]));

/** One key of the election as read. */
export interface ElectionKv {
  key: string;
  value: string;
  lease: string;
  createRevision: string;
}

export interface Granted {
  id: string;
  /** Seconds, as the server granted it (it may raise a short request). */
  ttl: number;
}

/** What an etcd error means for an operator, in one line. */
export function describeEtcdError(e: unknown): string {
  const err = e as Error & { code?: number; details?: string };
  const text = `${err.message ?? String(e)} ${err.details ?? ''}`;
  if (/authentication failed|invalid user ID or password/i.test(text)) return 'authentication failed: wrong user or password';
  if (/permission denied/i.test(text)) return 'permission denied: the user may not write the election keys';
  if (/invalid auth token|user name is empty|auth.*not.*enabled/i.test(text)) return `authentication: ${err.message}`;
  if (/certificate|SSL|TLS|handshake|self.signed|unable to verify|wrong version number/i.test(text)) return `TLS: ${firstLine(text)}`;
  if (/ECONNREFUSED/.test(text)) return 'connection refused (is etcd running there?)';
  if (/DEADLINE_EXCEEDED|deadline exceeded|Deadline/i.test(text)) return 'no answer within request_timeout';
  if (/no leader/i.test(text)) return 'etcd has no leader (quorum lost?)';
  if (/circuit breaker is open/i.test(text)) return 'members failing: waiting before the next attempt';
  if (/lease not found|requested lease not found/i.test(text)) return 'lease not found (expired or revoked on the server)';
  return firstLine(text);
}

const firstLine = (s: string) => s.trim().split('\n')[0]?.slice(0, 300) ?? s;

export class EtcdElectionClient {
  private client: Etcd3 | undefined;
  private perMember: Etcd3[] | undefined;
  /** The member that answered the last renewal: tried first next time. */
  private preferred = 0;
  private watchStream: { cancel(): void } | undefined;

  constructor(
    private readonly cfg: EtcdElectionConfig,
    /** Milliseconds one request may take. */
    private readonly requestMs: number,
  ) {}

  private async connect(): Promise<Etcd3> {
    if (this.client) return this.client;
    if (this.cfg.tls && !quieted) {
      quieted = true;
      quietIpServername();
    }
    const [{ Etcd3 }] = await etcd3();
    this.client = new Etcd3(await this.options(this.cfg.endpoints));
    return this.client;
  }

  /** Options for a client on `hosts`: TLS and auth as configured, every call bounded. */
  private async options(hosts: string[]): Promise<IOptions> {
    const { tls, user, password } = this.cfg;
    const deadline = () => ({ deadline: new Date(Date.now() + this.requestMs) });
    const [{ isRecoverableError }, { circuitBreaker, handleWhen, retry, ConsecutiveBreaker, noop }] = await etcd3();
    const recoverable = handleWhen(isRecoverableError);
    return {
      hosts,
      dialTimeout: this.requestMs,
      // etcd3's defaults (3 attempts; a member's breaker open for 5 s after 3 failures) would
      // keep a member that came back out of use longer than a lease lives: one more attempt on
      // another member, and a breaker that tries again after one request's time
      faultHandling: {
        global: hosts.length > 1 ? retry(recoverable, { maxAttempts: 1 }) : noop,
        host: () => circuitBreaker(recoverable, { halfOpenAfter: this.requestMs, breaker: new ConsecutiveBreaker(3) }),
      },
      // each call has its own deadline; the global retry policy then tries another member
      defaultCallOptions: (ctx) => (ctx.isStream ? {} : deadline()),
      ...(tls
        ? {
            credentials: {
              rootCertificate: readFileSync(tls.ca),
              ...(tls.cert && tls.key ? { certChain: readFileSync(tls.cert), privateKey: readFileSync(tls.key) } : {}),
            },
          }
        : {}),
      ...(user && password ? { auth: { username: user, password, callOptions: deadline } } : {}),
    };
  }

  async grant(ttl: number): Promise<Granted> {
    const c = await this.connect();
    const r = await c.leaseClient.leaseGrant({ TTL: ttl });
    return { id: String(r.ID), ttl: Number(r.TTL) };
  }

  /** One client per member, with no retry or breaker of etcd3's: renewals and the quorum probe
   * choose the member themselves. */
  private async members(): Promise<Etcd3[]> {
    if (this.perMember) return this.perMember;
    const [{ Etcd3 }, { noop }] = await etcd3();
    this.perMember = await Promise.all(this.cfg.endpoints.map(async (ep) => new Etcd3({ ...(await this.options([ep])), faultHandling: { global: noop, host: () => noop } })));
    return this.perMember;
  }

  /**
   * One renewal: the server's remaining TTL in seconds (0 or less: the lease is gone) and the
   * monotonic send time (µs) of the attempt that was answered. A keepalive is a stream, which
   * etcd3 sends to a member picked at random and never retries; so the members are tried here
   * one after another, from the last one that answered, while `budgetMs` lasts: a member that
   * refuses costs nothing, a silent one one attempt, and the next renewal starts elsewhere.
   */
  async renew(id: string, budgetMs: number): Promise<{ ttl: number; sent: number }> {
    const members = await this.members();
    const started = monoMicros();
    let last: unknown;
    for (let i = 0; i < members.length; i++) {
      const k = (this.preferred + i) % members.length;
      const sent = monoMicros();
      if (i > 0 && (sent - started) / 1000 >= budgetMs) break;
      try {
        const ttl = await this.keepaliveOnce(members[k] as Etcd3, id);
        this.preferred = k;
        return { ttl, sent };
      } catch (e) {
        last = e;
        // whatever happens next, the next renewal starts with another member
        this.preferred = (k + 1) % members.length;
      }
    }
    throw last;
  }

  private async keepaliveOnce(c: Etcd3, id: string): Promise<number> {
    const stream = await c.leaseClient.leaseKeepAlive({ deadline: new Date(Date.now() + this.requestMs) });
    try {
      const res = await new Promise<{ TTL: string }>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('deadline exceeded')), this.requestMs);
        stream.on('data', (d: { TTL: string }) => {
          clearTimeout(timer);
          resolve(d);
        });
        stream.on('error', (e: Error) => {
          clearTimeout(timer);
          reject(e);
        });
        stream.write({ ID: id });
      });
      return Number(res.TTL);
    } finally {
      stream.end();
    }
  }

  async revoke(id: string): Promise<void> {
    const c = await this.connect();
    await c.leaseClient.leaseRevoke({ ID: id });
  }

  /** Every key under the prefix, read linearizably (never from one member's stale copy). */
  async read(prefix: string): Promise<ElectionKv[]> {
    const c = await this.connect();
    const r = await c.getAll().prefix(`${prefix}/`).exec();
    return r.kvs.map((kv) => ({ key: kv.key.toString(), value: kv.value.toString(), lease: String(kv.lease), createRevision: String(kv.create_revision) }));
  }

  async put(key: string, value: string, lease: string): Promise<void> {
    const c = await this.connect();
    await c.put(key).value(value).lease(lease).exec();
  }

  /** Creates the key on the lease if it is absent; the create revision when it did. */
  async claim(key: string, value: string, lease: string): Promise<string | undefined> {
    const c = await this.connect();
    const r = await c.if(key, 'Create', '==', 0).then(c.put(key).value(value).lease(lease)).commit();
    return r.succeeded ? String(r.header.revision) : undefined;
  }

  /** Deletes the key if it is still the one created at `createRevision`. */
  async resign(key: string, createRevision: string): Promise<boolean> {
    const c = await this.connect();
    const r = await c.if(key, 'Create', '==', createRevision).then(c.delete().key(key)).commit();
    return r.succeeded;
  }

  /** Calls `changed` on every change under the prefix, and when the watch breaks: the caller
   * re-reads; the watch only makes it sooner. One raw watch stream, not etcd3's watch manager:
   * that one keeps reconnecting (and the process alive) after the client is closed. */
  async watch(prefix: string, changed: () => void): Promise<void> {
    const c = await this.connect();
    const stream = await c.watchClient.watch();
    this.watchStream = stream;
    const gone = () => {
      if (this.watchStream !== stream) return;
      this.watchStream = undefined;
      changed();
    };
    stream.on('data', (res: { events?: unknown[]; canceled?: boolean }) => (res.canceled ? gone() : res.events?.length ? changed() : undefined));
    stream.on('error', gone);
    stream.on('end', gone);
    const key = Buffer.from(`${prefix}/`);
    const end = Buffer.from(key);
    end[end.length - 1] = (end[end.length - 1] ?? 0) + 1; // the prefix's range end: '/' -> '0'
    stream.write({ create_request: { key, range_end: end } });
  }

  /** A watch stream is open. */
  get watching(): boolean {
    return this.watchStream !== undefined;
  }

  /**
   * Asks every configured member, each on its own connection, whether it follows an etcd
   * leader. 'leaderless' when each member either refused the connection (it is not running)
   * or answered that it has no leader: then no write can commit anywhere, so no other
   * candidate can take the leadership. Anything else ('leader' somewhere, or a member silent)
   * proves nothing.
   */
  async quorumLost(): Promise<{ leaderless: boolean; detail: string }> {
    const members = await this.members();
    const answers = await Promise.all(
      this.cfg.endpoints.map(async (ep, k) => {
        try {
          const s = await (members[k] as Etcd3).maintenance.status();
          return String(s.leader) === '0' ? `${ep}: no leader` : `${ep}: leader ${String(s.leader)}`;
        } catch (e) {
          const d = describeEtcdError(e);
          return /no leader/.test(d) ? `${ep}: no leader` : /refused/.test(d) ? `${ep}: down` : `${ep}: ${d}`;
        }
      }),
    );
    return { leaderless: answers.every((a) => /: (no leader|down)$/.test(a)), detail: answers.join('; ') };
  }

  /**
   * What went wrong, in words: gRPC reports a failed TLS handshake only as "No connection
   * established" (its last error is null), so with TLS a handshake of our own with the first
   * endpoint names the cause (an unknown CA, a name the certificate lacks, a refused client
   * certificate).
   */
  async explain(e: unknown): Promise<string> {
    const plain = describeEtcdError(e);
    const tls = this.cfg.tls;
    if (!tls || !/No connection established|UNAVAILABLE/.test(plain)) return plain;
    const url = new URL(this.cfg.endpoints[0] ?? '');
    const host = url.hostname.replace(/^\[|\]$/g, '');
    // loaded here, on a failure, not with the daemon: node:tls costs ~3 MiB in a process that
    // would otherwise never need it (gRPC loads it for itself when TLS is configured)
    const { connect: tlsConnect } = await import('node:tls');
    const cause = await new Promise<string | undefined>((resolve) => {
      const socket = tlsConnect({
        host,
        port: Number(url.port || 2379),
        ca: readFileSync(tls.ca),
        ...(tls.cert && tls.key ? { cert: readFileSync(tls.cert), key: readFileSync(tls.key) } : {}),
        ...(isIP(host) ? {} : { servername: host }),
        ALPNProtocols: ['h2'],
      });
      const done = (r: string | undefined) => {
        clearTimeout(timer);
        socket.destroy();
        resolve(r);
      };
      const timer = setTimeout(() => done(undefined), this.requestMs);
      socket.once('secureConnect', () => done(socket.authorized ? undefined : String(socket.authorizationError)));
      socket.once('error', (err: NodeJS.ErrnoException) => done(/ECONNREFUSED|EHOSTUNREACH|ETIMEDOUT/.test(err.code ?? '') ? undefined : err.message));
    });
    return cause ? `TLS with ${url.host}: ${cause}` : plain;
  }

  close(): void {
    const stream = this.watchStream;
    this.watchStream = undefined;
    stream?.cancel();
    this.client?.close();
    this.client = undefined;
    for (const c of this.perMember ?? []) c.close();
    this.perMember = undefined;
  }
}
