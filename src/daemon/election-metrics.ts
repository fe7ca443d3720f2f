// Renewal outcomes of etcd-elected instances, counted for metrics and status: how often a
// renewal was answered, failed, or found the lease gone, and how long the answered ones took.

export interface RenewalCounts {
  ok: number;
  failed: number;
  lost: number;
  /** The slowest answered renewal since start, milliseconds. */
  maxMs: number;
  lastMs: number | null;
}

export class ElectionMetrics {
  private readonly byInstance = new Map<string, RenewalCounts>();

  renewal(instance: string, result: 'ok' | 'failed' | 'lost', ms: number): void {
    let c = this.byInstance.get(instance);
    if (!c) this.byInstance.set(instance, (c = { ok: 0, failed: 0, lost: 0, maxMs: 0, lastMs: null }));
    c[result]++;
    if (result === 'ok') {
      c.lastMs = Math.round(ms * 10) / 10;
      c.maxMs = Math.max(c.maxMs, c.lastMs);
    }
  }

  of(instance: string): RenewalCounts | undefined {
    const c = this.byInstance.get(instance);
    return c && { ...c };
  }
}
