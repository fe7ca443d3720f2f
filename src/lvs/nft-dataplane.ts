// The nftables data plane: applies a DesiredState as one libnftables JSON transaction (one
// `nft -j -f` run), removes the table, and reads the counters back. The documents come from
// nft-ruleset.ts; this file is only the process plumbing and the bookkeeping between applies.

import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Counters, DataPlane, DataPlaneCounters, DesiredState } from './model.ts';
import { buildRuleset, DR_FAMILY, removeDocument, TABLE_FAMILY, type CounterName, type CounterNames, type Inventory, type NftDocument } from './nft-ruleset.ts';

export interface NftDataPlaneOptions {
  /** Table name (family inet); default `vigil`. */
  table?: string;
  /** The nft binary; default `nft` from PATH. */
  nft?: string;
  /** A run of nft that takes longer is killed and the call rejects; default 10 s. */
  timeoutMs?: number;
  /** Told when an in-place update was refused and the table was replaced instead. */
  warn?: (message: string) => void;
}

/** nft refused or failed: `stderr` is nft's own text. */
export class NftError extends Error {
  constructor(
    message: string,
    readonly stderr: string,
    readonly code: number | string | null,
  ) {
    super(stderr.trim() ? `${message}: ${stderr.trim()}` : message);
    this.name = 'NftError';
  }
}

export class NftDataPlane implements DataPlane {
  readonly table: string;
  private readonly nft: string;
  private readonly timeoutMs: number;
  private readonly warn: (message: string) => void;
  /** What the last successful apply left in the table; undefined: replace it at the next. */
  private inventory: Inventory | undefined;
  private names: CounterNames | undefined;
  /** Calls run one at a time: an update is computed against the previous apply's result. */
  private queue: Promise<unknown> = Promise.resolve();

  constructor(opts: NftDataPlaneOptions = {}) {
    this.table = opts.table ?? 'vigil';
    this.nft = opts.nft ?? 'nft';
    this.timeoutMs = opts.timeoutMs ?? 10_000;
    this.warn = opts.warn ?? (() => {});
  }

  apply(state: DesiredState): Promise<void> {
    return this.serial(async () => {
      // The first apply of this process replaces whatever table a previous run left (adopting
      // it would mean trusting its content), and its DR tables; later ones update in place.
      const stale = this.inventory ? [] : await this.ownDrTables();
      const update = buildRuleset(state, { table: this.table, previous: this.inventory, staleDrTables: stale });
      try {
        await this.load(update.document);
        this.remember(update);
      } catch (err) {
        if (!this.inventory || !(err instanceof NftError)) throw err;
        // Refused, so nothing changed (one transaction). The table is not what we left (someone
        // deleted an object of ours?): rebuild it wholly, at the cost of counters and stickiness.
        this.warn(`nft refused the update of table ${TABLE_FAMILY} ${this.table} (${err.stderr.trim()}); replacing the table`);
        this.inventory = undefined;
        const replace = buildRuleset(state, { table: this.table, staleDrTables: await this.ownDrTables() });
        await this.load(replace.document);
        this.remember(replace);
      }
    });
  }

  remove(): Promise<void> {
    return this.serial(async () => {
      const dr = new Set([...Object.keys(this.inventory?.dr ?? {}), ...(await this.ownDrTables())]);
      await this.load(removeDocument(this.table, [...dr]));
      this.inventory = undefined;
      this.names = undefined;
    });
  }

  /** Connections from the nat chains' counters (they see one packet per connection), packets
   * and bytes from the forward chain's. Empty before the first apply and after remove(). */
  counters(): Promise<DataPlaneCounters> {
    return this.serial(async () => {
      const out: DataPlaneCounters = { services: {}, backends: {} };
      const names = this.names;
      if (!names) return out;
      // keyed `table/name`: the inet table's under '', each DR table's under its name
      const values = new Map<string, { packets: number; bytes: number }>();
      const tables: Array<[string, string, string]> = [[TABLE_FAMILY, this.table, '']];
      for (const name of Object.keys(this.inventory?.dr ?? {})) tables.push([DR_FAMILY, name, name]);
      for (const [family, table, key] of tables) {
        const listed = JSON.parse(await this.run(['-j', 'list', 'table', family, table])) as { nftables?: unknown[] };
        for (const item of listed.nftables ?? []) {
          const c = (item as { counter?: { name: string; packets: number; bytes: number } }).counter;
          if (c) values.set(`${key}/${c.name}`, { packets: c.packets, bytes: c.bytes });
        }
      }
      const read = (n: CounterName): Counters => {
        const pkts = values.get(`${n.table ?? ''}/${n.pkts}`);
        return { packets: pkts?.packets ?? 0, bytes: pkts?.bytes ?? 0, connections: values.get(`${n.table ?? ''}/${n.conn}`)?.packets ?? 0 };
      };
      for (const [svc, n] of Object.entries(names.services)) out.services[svc] = read(n);
      for (const [svc, backends] of Object.entries(names.backends)) {
        out.backends[svc] = {};
        for (const [id, n] of Object.entries(backends)) (out.backends[svc] as Record<string, Counters>)[id] = read(n);
      }
      return out;
    });
  }

  /** The netdev tables named as ours (`<table>_dr_*`) now in the kernel, e.g. a previous run's. */
  private async ownDrTables(): Promise<string[]> {
    let listed: { nftables?: unknown[] };
    try {
      listed = JSON.parse(await this.run(['-j', 'list', 'tables', DR_FAMILY])) as { nftables?: unknown[] };
    } catch {
      return [];
    }
    const prefix = `${this.table}_dr_`;
    const out: string[] = [];
    for (const item of listed.nftables ?? []) {
      const t = (item as { table?: { family: string; name: string } }).table;
      if (t && t.family === DR_FAMILY && t.name.startsWith(prefix)) out.push(t.name);
    }
    return out;
  }

  private remember(r: { inventory: Inventory; names: CounterNames }): void {
    this.inventory = r.inventory;
    this.names = r.names;
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.queue.then(fn, fn);
    this.queue = next.catch(() => {});
    return next;
  }

  /** One document, one transaction. It goes through a file in a private directory: nft reads
   * `-f -` by opening /dev/stdin, which fails on the socket pairs Node uses for child stdio. */
  private async load(doc: NftDocument): Promise<void> {
    const dir = await mkdtemp(join(tmpdir(), 'vigil-nft-'));
    try {
      const file = join(dir, 'ruleset.json');
      await writeFile(file, JSON.stringify(doc), { mode: 0o600 });
      await this.run(['-j', '-f', file]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }

  private run(args: string[]): Promise<string> {
    return new Promise((resolve, reject) => {
      execFile(this.nft, args, { timeout: this.timeoutMs, maxBuffer: 64 * 1024 * 1024, encoding: 'utf8' }, (err, stdout, stderr) => {
        if (!err) return resolve(stdout);
        const e = err as NodeJS.ErrnoException & { killed?: boolean; signal?: string | null };
        const what = e.killed ? `nft ${args.join(' ')} timed out after ${this.timeoutMs} ms` : `nft ${args.join(' ')} failed`;
        reject(new NftError(what, stderr || e.message, e.code ?? e.signal ?? null));
      });
    });
  }
}
