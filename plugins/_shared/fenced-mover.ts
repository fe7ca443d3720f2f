// The fenced, retried "move the address to me" loop the cloud VIP plugins share.
//
// Fencing: every transition of an instance starts a new generation and aborts the previous
// one's signal. A move belongs to the generation of the transition to master that asked for it;
// once a later transition of that instance arrives (to backup, fault, or even master again) the
// old move is stale: it stops before its next request and is never retried. Providers check the
// signal before every mutating call, so a stale move is never applied (a request already on
// the wire cannot be recalled, but it is aborted client-side and not repeated).
//
// The move runs detached from the event handler on purpose: the runtime hands a plugin one
// instance's events one at a time, each after the previous handler settled, so awaiting the
// move would hold back the very transition that must fence it.

import type { InstanceTransition, PluginContext, PluginLogger } from 'vigil/plugin';
import { backoffDelay, mayRetry, sleep } from './backoff.ts';
import type { RetryPolicy } from './retry-schema.ts';

/** An error that says whether trying again can help, and optionally how long to wait. */
export class MoveError extends Error {
  constructor(
    message: string,
    readonly retryable: boolean,
    readonly retryAfterMs?: number,
  ) {
    super(message);
  }
}

export interface MoveContext {
  /** Aborted when the move is fenced (a later transition) or the plugin stops. */
  signal: AbortSignal;
  /** 1 for the first attempt. */
  attempt: number;
}

/** What a provider does for one instance: make the address ours; resolve 'already' when it
 * already was (idempotence), 'moved' when it had to act. Throw MoveError (or anything:
 * treated as retryable) on failure; return early when ctx.signal is aborted. */
export type MoveFn = (ctx: MoveContext) => Promise<'moved' | 'already' | 'fenced'>;

export interface MoveOutcome {
  instance: string;
  seq: number;
  result: 'moved' | 'already' | 'fenced' | 'failed' | 'stopped';
  attempts: number;
}

/** A stand-in transition for an instance found Master when the plugin starts; seq 0 marks it
 * as older than any event the plugin will see, so the first real transition fences it. */
export function currentMaster(instance: string, vrid: number, ifname: string): InstanceTransition & { seq: number } {
  return { type: 'instance.transition', instance, vrid, interface: ifname, from: 'backup', to: 'master', reason: 'startup', priority: 0, seq: 0 };
}

export class FencedMover {
  private readonly current = new Map<string, { seq: number; abort: AbortController }>();
  private readonly running = new Set<Promise<MoveOutcome>>();

  constructor(
    private readonly opts: {
      log: PluginLogger;
      retry: RetryPolicy;
      /** The plugin's own signal: stopping the plugin stops every move. */
      signal: AbortSignal;
      /** Called with each finished move (tests, metrics). */
      onOutcome?: (o: MoveOutcome) => void;
    },
  ) {}

  /** Fences every earlier move of `e.instance`, then starts `move` if one is given. Returns at
   * once. */
  transition(e: InstanceTransition & { seq: number }, move: MoveFn | undefined): void {
    const prev = this.current.get(e.instance);
    if (prev) {
      prev.abort.abort(new Error(`superseded by event ${e.seq} (${e.from} -> ${e.to})`));
      this.current.delete(e.instance);
    }
    if (!move || this.opts.signal.aborted) return;
    const abort = new AbortController();
    const entry = { seq: e.seq, abort };
    this.current.set(e.instance, entry);
    const signal = AbortSignal.any([abort.signal, this.opts.signal]);
    const p = this.run(e.instance, e.seq, move, signal).then((o) => {
      if (this.current.get(e.instance) === entry) this.current.delete(e.instance);
      this.running.delete(p);
      this.opts.onOutcome?.(o);
      return o;
    });
    this.running.add(p);
  }

  /** The movers' one policy, wired to a plugin's events: move on becoming Master; move again
   * when a reassertion says a lower-priority Master was around (a healed partition: it may
   * have taken the address meanwhile); and, at start, move for instances already Master (a
   * plugin restarted after a failure sees no transition to master). Every other transition
   * fences what is in flight. */
  follow<T>(ctx: PluginContext<unknown>, instances: Readonly<Record<string, T>>, moveFor: (inst: T) => MoveFn): void {
    ctx.on('instance.transition', (e) => {
      const inst = instances[e.instance];
      if (inst) this.transition(e, e.to === 'master' ? moveFor(inst) : undefined);
    });
    ctx.on('instance.reasserted', (e) => {
      const inst = instances[e.instance];
      if (inst) this.transition({ ...currentMaster(e.instance, e.vrid, e.interface), seq: e.seq, reason: 'preempted' }, moveFor(inst));
    });
    for (const info of ctx.instances) {
      const inst = instances[info.name];
      if (inst && info.state === 'master') this.transition(currentMaster(info.name, info.vrid, info.interface), moveFor(inst));
    }
  }

  /** Resolves when every move started so far has finished (tests; stop). */
  async settled(): Promise<void> {
    while (this.running.size > 0) await Promise.all([...this.running]);
  }

  private async run(instance: string, seq: number, move: MoveFn, signal: AbortSignal): Promise<MoveOutcome> {
    const { log, retry } = this.opts;
    const abandoned = (attempts: number): MoveOutcome => {
      const stopping = this.opts.signal.aborted;
      log.info(`${instance}: move for event ${seq} not applied: ${stopping ? 'plugin stopping' : 'the instance left that master state'}`);
      return { instance, seq, result: stopping ? 'stopped' : 'fenced', attempts };
    };
    for (let attempt = 1; ; attempt++) {
      if (signal.aborted) return abandoned(attempt - 1);
      let waitMs: number;
      try {
        const r = await move({ signal, attempt });
        if (r === 'fenced' || signal.aborted) return abandoned(attempt);
        log.info(r === 'already' ? `${instance}: address already assigned to this node` : `${instance}: address moved to this node (attempt ${attempt})`);
        return { instance, seq, result: r, attempts: attempt };
      } catch (e) {
        if (signal.aborted) return abandoned(attempt);
        const err = e instanceof MoveError ? e : new MoveError(e instanceof Error ? e.message : String(e), true);
        if (!err.retryable) {
          log.error(`${instance}: move failed, not retrying: ${err.message}`);
          return { instance, seq, result: 'failed', attempts: attempt };
        }
        if (!mayRetry(retry, attempt)) {
          log.error(`${instance}: move failed after ${attempt} attempts: ${err.message}`);
          return { instance, seq, result: 'failed', attempts: attempt };
        }
        waitMs = err.retryAfterMs !== undefined ? Math.min(err.retryAfterMs, retry.max_retry_after_ms) : backoffDelay(retry, attempt);
        log.warn(`${instance}: move attempt ${attempt} failed (${err.message}); retrying in ${waitMs} ms`);
      }
      await sleep(waitMs, signal);
    }
  }
}
