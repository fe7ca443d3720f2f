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
import type * as Cockatiel from 'cockatiel';
import type * as Etcd3Types from 'etcd3';
import type { IOptions } from 'etcd3';
import type { EtcdElectionConfig } from '../config/election-schema.ts';

type Etcd3Module = typeof Etcd3Types;
type Etcd3 = InstanceType<Etcd3Module['Etcd3']>;
type Watcher = Awaited<ReturnType<ReturnType<Etcd3['watch']>['create']>>;

let loaded: Promise<[Etcd3Module, typeof Cockatiel]> | undefined;
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
  private watcher: Watcher | undefined;

  constructor(
    private readonly cfg: EtcdElectionConfig,
    /** Milliseconds one request may take. */
    private readonly requestMs: number,
  ) {}

  private async connect(): Promise<Etcd3> {
    if (this.client) return this.client;
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

  /** One renewal: the server's remaining TTL in seconds (0 or less: the lease is gone). */
  async renew(id: string): Promise<number> {
    const c = await this.connect();
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

  /** Calls `changed` on every change under the prefix (and on the watch's own errors): the
   * caller re-reads; the watch only makes it sooner. */
  async watch(prefix: string, changed: () => void): Promise<void> {
    const c = await this.connect();
    this.watcher = await c.watch().prefix(`${prefix}/`).create();
    this.watcher.on('put', changed);
    this.watcher.on('delete', changed);
    this.watcher.on('connected', changed);
    this.watcher.on('error', changed);
  }

  /**
   * Asks every configured member, each on its own connection, whether it follows an etcd
   * leader. 'leaderless' when each member either refused the connection (it is not running)
   * or answered that it has no leader: then no write can commit anywhere, so no other
   * candidate can take the leadership. Anything else ('leader' somewhere, or a member silent)
   * proves nothing.
   */
  async quorumLost(): Promise<{ leaderless: boolean; detail: string }> {
    const [{ Etcd3 }, { noop }] = await etcd3();
    const answers = await Promise.all(
      this.cfg.endpoints.map(async (ep) => {
        const one = new Etcd3({ ...(await this.options([ep])), faultHandling: { global: noop, host: () => noop } });
        try {
          const s = await one.maintenance.status();
          return String(s.leader) === '0' ? `${ep}: no leader` : `${ep}: leader ${String(s.leader)}`;
        } catch (e) {
          const d = describeEtcdError(e);
          return /no leader/.test(d) ? `${ep}: no leader` : /refused/.test(d) ? `${ep}: down` : `${ep}: ${d}`;
        } finally {
          one.close();
        }
      }),
    );
    return { leaderless: answers.every((a) => /: (no leader|down)$/.test(a)), detail: answers.join('; ') };
  }

  close(): void {
    void this.watcher?.cancel().catch(() => undefined);
    this.watcher = undefined;
    this.client?.close();
    this.client = undefined;
  }
}
